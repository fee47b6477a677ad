"""`flask` commands for operators: users, demo data, keys, the room, proof of reserves."""
from __future__ import annotations

import click
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask, current_app
from flask.cli import AppGroup

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Role, User
from app.people import accounts, staff_setup

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data for `make run`.")
keys_cli = AppGroup("keys", help="Encryption keys for secrets at rest.")

DEMO_USERS = (
    ("buyer@demo.pokerpay", Role.USER),
    ("seller@demo.pokerpay", Role.USER),
    ("ops@demo.pokerpay", Role.OPS),
    ("admin@demo.pokerpay", Role.ADMIN),
)


@users_cli.command("create-admin")
@click.argument("email")
@click.password_option()
def create_admin(email: str, password: str) -> None:
    """Create an admin account (the first one is made this way)."""
    try:
        accounts.register(email, password, role=Role.ADMIN)
    except ValidationFailed as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    user = accounts.find_by_email(email)
    link = staff_setup.link(staff_setup.issue(user, actor=None, reason="first admin"))
    db.session.commit()
    click.echo(f"admin {email} created; sign in, then open this one-time link (valid for a day) to enable "
               f"two-factor authentication:\n  {link}")


@users_cli.command("setup-link")
@click.argument("email")
def setup_link(email: str) -> None:
    """Print a one-time 2FA setup link for a staff account (replaces any earlier link)."""
    user = accounts.find_by_email(email)
    if user is None:
        raise click.ClickException(f"no account {email}")
    try:
        token = staff_setup.issue(user, actor=None, reason="flask users setup-link")
    except ValidationFailed as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"one-time 2FA setup link for {user.email} (valid for a day; open it signed in as that account):")
    click.echo(f"  {staff_setup.link(token)}")


@users_cli.command("seed-demo")
def seed_demo() -> None:
    """Create the demo users and their data when the database has no users; print how to sign in."""
    password = current_app.config["DEMO_PASSWORD"]
    if not db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        for email, role in DEMO_USERS:
            accounts.register(email, password, role=role)
        from app import demo

        demo.seed()
        db.session.commit()
    elif accounts.find_by_email(DEMO_USERS[0][0]) is None:
        click.echo("database already has users; no demo data")
        return
    click.echo(f"Demo users (password for all: {password}):")
    links = {}
    for email, _role in DEMO_USERS:
        user = accounts.find_by_email(email)
        if user is not None and staff_setup.needs_link(user):
            # Staff enrol 2FA only through a one-time link; a fresh one at each start (each lasts a day).
            links[email] = staff_setup.link(staff_setup.issue(user, actor=None, reason="demo seed"))
    db.session.commit()
    for email, role in DEMO_USERS:
        note = f"\n         sign in, then open to enable 2FA: {links[email]}" if email in links else ""
        click.echo(f"  {role.value:6} {email}{note}")


@keys_cli.command("generate")
def generate_key() -> None:
    """Print a new Fernet key for ENCRYPTION_KEYS."""
    click.echo(Fernet.generate_key().decode())


@keys_cli.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first key of ENCRYPTION_KEYS."""
    from app.crypto import SecretUnreadable
    from app.market.payment_forms import rotate_all_keys

    try:
        count = rotate_all_keys()
    except SecretUnreadable as exc:
        db.session.rollback()
        raise click.ClickException(
            "a stored secret cannot be decrypted with the configured keys; nothing was changed "
            "(keep every old key in ENCRYPTION_KEYS, after the new one, until rotation has run)") from exc
    db.session.commit()
    click.echo(f"re-encrypted {count} secret(s) with the newest key; the older keys can now be removed")


@demo_cli.command("sandbox-accounts")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def sandbox_accounts(path: str) -> None:
    """Write the demo accounts the sandbox servers load at start (`python -m sandbox --accounts PATH`)."""
    import json

    from app import demo

    with open(path, "w", encoding="utf-8") as f:
        json.dump(demo.sandbox_accounts(), f, indent=2)


room_cli = AppGroup("room", help="The poker room feed and reconciliation.")


@room_cli.command("poll")
def room_poll() -> None:
    """Read the room feed once now (the scheduler does this every few seconds)."""
    from app.jobs.room import poll_room_feed_once

    click.echo(f"room poll: {poll_room_feed_once()}")


@room_cli.command("reconcile")
def room_reconcile() -> None:
    """Compare the ledger's room omnibus with the room's balance; exit 1 on a difference."""
    from app.jobs.room import connector
    from app.room import reconciliation

    run = reconciliation.reconcile(connector())
    db.session.commit()
    click.echo(f"ledger {run.ledger_balance} · room {run.room_balance} · in flight {run.in_flight} · "
               f"unmatched {run.unmatched} · difference {run.difference}" + (f" ({run.note})" if run.note else ""))
    if run.difference:
        raise SystemExit(1)


telegram_cli = AppGroup("telegram", help="The Telegram bot: how its updates arrive.")


@telegram_cli.command("set-webhook")
def telegram_set_webhook() -> None:
    """Point the bot's updates at PUBLIC_BASE_URL/telegram/webhook with TELEGRAM_WEBHOOK_SECRET (webhook mode)."""
    from flask import url_for

    from app.notifications import telegram_api

    config = current_app.config
    if config.get("TELEGRAM_UPDATES") != "webhook" or not config.get("TELEGRAM_WEBHOOK_SECRET"):
        raise click.ClickException("set TELEGRAM_UPDATES=webhook and TELEGRAM_WEBHOOK_SECRET first")
    with current_app.test_request_context():
        path = url_for("telegram_hook.webhook")
    url = config["PUBLIC_BASE_URL"].rstrip("/") + path
    try:
        telegram_api.call("setWebhook", {"url": url, "secret_token": config["TELEGRAM_WEBHOOK_SECRET"],
                                         "allowed_updates": ["message"]})
    except telegram_api.BotApiError as exc:
        raise click.ClickException(exc.description) from None
    click.echo(f"webhook set: {url}")


@telegram_cli.command("delete-webhook")
def telegram_delete_webhook() -> None:
    """Stop the webhook (polling mode needs this: getUpdates is refused while a webhook is set)."""
    from app.notifications import telegram_api

    try:
        telegram_api.call("deleteWebhook", {})
    except telegram_api.BotApiError as exc:
        raise click.ClickException(exc.description) from None
    click.echo("webhook deleted")


@telegram_cli.command("poll")
def telegram_poll() -> None:
    """Read the bot's updates once now (the scheduler does this every few seconds in polling mode)."""
    from app.jobs.telegram import poll_once

    click.echo(f"telegram poll: {poll_once()}")


def register(app: Flask) -> None:
    from app.reserves.cli import reserves_cli

    app.cli.add_command(reserves_cli)
    app.cli.add_command(telegram_cli)
    app.cli.add_command(room_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(keys_cli)
