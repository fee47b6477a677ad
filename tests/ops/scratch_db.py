"""Scratch PostgreSQL databases on the test server, for tests that must not touch the shared one."""
from __future__ import annotations

import sqlalchemy as sa


def _admin_engine(template_url: str) -> sa.Engine:
    return sa.create_engine(template_url, isolation_level="AUTOCOMMIT")


def create_scratch_database(template_url: str, name: str) -> str:
    """An empty PostgreSQL database ``name`` on the test server (dropped first if left over)."""
    engine = _admin_engine(template_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return sa.make_url(template_url).set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(template_url: str, name: str) -> None:
    engine = _admin_engine(template_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump/pg_restore understand it (no ``+driver``)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
