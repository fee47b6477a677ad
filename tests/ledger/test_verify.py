"""`flask ledger verify` and `flask ledger balances` (SQLite and PostgreSQL)."""
import pytest
import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.ledger import AccountKind
from app.ledger.accounts import get_or_create
from app.ledger.cli import register_cli


@pytest.fixture
def cli(app, runner):
    if "ledger" not in app.cli.commands:  # until create_app registers it
        register_cli(app)
    return lambda *args: runner.invoke(args=["ledger", *args])


@pytest.fixture
def busy_ledger(app_ctx):
    """A ledger with every kind of movement: posted, open, posted-in-part, voided and expired holds."""
    omnibus = ledger.platform_account(AccountKind.ROOM_OMNIBUS)
    fee = ledger.platform_account(AccountKind.FEE_REVENUE)
    a = get_or_create("test:a", AccountKind.WALLET)
    b = get_or_create("test:b", AccountKind.WALLET)
    ledger.transfer("in", omnibus, a, 50_000, "room_deposit")
    ledger.transfer("fee", a, fee, 1_250, "commission")
    open_hold = ledger.reserve("h1", a, b, 5_000, "purchase_hold")
    part = ledger.reserve("h2", a, b, 4_000, "purchase_hold")
    ledger.post_pending("h2:post", part.id, amount=2_500)
    void = ledger.reserve("h3", a, b, 1_000, "purchase_hold")
    ledger.void_pending("h3:void", void.id)
    gone = ledger.reserve("h4", a, b, 700, "purchase_hold")
    ledger.expire_pending("h4:expire", gone.id)
    db.session.commit()
    return {"a": a.id, "b": b.id, "open_hold": open_hold.id}


def _raw(sql: str, **params) -> None:
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_verify_passes_on_an_empty_ledger(app_ctx, cli):
    """Does verify exit 0 on a database with no ledger rows at all?"""
    result = cli("verify")
    assert result.exit_code == 0, result.output
    assert "ledger verify: 0 accounts, 0 transfers, 0 violations" in result.output


def test_verify_passes_on_a_healthy_ledger(busy_ledger, cli):
    """Does verify exit 0 and print the summary after every kind of movement?"""
    result = cli("verify")
    assert result.exit_code == 0, result.output
    assert "ledger verify: 4 accounts, 9 transfers, 0 violations" in result.output


def test_verify_fails_on_a_corrupted_cached_sum(busy_ledger, cli):
    """After a raw UPDATE of a cached sum, does verify exit 1 and name the account and the broken totals?"""
    _raw("UPDATE ledger_account SET credits_posted = credits_posted + 5 WHERE id = :id", id=busy_ledger["b"])
    result = cli("verify")
    assert result.exit_code == 1
    assert f"[cached_sums] account {busy_ledger['b']} (test:b)" in result.output
    assert "credits_posted cached 2505 ≠ 2500 from transfers" in result.output
    assert "[asset_totals] USD: debits posted" in result.output
    assert "2 violations" in result.output


def test_verify_fails_on_a_hold_marked_resolved_without_a_resolution(busy_ledger, cli):
    """If raw SQL marks an open hold posted without posting it, does verify catch the status and the sums?"""
    _raw("UPDATE ledger_transfer SET status = 'posted' WHERE id = :id", id=busy_ledger["open_hold"])
    result = cli("verify")
    assert result.exit_code == 1
    assert f"[pending_status] pending transfer {busy_ledger['open_hold']} (h1) has status posted and 0 resolutions" \
        in result.output
    assert "debits_pending cached 5000 ≠ 0 from transfers" in result.output


def test_verify_report_lists_each_violation(busy_ledger):
    """Does verify_ledger return a report whose violations name their check?"""
    assert ledger.verify_ledger().ok
    _raw("UPDATE ledger_account SET debits_pending = debits_pending + 1, credits_pending = credits_pending + 1"
         " WHERE id = :id", id=busy_ledger["b"])
    report = ledger.verify_ledger()
    assert not report.ok
    assert {v.check for v in report.violations} == {"cached_sums"}
    assert report.accounts == 4 and report.transfers == 9


def test_balances_prints_the_platform_accounts(busy_ledger, cli):
    """Does `flask ledger balances` list the platform accounts with their balances?"""
    result = cli("balances")
    assert result.exit_code == 0, result.output
    assert "platform:room_omnibus:USD" in result.output and "500.00 USD" in result.output
    assert "platform:fee_revenue:USD" in result.output and "12.50 USD" in result.output
    assert "test:a" not in result.output
