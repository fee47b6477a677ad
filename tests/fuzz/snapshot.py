"""A fingerprint of every table, to prove that a rejected request wrote nothing."""
from __future__ import annotations

import hashlib

import sqlalchemy as sa

from app.extensions import db


def snapshot(exclude: frozenset[str] = frozenset()) -> dict[str, tuple[int, str]]:
    """Per table: (row count, sha256 of every row in primary-key order).  Call inside an app context."""
    result = {}
    for table in db.metadata.sorted_tables:
        if table.name in exclude:
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        rows = db.session.execute(sa.select(table).order_by(*order)).all()
        digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
        result[table.name] = (len(rows), digest)
    db.session.rollback()
    return result


def changed(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
