"""Cash-out limits hold under concurrent requests; a repeated form acts once; the refusal names its reason.

Issue #18: 20 simultaneous cash-outs of $4,000 by a user with no limit of
their own sent $12,000 against the $5,000 daily limit, because what was sent
today was read before any lock (the per-user limit row, the only lock, does
not exist until ops set a limit).  Every limit is now read under the user's
row lock, which exists for every user.  The concurrency tests fire real
requests at once on PostgreSQL (SQLite serialises writers by design).
"""
import uuid

import pytest
import sqlalchemy as sa

from app import ledger
from app.core import settings
from app.extensions import db
from app.models import Role
from app.models.audit import AuditEvent
from app.models.room import CashOut
from app.people import user_limits
from app.room import room_accounts
from tests.concurrent_requests import post_at_once, signed_in_clients, statuses
from tests.helpers import gen_user

N = 20


def _postgres_only(database):
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")


def _cash_out_user(app, *, balance: int, own_limit: int | None = None, kyc: str = "verified",
                   email: str = "player@example.com") -> tuple[int, int]:
    """A user with ``balance`` cents, a verified room account and (optionally) a daily limit of their own."""
    with app.app_context():
        user = gen_user(email)
        user.kyc_status = kyc
        account = room_accounts.add_room_account(user, f"acct-{user.id}")
        room_accounts.mark_verified(account, by="ops")
        ledger.transfer(key=f"fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        credit=ledger.wallet_of(user.id), amount=balance, kind="room_deposit")
        if own_limit is not None:
            ops = gen_user(f"ops-{user.id}@example.com", role=Role.OPS)
            user_limits.set_limits(user, actor=ops, reason="test", deposit_daily_kopecks=None,
                                   cashout_daily_cents=own_limit)
        db.session.commit()
        return user.id, account.id


def _cash_outs(app, user_id: int) -> list[CashOut]:
    with app.app_context():
        return list(db.session.scalars(sa.select(CashOut).where(CashOut.user_id == user_id)))


def _wallet(app, user_id: int):
    with app.app_context():
        return ledger.balance(ledger.wallet_of(user_id))


def _fire(app, account_id: int, dollars: str, *, n: int = N, same_key: bool = False):
    clients, token = signed_in_clients(app, "player@example.com", n)
    key = uuid.uuid4().hex
    return post_at_once(clients, "/wallet/cash-outs", lambda _i: {
        "co-room_account": str(account_id), "co-amount": dollars, "csrf_token": token,
        "co-request_key": key if same_key else uuid.uuid4().hex})


def _text(response) -> str:
    """The page with the thousands separators of the Russian locale (no-break spaces) as plain spaces."""
    return response.get_data(as_text=True).replace("\xa0", " ").replace("\u202f", " ")


def _verify(app):
    with app.app_context():
        report = ledger.verify_ledger()
        assert report.ok, report.violations


def test_platform_daily_limit_holds_under_20_concurrent_cash_outs(app, database):
    """With no limit of their own, do 20 cash-outs of $4,000 at once get exactly one past the $5,000 limit?"""
    _postgres_only(database)
    user_id, account_id = _cash_out_user(app, balance=100_000_00)
    results = _fire(app, account_id, "4000")
    codes = statuses(results)
    assert sorted(codes) == [302] + [422] * (N - 1), f"{codes.count(302)} of {len(codes)} went through: {codes}"
    cash_outs = _cash_outs(app, user_id)
    assert [c.amount for c in cash_outs] == [4_000_00]
    assert _wallet(app, user_id).pending_debits == 4_000_00
    refused = _text(next(r for r in results if r.status_code == 422))
    assert "1 000,00" in refused  # what is left today, $5,000 - $4,000
    _verify(app)


def test_own_daily_limit_holds_under_20_concurrent_cash_outs(app, database):
    """With ops' limit of $10,000 a day, do 20 cash-outs of $4,000 at once send exactly two?"""
    _postgres_only(database)
    with app.app_context():
        settings.change_settings(actor=None, reason="test", cashout_daily_limit_cents=100_000_00)
        db.session.commit()
    user_id, account_id = _cash_out_user(app, balance=100_000_00, own_limit=10_000_00)
    codes = statuses(_fire(app, account_id, "4000"))
    assert sorted(codes) == [302] * 2 + [422] * (N - 2), f"{codes.count(302)} of {len(codes)} went through: {codes}"
    assert sum(c.amount for c in _cash_outs(app, user_id)) == 8_000_00
    _verify(app)


def test_balance_holds_under_20_concurrent_cash_outs_and_says_not_enough_dollars(app, database):
    """With $10,000 and a limit far above it, do 20 cash-outs of $4,000 hold exactly two, the rest told why?"""
    _postgres_only(database)
    with app.app_context():
        settings.change_settings(actor=None, reason="test", cashout_daily_limit_cents=1_000_000_00)
        db.session.commit()
    user_id, account_id = _cash_out_user(app, balance=10_000_00)
    results = _fire(app, account_id, "4000")
    codes = statuses(results)
    assert sorted(codes) == [302] * 2 + [422] * (N - 2), f"{codes.count(302)} of {len(codes)} went through: {codes}"
    assert sum(c.amount for c in _cash_outs(app, user_id)) == 8_000_00
    assert _wallet(app, user_id).available == 2_000_00
    refused = _text(next(r for r in results if r.status_code == 422))
    assert "Недостаточно долларов" in refused and "2 000,00" in refused
    _verify(app)


def test_same_request_key_four_times_at_once_makes_one_cash_out(app, database):
    """Four submissions of one form at the same instant: one cash-out, one hold, and every answer the redirect?"""
    _postgres_only(database)
    user_id, account_id = _cash_out_user(app, balance=100_00)
    results = _fire(app, account_id, "20", n=4, same_key=True)
    assert statuses(results) == [302] * 4
    assert {r.headers["Location"] for r in results} == {"/wallet/"}
    assert [c.amount for c in _cash_outs(app, user_id)] == [20_00]
    assert _wallet(app, user_id).pending_debits == 20_00
    _verify(app)


def test_same_request_key_twice_in_a_row_makes_one_cash_out(app):
    """A double click (the same form sent twice, one after the other): one cash-out, the same redirect?"""
    user_id, account_id = _cash_out_user(app, balance=100_00)
    client, token = signed_in_clients(app, "player@example.com", 1)
    key = uuid.uuid4().hex
    data = {"co-room_account": str(account_id), "co-amount": "20", "co-request_key": key, "csrf_token": token}
    results = [client[0].post("/wallet/cash-outs", data=data) for _ in range(2)]
    assert [r.status_code for r in results] == [302, 302]
    assert results[0].headers["Location"] == results[1].headers["Location"] == "/wallet/"
    assert [c.amount for c in _cash_outs(app, user_id)] == [20_00]
    assert _wallet(app, user_id).pending_debits == 20_00


def test_cash_out_above_the_balance_says_not_enough_dollars(app):
    """Issue #17: $60 asked with $50 in the wallet — does the message say not enough dollars, and how many?"""
    user_id, account_id = _cash_out_user(app, balance=50_00)
    client, token = signed_in_clients(app, "player@example.com", 1)
    response = client[0].post("/wallet/cash-outs", data={
        "co-room_account": str(account_id), "co-amount": "60", "co-request_key": uuid.uuid4().hex,
        "csrf_token": token})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Недостаточно долларов" in page and "50,00" in page
    assert "лимит" not in page.split('name="co-amount"', 1)[1].split("</form>", 1)[0]
    assert _cash_outs(app, user_id) == []


def test_over_the_daily_limit_still_says_the_limit(app):
    """When the balance would do but the day's limit would not, is it the limit that is named?"""
    user_id, account_id = _cash_out_user(app, balance=10_000_00)
    client, token = signed_in_clients(app, "player@example.com", 1)
    response = client[0].post("/wallet/cash-outs", data={
        "co-room_account": str(account_id), "co-amount": "6000", "co-request_key": uuid.uuid4().hex,
        "csrf_token": token})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "лимит" in page and "Недостаточно долларов" not in page
    assert _cash_outs(app, user_id) == []


# --- KYC: cash-outs above the ops threshold need a passed KYC -----------------------------------

def test_cash_out_above_the_kyc_threshold_needs_passed_kyc(app):
    """Without KYC, is $1,500 refused (saying why and what to do) while $500 goes, and after ops pass it, $1,500 too?"""
    user_id, account_id = _cash_out_user(app, balance=5_000_00, kyc="none")
    clients, token = signed_in_clients(app, "player@example.com", 1)
    client = clients[0]
    wallet_page = _text(client.get("/wallet/"))
    assert "KYC" in wallet_page and "1 000,00" in wallet_page

    def cash_out(dollars):
        return client.post("/wallet/cash-outs", data={
            "co-room_account": str(account_id), "co-amount": dollars, "co-request_key": uuid.uuid4().hex,
            "csrf_token": token})

    refused = cash_out("1500")
    assert refused.status_code == 422
    text = _text(refused)
    assert "KYC" in text and "1 000,00" in text and "поддержк" in text
    assert _cash_outs(app, user_id) == []
    assert cash_out("500").status_code == 302
    with app.app_context():
        from app.people import user_admin

        ops = gen_user("ops@example.com", role=Role.OPS)
        user_admin.review_kyc(user_id, "verified", actor=ops, note="passport checked")
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "admin.user.kyc_verified")) == 1
    assert "KYC" in client.get("/wallet/").get_data(as_text=True)
    assert cash_out("1500").status_code == 302
    assert sorted(c.amount for c in _cash_outs(app, user_id)) == [500_00, 1_500_00]


def test_the_kyc_threshold_is_an_ops_setting(app):
    """When ops raise the threshold to $2,000, does a $1,500 cash-out go without KYC?"""
    user_id, account_id = _cash_out_user(app, balance=5_000_00, kyc="none")
    with app.app_context():
        settings.change_settings(actor=None, reason="test", kyc_threshold_cents=2_000_00)
        db.session.commit()
    clients, token = signed_in_clients(app, "player@example.com", 1)
    response = clients[0].post("/wallet/cash-outs", data={
        "co-room_account": str(account_id), "co-amount": "1500", "co-request_key": uuid.uuid4().hex,
        "csrf_token": token})
    assert response.status_code == 302
    assert [c.amount for c in _cash_outs(app, user_id)] == [1_500_00]

