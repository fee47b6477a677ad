"""`flask ledger verify` and `flask ledger balances`."""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from app.extensions import db
from app.ledger.models import PLATFORM_KINDS, LedgerAccount
from app.ledger.postings import balance
from app.ledger.verify import verify_ledger
from app.money import format_number

ledger_cli = AppGroup("ledger", help="The double-entry ledger: checks and balances.")


@ledger_cli.command("verify")
@click.option("--limit", default=100, show_default=True, help="Violations listed per check at most.")
def verify_command(limit: int) -> None:
    """Recompute every balance from the transfers and check every invariant; exit 1 on any violation."""
    report = verify_ledger(limit=limit)
    for violation in report.violations:
        click.echo(str(violation), err=True)
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)


@ledger_cli.command("balances")
def balances_command() -> None:
    """Print the platform's accounts: posted balance, holds, available."""
    accounts = db.session.scalars(
        sa.select(LedgerAccount)
        .where(LedgerAccount.kind.in_([k.value for k in PLATFORM_KINDS]))
        .order_by(LedgerAccount.asset, LedgerAccount.code)
    ).all()
    if not accounts:
        click.echo("no platform accounts yet (they are created on first use)")
        return
    header = f"{'account':<36} {'posted':>18} {'pending debits':>18} {'pending credits':>18} {'available':>18}"
    click.echo(header)
    click.echo("-" * len(header))
    for account in accounts:
        b = balance(account.id)
        cells = [f"{'-' if v < 0 else ''}{format_number(v, 'en')} {account.asset}"
                 for v in (b.posted, b.pending_debits, b.pending_credits, b.available)]
        click.echo(f"{account.code:<36} " + " ".join(f"{c:>18}" for c in cells))
    db.session.rollback()


def register_cli(app: Flask) -> None:
    app.cli.add_command(ledger_cli)
