"""The database's own guarantees, with the Python layer bypassed by raw SQL (SQLite and PostgreSQL)."""
import pytest
import sqlalchemy as sa

from app import ledger
from app.database import utcnow
from app.extensions import db
from app.ledger import AccountKind
from app.ledger.accounts import get_or_create


@pytest.fixture
def book(app_ctx):
    """A funded wallet, an empty one, a posted transfer, an open hold and a posted hold; all committed."""
    omnibus = ledger.platform_account(AccountKind.ROOM_OMNIBUS)
    a = get_or_create("test:a", AccountKind.WALLET)
    b = get_or_create("test:b", AccountKind.WALLET)
    rub = get_or_create("test:rub", AccountKind.WALLET, asset="RUB")
    posted = ledger.transfer("fund", omnibus, a, 10_000, "room_deposit")
    hold = ledger.reserve("hold", a, b, 1_000, "purchase_hold")
    done = ledger.reserve("done", a, b, 500, "purchase_hold")
    ledger.post_pending("done:post", done.id)
    db.session.commit()
    return {"omnibus": omnibus.id, "a": a.id, "b": b.id, "rub": rub.id,
            "posted": posted.id, "hold": hold.id, "done": done.id}


def _raw(sql: str, **params) -> None:
    """Run one statement in its own transaction, outside the ORM session."""
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _insert_transfer(**overrides) -> None:
    row = {"key": "raw", "debit_account_id": None, "credit_account_id": None, "asset": "USD", "amount": 1,
           "kind": "raw", "phase": "single", "status": "posted", "pending_id": None, "created_at": utcnow()}
    row.update(overrides)
    if db.engine.dialect.name == "sqlite":
        row["created_at"] = row["created_at"].replace(tzinfo=None)
    _raw(
        "INSERT INTO ledger_transfer (key, debit_account_id, credit_account_id, asset, amount, kind, phase, status,"
        " pending_id, created_at) VALUES (:key, :debit_account_id, :credit_account_id, :asset, :amount, :kind,"
        " :phase, :status, :pending_id, :created_at)", **row,
    )


refused = pytest.raises(sa.exc.DatabaseError)


def test_a_posted_transfer_cannot_be_updated(book):
    """Does a raw UPDATE of a posted transfer's amount, accounts or status fail?"""
    for change in ("amount = 1", "status = 'voided'", "memo = 'rewritten'", f"credit_account_id = {book['b']}"):
        with refused:
            _raw(f"UPDATE ledger_transfer SET {change} WHERE id = :id", id=book["posted"])


def test_no_transfer_can_be_deleted(book):
    """Does a raw DELETE of any transfer fail?"""
    for name in ("posted", "hold", "done"):
        with refused:
            _raw("DELETE FROM ledger_transfer WHERE id = :id", id=book[name])


def test_an_open_hold_may_change_only_its_status_and_only_once(book):
    """Is the one allowed UPDATE an open hold's status (alone) to a resolved value, after which it is frozen?"""
    with refused:
        _raw("UPDATE ledger_transfer SET status = 'voided', amount = 2 WHERE id = :id", id=book["hold"])
    with refused:
        _raw("UPDATE ledger_transfer SET status = 'pending', memo = 'x' WHERE id = :id", id=book["hold"])
    _raw("UPDATE ledger_transfer SET status = 'voided' WHERE id = :id", id=book["hold"])
    with refused:
        _raw("UPDATE ledger_transfer SET status = 'posted' WHERE id = :id", id=book["hold"])


def test_a_wallet_cannot_go_below_zero(book):
    """Does the CHECK refuse cached sums that overdraw a limited account, pending debits included?"""
    with refused:
        _raw("UPDATE ledger_account SET debits_posted = credits_posted + 1 WHERE id = :id", id=book["a"])
    with refused:
        _raw("UPDATE ledger_account SET debits_pending = credits_posted WHERE id = :id", id=book["a"])
    with refused:
        _raw("UPDATE ledger_account SET credits_posted = debits_posted + 1 WHERE id = :id", id=book["omnibus"])
    with refused:
        _raw("UPDATE ledger_account SET debits_posted = -1 WHERE id = :id", id=book["b"])


def test_an_account_cannot_carry_both_limit_flags(book):
    """Is an account limited in both directions refused?"""
    empty = get_or_create("test:empty", AccountKind.WALLET).id
    with refused:
        _raw("UPDATE ledger_account SET credits_must_not_exceed_debits = :t WHERE id = :id", t=True, id=empty)


def test_amounts_must_be_positive(book):
    """Are a zero and a negative amount refused?"""
    for amount in (0, -5):
        with refused:
            _insert_transfer(key=f"raw{amount}", debit_account_id=book["a"], credit_account_id=book["b"],
                             amount=amount)


def test_debit_and_credit_must_differ(book):
    """Is a transfer from an account to itself refused?"""
    with refused:
        _insert_transfer(debit_account_id=book["a"], credit_account_id=book["a"])


def test_keys_are_unique(book):
    """Is a second transfer with a used key refused?"""
    _insert_transfer(key="fresh", debit_account_id=book["a"], credit_account_id=book["b"])  # the control
    with refused:
        _insert_transfer(key="fund", debit_account_id=book["a"], credit_account_id=book["b"])


def test_both_accounts_share_the_transfers_asset(book):
    """Are transfers touching an account of another asset refused (composite foreign keys)?"""
    with refused:
        _insert_transfer(debit_account_id=book["rub"], credit_account_id=book["b"])
    with refused:
        _insert_transfer(debit_account_id=book["rub"], credit_account_id=book["b"], asset="RUB")


def test_a_hold_resolves_at_most_once(book):
    """Is a second post/void of a resolved hold refused, and one that does not match an open hold too?"""
    resolution = {"debit_account_id": book["a"], "credit_account_id": book["b"], "kind": "purchase_hold"}
    with refused:  # the hold was posted already
        _insert_transfer(key="again", phase="void_pending", status="voided", pending_id=book["done"], amount=500,
                         **resolution)
    with refused:  # more than the hold
        _insert_transfer(key="more", phase="post_pending", status="posted", pending_id=book["hold"], amount=1_001,
                         **resolution)
    with refused:  # a void must release exactly the hold
        _insert_transfer(key="part-void", phase="void_pending", status="voided", pending_id=book["hold"],
                         amount=10, **resolution)
    with refused:  # other accounts
        _insert_transfer(key="other", phase="post_pending", status="posted", pending_id=book["hold"], amount=10,
                         debit_account_id=book["omnibus"], credit_account_id=book["b"], kind="x")
    with refused:  # a plain transfer is not a hold
        _insert_transfer(key="plain", phase="post_pending", status="posted", pending_id=book["posted"], amount=10,
                         debit_account_id=book["omnibus"], credit_account_id=book["a"], kind="x")
    with refused:  # a resolution needs its hold
        _insert_transfer(key="orphan", phase="post_pending", status="posted", amount=10, **resolution)


def test_status_fits_the_phase(book):
    """Are a plain transfer born pending and an unknown status refused?"""
    with refused:
        _insert_transfer(debit_account_id=book["a"], credit_account_id=book["b"], status="pending")
    with refused:
        _insert_transfer(debit_account_id=book["a"], credit_account_id=book["b"], phase="pending", status="odd")
