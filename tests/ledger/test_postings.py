"""The posting API: each operation, each error, idempotency, the sweeper (SQLite and PostgreSQL)."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import ledger
from app.database import utcnow
from app.extensions import db
from app.ledger import AccountKind, LedgerAccount, LedgerTransfer
from app.ledger.accounts import get_or_create
from tests.helpers import gen_user


def _count_transfers() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransfer))


def _funded_wallet(code: str, amount: int) -> LedgerAccount:
    wallet = get_or_create(code, AccountKind.WALLET)
    if amount:
        ledger.transfer(f"fund:{code}", ledger.platform_account(AccountKind.ROOM_OMNIBUS), wallet, amount,
                        ledger.TransferKind.ROOM_DEPOSIT)
    return wallet


@pytest.fixture
def accounts(app_ctx):
    """Two wallets (100.00 and empty), the room omnibus and fee revenue, committed."""
    a = _funded_wallet("test:a", 10_000)
    b = _funded_wallet("test:b", 0)
    db.session.commit()
    return {
        "a": a.id, "b": b.id,
        "omnibus": ledger.platform_account(AccountKind.ROOM_OMNIBUS).id,
        "fee": ledger.platform_account(AccountKind.FEE_REVENUE).id,
    }


# --- accounts --------------------------------------------------------------------------------------

def test_get_or_create_returns_one_account_per_code(app_ctx):
    """Do wallet_of and platform_account create an account once and return the same one after?"""
    user = gen_user()
    first = ledger.wallet_of(user.id)
    db.session.commit()
    assert ledger.wallet_of(user.id).id == first.id
    assert first.code == f"user:{user.id}:wallet:USD" and first.owner_id == user.id
    assert ledger.platform_account(AccountKind.FEE_REVENUE).id == ledger.platform_account("fee_revenue").id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerAccount)) == 2


def test_account_flags_follow_the_kind(app_ctx):
    """Are wallets and escrows credit-limited, the omnibus debit-limited and adjustments free?"""
    user = gen_user()
    wallet = ledger.wallet_of(user.id)
    escrow = ledger.escrow_of(7, user.id)
    omnibus = ledger.platform_account(AccountKind.ROOM_OMNIBUS)
    adjustments = ledger.platform_account(AccountKind.ADJUSTMENTS)
    assert wallet.debits_must_not_exceed_credits and not wallet.credits_must_not_exceed_debits
    assert escrow.debits_must_not_exceed_credits and escrow.code == "withdrawal:7:escrow:USD"
    assert omnibus.credits_must_not_exceed_debits and not omnibus.debits_must_not_exceed_credits
    assert not adjustments.debits_must_not_exceed_credits and not adjustments.credits_must_not_exceed_debits


def test_platform_account_refuses_a_user_kind(app_ctx):
    """Is asking for a 'platform wallet' a programming error rather than a new account?"""
    with pytest.raises(ValueError):
        ledger.platform_account(AccountKind.WALLET)


# --- transfer -------------------------------------------------------------------------------------

def test_transfer_moves_posted_sums_in_the_normal_direction(app_ctx, accounts):
    """Does a transfer debit one account and credit the other, with balances in each normal direction?"""
    t = ledger.transfer("t1", accounts["a"], accounts["b"], 2_500, "sale", memo="m", event="e1")
    db.session.commit()
    assert (t.phase, t.status, t.amount, t.asset, t.event) == ("single", "posted", 2_500, "USD", "e1")
    assert ledger.balance(accounts["a"]) == ledger.Balance(posted=7_500, pending_debits=0, pending_credits=0,
                                                           available=7_500)
    assert ledger.balance(accounts["b"]).posted == 2_500
    # The omnibus is debit-normal: it was debited when the wallets were funded.
    assert ledger.balance(accounts["omnibus"]).posted == 10_000


def test_objects_the_caller_holds_see_new_sums(app_ctx, accounts):
    """After a posting, does an account object already loaded show the new cached sums?"""
    a = db.session.get(LedgerAccount, accounts["a"])
    assert a.debits_posted == 0
    ledger.transfer("t1", a, accounts["b"], 100, "sale")
    assert a.debits_posted == 100 and a.version == 2


def test_returned_transfers_behave_like_session_objects(app_ctx, accounts):
    """Is a returned transfer reloaded after commit, and dropped by a rollback or a savepoint's rollback?"""
    first = ledger.transfer("t1", accounts["a"], accounts["b"], 100, "sale")
    assert first in db.session and first.id and first.status == "posted"
    db.session.rollback()
    assert first not in db.session
    again = ledger.transfer("t2", accounts["a"], accounts["b"], 200, "sale")  # SQLite may reuse the id
    db.session.commit()
    assert (again.key, again.amount, again.debit_account.id) == ("t2", 200, accounts["a"])
    savepoint = db.session.begin_nested()
    inner = ledger.transfer("t3", accounts["a"], accounts["b"], 300, "sale")
    savepoint.rollback()
    assert inner not in db.session and again in db.session
    db.session.commit()
    assert ledger.balance(accounts["b"]).posted == 200


def test_a_repeat_with_the_same_key_returns_the_first_transfer(app_ctx, accounts):
    """Does a retry with the same key and content return the first row and leave balances alone?"""
    first_id = ledger.transfer("k", accounts["a"], accounts["b"], 300, "sale").id
    db.session.commit()
    db.session.expunge_all()
    again = ledger.transfer("k", accounts["a"], accounts["b"], 300, "sale", memo="another memo")
    db.session.commit()
    assert again.id == first_id
    assert ledger.balance(accounts["b"]).posted == 300
    assert _count_transfers() == 2


def test_a_repeat_of_a_transfer_that_emptied_the_account_is_still_a_repeat(app_ctx, accounts):
    """Is a retry of the transfer that took the last cent answered with the first result, not 'insufficient'?"""
    first = ledger.transfer("all", accounts["a"], accounts["b"], 10_000, "sale")
    db.session.commit()
    assert ledger.transfer("all", accounts["a"], accounts["b"], 10_000, "sale").id == first.id


@pytest.mark.parametrize("change", [{"amount": 301}, {"credit": "fee"}, {"kind": "commission"}])
def test_the_same_key_with_other_content_is_a_conflict(app_ctx, accounts, change):
    """Does reusing a key for a different amount, account or kind raise IdempotencyConflict and write nothing?"""
    ledger.transfer("k", accounts["a"], accounts["b"], 300, "sale")
    db.session.commit()
    args = {"debit": accounts["a"], "credit": accounts["b"], "amount": 300, "kind": "sale"}
    args.update({k: accounts.get(v, v) if k == "credit" else v for k, v in change.items()})
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.transfer("k", **args)
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.reserve("k", accounts["a"], accounts["b"], 300, "sale")
    assert _count_transfers() == 2


def test_an_overdraft_is_refused_before_anything_is_written(app_ctx, accounts):
    """Does a wallet refuse to go below zero, leaving the transaction usable?"""
    with pytest.raises(ledger.InsufficientFunds) as caught:
        ledger.transfer("big", accounts["a"], accounts["b"], 10_001, "sale")
    assert caught.value.context["available"] == 10_000
    # Nothing was written, so the same transaction carries on.
    ledger.transfer("ok", accounts["a"], accounts["b"], 10_000, "sale")
    db.session.commit()
    assert ledger.balance(accounts["a"]).available == 0


def test_holds_count_against_the_limit(app_ctx, accounts):
    """Does a pending debit reduce what can still be spent?"""
    ledger.reserve("h", accounts["a"], accounts["b"], 6_000, "purchase_hold")
    with pytest.raises(ledger.InsufficientFunds):
        ledger.transfer("t", accounts["a"], accounts["fee"], 4_001, "commission")
    with pytest.raises(ledger.InsufficientFunds):
        ledger.reserve("h2", accounts["a"], accounts["fee"], 4_001, "commission")
    ledger.transfer("t", accounts["a"], accounts["fee"], 4_000, "commission")


def test_the_omnibus_cannot_pay_out_more_than_came_in(app_ctx, accounts):
    """Is a debit-normal account refused a credit beyond its debits (credits_must_not_exceed_debits)?"""
    in_flight = ledger.platform_account(AccountKind.CASHOUTS_IN_FLIGHT)
    ledger.transfer("in", accounts["a"], in_flight, 10_000, "cashout_hold")
    with pytest.raises(ledger.InsufficientFunds):
        ledger.transfer("adj", ledger.platform_account(AccountKind.ADJUSTMENTS), accounts["omnibus"], 10_001,
                        "adjustment")
    ledger.transfer("out", in_flight, accounts["omnibus"], 10_000, "cashout")
    assert ledger.balance(accounts["omnibus"]).posted == 0


def test_adjustments_may_go_either_way(app_ctx, accounts):
    """Can the adjustments account be debited and credited without a limit?"""
    adjustments = ledger.platform_account(AccountKind.ADJUSTMENTS)
    ledger.transfer("adj1", adjustments, accounts["b"], 500, "adjustment")
    assert ledger.balance(adjustments).posted == -500


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "10", 10**15 + 1])
def test_amounts_must_be_positive_whole_minor_units(app_ctx, accounts, amount):
    """Are zero, negatives, floats, booleans, strings and absurd sums refused as InvalidAmount?"""
    with pytest.raises(ledger.InvalidAmount):
        ledger.transfer("x", accounts["a"], accounts["b"], amount, "sale")
    with pytest.raises(ledger.InvalidAmount):
        ledger.reserve("x", accounts["a"], accounts["b"], amount, "sale")


def test_an_account_cannot_pay_itself(app_ctx, accounts):
    """Is debit = credit refused?"""
    with pytest.raises(ledger.SameAccount):
        ledger.transfer("x", accounts["a"], accounts["a"], 1, "sale")


def test_assets_never_mix(app_ctx, accounts):
    """Is a transfer between a USD and a RUB account refused?"""
    rub = get_or_create("test:rub", AccountKind.WALLET, asset="RUB")
    with pytest.raises(ledger.AssetMismatch):
        ledger.transfer("x", rub, accounts["b"], 1, "sale")


def test_unknown_accounts_are_refused(app_ctx, accounts):
    """Is an id that names no account an AccountNotFound?"""
    with pytest.raises(ledger.AccountNotFound):
        ledger.transfer("x", accounts["a"], 987_654, 1, "sale")
    with pytest.raises(ledger.AccountNotFound):
        ledger.balance(987_654)


def test_a_key_is_required(app_ctx, accounts):
    """Is a call without an idempotency key a programming error?"""
    for key in ("", None, "k" * 129):
        with pytest.raises(ValueError):
            ledger.transfer(key, accounts["a"], accounts["b"], 1, "sale")


def test_one_event_commits_or_rolls_back_as_a_whole(app_ctx, accounts):
    """Do several transfers of one business event vanish together on rollback?"""
    ledger.lock(accounts["a"], accounts["b"], accounts["fee"])
    ledger.transfer("ev:1", accounts["a"], accounts["b"], 1_000, "sale", event="ev")
    ledger.transfer("ev:2", accounts["b"], accounts["fee"], 50, "commission", event="ev")
    db.session.rollback()
    assert ledger.balance(accounts["b"]).posted == 0
    assert _count_transfers() == 1


# --- holds ----------------------------------------------------------------------------------------

def test_reserve_moves_pending_sums(app_ctx, accounts):
    """Does a hold show as pending on both sides and reduce only the debit side's availability?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold")
    db.session.commit()
    assert (hold.phase, hold.status) == ("pending", "pending")
    assert ledger.balance(accounts["a"]) == ledger.Balance(posted=10_000, pending_debits=3_000, pending_credits=0,
                                                           available=7_000)
    assert ledger.balance(accounts["b"]) == ledger.Balance(posted=0, pending_debits=0, pending_credits=3_000,
                                                           available=0)


def test_post_pending_in_full(app_ctx, accounts):
    """Does posting a hold move the whole amount and mark the hold posted?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold")
    post = ledger.post_pending("h:post", hold.id)
    db.session.commit()
    assert (post.phase, post.status, post.amount, post.pending_id, post.kind) == (
        "post_pending", "posted", 3_000, hold.id, "purchase_hold")
    assert hold.status == "posted"
    assert ledger.balance(accounts["a"]).available == 7_000
    assert ledger.balance(accounts["b"]).posted == 3_000
    assert ledger.balance(accounts["b"]).pending_credits == 0


def test_post_pending_in_part_releases_the_rest(app_ctx, accounts):
    """Does a partial post move only that amount and release the remainder?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold")
    ledger.post_pending("h:post", hold, amount=1_200)
    db.session.commit()
    assert ledger.balance(accounts["a"]) == ledger.Balance(posted=8_800, pending_debits=0, pending_credits=0,
                                                           available=8_800)
    assert ledger.balance(accounts["b"]).posted == 1_200


def test_post_more_than_the_hold_is_refused(app_ctx, accounts):
    """Is posting more than was held an InvalidAmount?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold")
    with pytest.raises(ledger.InvalidAmount):
        ledger.post_pending("h:post", hold.id, amount=3_001)
    with pytest.raises(ledger.InvalidAmount):
        ledger.post_pending("h:post", hold.id, amount=0)


def test_void_pending_releases_the_hold(app_ctx, accounts):
    """Does voiding a hold release it entirely and mark it voided?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold")
    void = ledger.void_pending("h:void", hold.id)
    db.session.commit()
    assert (void.phase, void.status, void.amount) == ("void_pending", "voided", 3_000)
    assert db.session.get(LedgerTransfer, hold.id).status == "voided"
    assert ledger.balance(accounts["a"]) == ledger.Balance(posted=10_000, pending_debits=0, pending_credits=0,
                                                           available=10_000)
    assert ledger.balance(accounts["b"]).pending_credits == 0


def test_a_hold_resolves_at_most_once(app_ctx, accounts):
    """After a post, are a void and a second post (other keys) refused with AlreadyResolved?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold")
    ledger.post_pending("h:post", hold.id)
    db.session.commit()
    with pytest.raises(ledger.AlreadyResolved):
        ledger.void_pending("h:void", hold.id)
    with pytest.raises(ledger.AlreadyResolved):
        ledger.post_pending("h:post-again", hold.id)
    other = ledger.reserve("h2", accounts["a"], accounts["b"], 1_000, "purchase_hold")
    ledger.void_pending("h2:void", other.id)
    with pytest.raises(ledger.AlreadyResolved):
        ledger.post_pending("h2:post", other.id)


def test_a_repeated_resolution_returns_the_first(app_ctx, accounts):
    """Is a retried post (same key) answered with the first post, and the same key for other content a conflict?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold")
    hold_id, post_id = hold.id, ledger.post_pending("h:post", hold.id, amount=2_000).id
    db.session.commit()
    db.session.expunge_all()
    assert ledger.post_pending("h:post", hold_id, amount=2_000).id == post_id
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post_pending("h:post", hold_id)  # the full amount this time
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.void_pending("h:post", hold_id)
    assert ledger.balance(accounts["b"]).posted == 2_000


def test_an_expired_hold_cannot_be_posted_but_can_be_voided(app_ctx, accounts):
    """Is posting after timeout_at refused with PendingExpired, while a void still works?"""
    hold = ledger.reserve("h", accounts["a"], accounts["b"], 3_000, "purchase_hold",
                          timeout_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(ledger.PendingExpired):
        ledger.post_pending("h:post", hold.id)
    ledger.void_pending("h:void", hold.id)
    assert ledger.balance(accounts["a"]).available == 10_000


def test_only_holds_can_be_resolved(app_ctx, accounts):
    """Are post/void of a plain transfer or an unknown id refused with PendingNotFound?"""
    plain = ledger.transfer("t", accounts["a"], accounts["b"], 100, "sale")
    with pytest.raises(ledger.PendingNotFound):
        ledger.post_pending("p", plain.id)
    with pytest.raises(ledger.PendingNotFound):
        ledger.void_pending("v", 987_654)


def test_naive_timeouts_are_refused(app_ctx, accounts):
    """Is a timezone-less timeout_at a programming error?"""
    with pytest.raises(ValueError):
        ledger.reserve("h", accounts["a"], accounts["b"], 1, "x", timeout_at=utcnow().replace(tzinfo=None))


# --- the sweeper ----------------------------------------------------------------------------------

def test_the_sweeper_voids_only_expired_open_holds(app_ctx, accounts):
    """Does the sweeper void expired open holds (status expired), skip the rest, and do nothing on a rerun?"""
    now = utcnow()
    expired = ledger.reserve("h1", accounts["a"], accounts["b"], 1_000, "purchase_hold",
                             timeout_at=now - timedelta(minutes=1))
    live = ledger.reserve("h2", accounts["a"], accounts["b"], 1_000, "purchase_hold",
                          timeout_at=now + timedelta(minutes=10))
    no_timeout = ledger.reserve("h3", accounts["a"], accounts["b"], 1_000, "purchase_hold")
    resolved = ledger.reserve("h4", accounts["a"], accounts["b"], 1_000, "purchase_hold",
                              timeout_at=now - timedelta(minutes=1))
    ledger.void_pending("h4:void", resolved.id)
    db.session.commit()
    ids = {"expired": expired.id, "live": live.id, "none": no_timeout.id, "resolved": resolved.id}

    assert ledger.void_expired_holds(now=now) == 1
    statuses = {name: db.session.get(LedgerTransfer, i).status for name, i in ids.items()}
    assert statuses == {"expired": "expired", "live": "pending", "none": "pending", "resolved": "voided"}
    assert ledger.balance(accounts["a"]).pending_debits == 2_000
    assert ledger.void_expired_holds(now=now) == 0
    assert ledger.void_expired_holds(now=now + timedelta(minutes=11)) == 1
    assert ledger.verify_ledger().ok


def test_errors_carry_a_user_safe_message(app):
    """Does every ledger error have a plain message a person can read?"""
    with app.test_request_context():
        for error in (ledger.InsufficientFunds, ledger.AlreadyResolved, ledger.IdempotencyConflict,
                      ledger.PendingExpired, ledger.InvalidAmount, ledger.AssetMismatch, ledger.AccountNotFound,
                      ledger.SameAccount, ledger.PendingNotFound):
            message = str(error(account_id=1))
            assert message and "_" not in message and "{" not in message
            assert issubclass(error, ledger.LedgerError)


def test_transfer_many_keeps_transfers_guarantees(accounts):
    """A batch: ordered limit checks, nothing written on refusal, keys replayed, conflicts refused."""
    from app.ledger.postings import Posting, transfer_many

    a, b = accounts["a"], accounts["b"]
    before = _count_transfers()
    # b is empty: crediting it first makes the debit after it possible, in this order only
    ids = transfer_many([Posting("many:1", a, b, 6_000, "test"), Posting("many:2", b, a, 5_000, "test")])
    assert len(set(ids)) == 2 and _count_transfers() == before + 2
    assert ledger.balance(a).available == 9_000 and ledger.balance(b).available == 1_000
    with pytest.raises(ledger.InsufficientFunds):
        transfer_many([Posting("many:3", b, a, 500, "test"), Posting("many:4", b, a, 600, "test")])
    assert _count_transfers() == before + 2
    assert transfer_many([Posting("many:1", a, b, 6_000, "test")]) == ids[:1]  # a retry: the same transfer
    with pytest.raises(ledger.IdempotencyConflict):
        transfer_many([Posting("many:1", a, b, 7_000, "test")])
    assert ledger.verify_ledger().ok


def test_reserve_many_keeps_reserves_guarantees(accounts):
    """Holds in a batch: does each take its room at once (a hold crediting an account gives it nothing to spend),
    is nothing written on a refusal, is a retry answered with the same holds even with the room used up, and
    are a conflicting key and a naive timeout refused?"""
    from app.ledger import Hold

    a, b = accounts["a"], accounts["b"]  # a holds 100.00, b nothing
    later = utcnow() + timedelta(hours=1)
    before = _count_transfers()
    with pytest.raises(ledger.InsufficientFunds):
        ledger.reserve_many([Hold("holds:1", a, b, 6_000, "test"), Hold("holds:2", a, b, 5_000, "test")])
    with pytest.raises(ledger.InsufficientFunds):
        ledger.reserve_many([Hold("holds:1", a, b, 6_000, "test"), Hold("holds:3", b, a, 1, "test")])
    assert _count_transfers() == before
    ids = ledger.reserve_many([Hold("holds:1", a, b, 6_000, "test", timeout_at=later),
                               Hold("holds:2", a, b, 4_000, "test", timeout_at=later)])
    assert len(set(ids)) == 2 and _count_transfers() == before + 2
    assert ledger.balance(a) == ledger.Balance(posted=10_000, pending_debits=10_000, pending_credits=0, available=0)
    assert ledger.balance(b) == ledger.Balance(posted=0, pending_debits=0, pending_credits=10_000, available=0)
    held = db.session.get(LedgerTransfer, ids[0])
    assert (held.phase, held.status, held.timeout_at) == ("pending", "pending", later)
    assert ledger.reserve_many([Hold("holds:2", a, b, 4_000, "test", timeout_at=later)]) == ids[1:]  # a retry
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.reserve_many([Hold("holds:1", a, b, 5_000, "test")])
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.reserve_many([Hold("holds:4", a, b, 1, "test", timeout_at=later.replace(tzinfo=None))])
    assert _count_transfers() == before + 2
    ledger.post_pending("holds:1:post", ids[0])
    ledger.void_pending("holds:2:void", ids[1])
    assert ledger.balance(a).available == 4_000 and ledger.balance(b).available == 6_000
    assert ledger.verify_ledger().ok


def test_balances_of_owner_reads_every_owned_account_as_balance_does(app_ctx, accounts):
    """One statement gives each of a user's accounts (wallet, sale escrows) the balance ``balance()`` gives,
    holds counted; nobody else's accounts are in it."""
    user, other = gen_user("owner@example.com"), gen_user("other@example.com")
    omnibus = accounts["omnibus"]
    wallet = ledger.wallet_of(user.id)
    ledger.transfer("fund:owner", omnibus, wallet, 50_00, ledger.TransferKind.ROOM_DEPOSIT)
    escrow = ledger.escrow_of(7, user.id)
    ledger.transfer("sell:owner", wallet, escrow, 20_00, ledger.TransferKind.ROOM_DEPOSIT)
    ledger.reserve("hold:owner", escrow, accounts["a"], 5_00, ledger.TransferKind.ROOM_DEPOSIT)
    ledger.wallet_of(other.id)
    db.session.commit()

    owned = ledger.balances_of_owner(user.id)
    assert [a.id for a in owned] == sorted([wallet.id, escrow.id])
    for account in owned:
        assert account.balance == ledger.balance(account.id)
    by_id = {a.id: a for a in owned}
    assert by_id[escrow.id].balance.posted == 20_00 and by_id[escrow.id].balance.available == 15_00
    assert by_id[wallet.id].kind == AccountKind.WALLET.value and by_id[wallet.id].balance.available == 30_00
