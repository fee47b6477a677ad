"""The documented backup procedure: pg_dump -Fc, restore into a fresh database, `flask ledger verify`."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.helpers import gen_user
from tests.ops.scratch_db import create_scratch_database, drop_scratch_database, libpq_url

RESTORE_DB = "pokerpay_restore_test"


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        with db.engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
            return {t: connection.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def make_ledger_activity(app) -> None:
    """A deposit credited from the room, a commission, and an open cash-out hold."""
    from app import ledger

    with app.app_context():
        user = gen_user("seller@example.com")
        wallet = ledger.wallet_of(user.id)
        omnibus = ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS)
        ledger.transfer(key="backup-test:deposit", debit=omnibus, credit=wallet, amount=10_000,
                        kind=ledger.TransferKind.ROOM_DEPOSIT, memo="backup test")
        ledger.transfer(key="backup-test:commission", debit=wallet,
                        credit=ledger.platform_account(ledger.AccountKind.FEE_REVENUE), amount=150,
                        kind=ledger.TransferKind.COMMISSION)
        ledger.reserve(key="backup-test:cash-out", debit=wallet,
                       credit=ledger.platform_account(ledger.AccountKind.CASHOUTS_IN_FLIGHT), amount=2_000,
                       kind=ledger.TransferKind.CASHOUT_HOLD)
        db.session.commit()


def test_dump_restores_into_a_fresh_database_that_verifies(database, app, make_app, tmp_path):
    """Does a pg_dump -Fc of a database with ledger activity restore into a fresh database that passes
    `flask ledger verify`, sits at the migrations' head and holds the same rows?"""
    if database.kind != "postgresql":
        pytest.skip("pg_dump/pg_restore back up PostgreSQL; SQLite is the development default only")
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed")
    try:
        from app import ledger

        ledger.verify_ledger, ledger.transfer, ledger.reserve  # noqa: B018 - the API this test uses
    except (ImportError, AttributeError):
        pytest.skip("app.ledger (verify_ledger, transfer, reserve) is not part of this build yet")
    from app.observability import doctor

    make_ledger_activity(app)
    source_counts = row_counts(app)
    assert source_counts["ledger_transfer"] == 3

    dump = tmp_path / "pokerpay.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", libpq_url(database.template_url)],
                   check=True, capture_output=True, timeout=60)
    restore_url = create_scratch_database(database.template_url, RESTORE_DB)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(restore_url)}",
                        str(dump)], check=True, capture_output=True, timeout=60)
        restored = make_app(SQLALCHEMY_DATABASE_URI=restore_url)
        result = restored.test_cli_runner().invoke(args=["ledger", "verify"])
        assert result.exit_code == 0, result.output
        assert row_counts(restored) == source_counts
        with restored.app_context():
            assert doctor.check_migrations(restored).status == "OK"  # `flask db upgrade` has nothing to do
            # The restored database keeps its guarantees: posted transfers cannot be rewritten.
            with pytest.raises(sa.exc.DBAPIError):
                with db.engine.begin() as connection:
                    connection.execute(sa.text("UPDATE ledger_transfer SET amount = amount + 1"))
            db.engine.dispose()
    finally:
        drop_scratch_database(database.template_url, RESTORE_DB)
