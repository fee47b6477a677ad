"""`flask reserves publish`: take, sign and store a proof-of-reserves snapshot."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.connectors.room.base import RoomError
from app.connectors.room.registry import room_connector_from_config
from app.errors import DomainError
from app.extensions import db
from app.money import AmountError, format_number, parse_amount
from app.people import accounts
from app.reserves import snapshots

reserves_cli = AppGroup("reserves", help="Proof of reserves: publish signed snapshots of what users are owed.")


def _typed_balance(text: str) -> int:
    if text.strip().strip("0").strip(".,") == "":
        return 0  # "0", "0.00": an empty room account is a balance too (parse_amount refuses zero)
    try:
        return parse_amount(text, max_minor=10**17)
    except AmountError as exc:
        raise click.BadParameter(str(exc), param_hint="--room-balance") from exc


def _room_balance(typed: str | None) -> tuple[int, str]:
    """The room balance now, and where it came from: the room connector, or the ops member's figure."""
    room = room_connector_from_config(current_app.config)
    if room is None:
        if typed is None:
            raise click.UsageError("this room connector cannot read the balance: pass --room-balance with the "
                                   "platform account's balance as the room's cashier shows it")
        return _typed_balance(typed), "entered_by_ops"
    if typed is not None:
        raise click.UsageError("the room balance is read from the room; --room-balance is only for the "
                               "statement and manual connectors")
    try:
        return room.balance(), "room_api"
    except RoomError as exc:
        raise click.ClickException(f"the room's balance cannot be read now ({type(exc).__name__}); nothing "
                                   "was published") from exc


def _dollars(cents: int) -> str:
    return f"{format_number(cents, 'en')} USD"


@reserves_cli.command("publish")
@click.option("--by", "by_email", required=True, help="E-mail of the ops member or admin who publishes it.")
@click.option("--room-balance", default=None,
              help="Dollars on the platform's room account, only for connectors that cannot read it.")
def publish_command(by_email: str, room_balance: str | None) -> None:
    """Snapshot every user's dollars as a Merkle sum tree, with the room balance, signed; print the root."""
    actor = accounts.find_by_email(by_email)
    if actor is None:
        raise click.ClickException(f"no account {by_email}")
    balance, source = _room_balance(room_balance)
    try:
        snapshot = snapshots.publish(actor, room_balance=balance, room_balance_source=source,
                                    config=current_app.config)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"snapshot {snapshot.id} published at {snapshot.taken_at_text} by {actor.email}")
    click.echo(f"  root        {snapshot.root_hash}")
    click.echo(f"  liabilities {_dollars(snapshot.total_liabilities)} over {snapshot.leaf_count} user(s)")
    click.echo(f"  room        {_dollars(snapshot.room_balance)} ({source})")
    click.echo(f"  public key  {snapshot.public_key}")
    if not snapshot.covered:
        click.echo(f"WARNING: liabilities exceed the room balance by {_dollars(snapshot.shortfall)}; the public "
                   "page shows it", err=True)
