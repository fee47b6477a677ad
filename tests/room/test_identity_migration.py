"""Migration 0013_room_identity: the lower-cased identifiers stored so far get the room's own spelling back."""
from datetime import UTC, datetime

import sqlalchemy as sa

from app.extensions import db

_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

#: (identifier as the old code stored it, status, verification amount, verified by, credited senders (name, amount))
_BEFORE = {
    "squat": ("squat.0002", "verified", 123, "transfer", [("Squat.0002", 123), ("Squat.0002", 50_00)]),
    "atk": ("atk.buyer1", "verified", 222, "transfer", [("atk.buyer1", 222), ("ATK.BUYER1", 90_00)]),
    "fish": ("fish42", "verified", 333, "ops", []),
    "shark": ("shark", "verified", 444, "ops", [("Shark", 10_00)]),
    "mail": ("seller@mail.example", "verified", 555, "ops", []),
    "digits": ("123456", "verified", 666, "ops", []),
    "wait": ("pending.one", "pending", 777, None, []),
}


def _seed(connection) -> None:
    for n, (name, (identifier, status, amount, by, credited)) in enumerate(_BEFORE.items(), start=1):
        connection.execute(sa.text(
            'INSERT INTO "user" (id, email, password_hash, role, locale, session_token, totp_enabled, kyc_status,'
            " is_frozen, created_at) VALUES (:id, :email, 'x', 'user', 'ru', :token, false, 'none', false, :now)"),
            {"id": n, "email": f"{name}@example.com", "token": f"t{n}", "now": _NOW})
        connection.execute(sa.text(
            "INSERT INTO room_account (id, user_id, identifier, status, verification_amount, verified_by, verified_at,"
            " created_at) VALUES (:id, :id, :identifier, :status, :amount, :by, :at, :now)"),
            {"id": n, "identifier": identifier, "status": status, "amount": amount, "by": by,
             "at": _NOW if by else None, "now": _NOW})
        for i, (sender, cents) in enumerate(credited):
            connection.execute(sa.text(
                "INSERT INTO room_transfer (room_transfer_id, direction, counterparty, amount, occurred_at, source,"
                " status, user_id, created_at) VALUES (:rid, 'in', :sender, :cents, :at, 'sandbox', 'credited',"
                " :user, :now)"),
                {"rid": f"rt-{n}-{i}", "sender": sender, "cents": cents, "at": _NOW.replace(minute=i), "user": n,
                 "now": _NOW})


def test_migration_restores_the_rooms_spelling(app, app_factory, scratch_url):
    """After 0013, is each account spelled as the room showed it, and is an unprovable nickname re-verified?"""
    from flask_migrate import downgrade, upgrade

    scratch = app_factory(SQLALCHEMY_DATABASE_URI=scratch_url, ROOM_CONNECTOR="manual")
    with scratch.app_context():
        upgrade(revision="0011_matching_batches")
        with db.engine.begin() as connection:
            _seed(connection)
        upgrade(revision="0013_room_identity")
        with db.engine.connect() as connection:
            rows = {r.id: r for r in connection.execute(sa.text(
                "SELECT id, identifier, identifier_key, status, verification_amount, verification_expires_at"
                " FROM room_account"))}
        got = {name: (rows[n].identifier, rows[n].identifier_key, rows[n].status)
               for n, name in enumerate(_BEFORE, start=1)}
        assert got == {
            "squat": ("Squat.0002", "Squat.0002", "verified"),  # the sender of its verification transfer
            "atk": ("atk.buyer1", "atk.buyer1", "verified"),  # the verifying sender, not the other account
            "fish": ("fish42", "fish42", "pending"),  # no record of its spelling: proved again
            "shark": ("Shark", "Shark", "verified"),  # the one spelling ever credited to its owner
            "mail": ("seller@mail.example", "seller@mail.example", "verified"),  # e-mails ignore case
            "digits": ("123456", "123456", "verified"),  # no letters, no case to get wrong
            "wait": ("pending.one", "pending.one", "pending"),
        }
        for name in ("fish", "wait"):
            assert rows[list(_BEFORE).index(name) + 1].verification_expires_at is not None
        downgrade(revision="0011_matching_batches")  # and back: one lower-cased identifier per account
        with db.engine.connect() as connection:
            back = set(connection.execute(sa.text("SELECT identifier FROM room_account")).scalars())
        assert back == {"squat.0002", "atk.buyer1", "fish42", "shark", "seller@mail.example", "123456",
                        "pending.one"}
        db.engine.dispose()
