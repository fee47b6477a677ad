"""`flask` commands for operators: users, demo data, keys."""
from __future__ import annotations

import click
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask, current_app
from flask.cli import AppGroup

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Role, User
from app.services import accounts

users_cli = AppGroup("users", help="Manage user accounts.")
keys_cli = AppGroup("keys", help="Encryption keys for secrets at rest.")

DEMO_USERS = (
    ("buyer@demo.pokerpay", Role.USER),
    ("seller@demo.pokerpay", Role.USER),
    ("ops@demo.pokerpay", Role.ADMIN),
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
    db.session.commit()
    click.echo(f"admin {email} created; sign in and enable two-factor authentication")


@users_cli.command("seed-demo")
def seed_demo() -> None:
    """Create the demo buyer, seller and ops users when the database has no users."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        click.echo("database already has users; demo data not added")
        return
    password = current_app.config["DEMO_PASSWORD"]
    for email, role in DEMO_USERS:
        accounts.register(email, password, role=role)
    from app import demo

    demo.seed()
    db.session.commit()
    click.echo("Demo users (password for all: %s):" % password)
    for email, role in DEMO_USERS:
        click.echo(f"  {role.value:6} {email}")


@keys_cli.command("generate")
def generate_key() -> None:
    """Print a new Fernet key for ENCRYPTION_KEYS."""
    click.echo(Fernet.generate_key().decode())


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(keys_cli)
