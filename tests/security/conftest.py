"""A small world for the security suite: one user owning one of every object, another user, staff.

Users are made without argon2 (``quick_user``) and signed in by writing Flask-Login's
session (``sign_in``): the login form itself has its own tests (test_sessions.py).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pyotp
import pytest

from app import crypto, ledger
from app.core.settings import current_settings
from app.extensions import db
from app.market import matching, quotes, withdrawals
from app.models import Role, User
from app.room import room_accounts
from tests.provider_sandbox import (  # noqa: F401  (fixtures)
    add_form,
    provider_sandbox,
    providers,
    quick_user,
    sandbox_config,
    seller_app,
)

#: email of each actor of the access matrix
EMAILS = {
    "user": "owner@example.com", "other": "other@example.com", "ops_no_totp": "ops-plain@example.com",
    "ops": "ops@example.com", "admin": "admin@example.com",
}
ROLES = {"ops_no_totp": Role.OPS, "ops": Role.OPS, "admin": Role.ADMIN}
WITH_TOTP = {"ops", "admin"}


@dataclass
class World:
    users: dict[str, int] = field(default_factory=dict)
    #: URL placeholders → ids of objects owned by ``user``
    objects: dict[str, object] = field(default_factory=dict)
    #: credentials given to the API forms (for the secret scans)
    secrets: list[str] = field(default_factory=list)


def fund(user_id: int, cents: int) -> None:
    ledger.transfer(
        key=f"test-fund:{uuid.uuid4().hex}", debit=ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
        credit=ledger.wallet_of(user_id), amount=cents, kind=ledger.TransferKind.ROOM_DEPOSIT,
    )


def build_world(app, providers) -> World:  # noqa: F811
    world = World()
    with app.app_context(), app.test_request_context():
        for actor, email in EMAILS.items():
            user = quick_user(email)
            if actor in ROLES:
                user.role = ROLES[actor].value
            if actor in WITH_TOTP:
                user.totp_secret_encrypted = crypto.encrypt(pyotp.random_base32())
                user.totp_enabled = True
            db.session.commit()
            world.users[actor] = user.id
        owner = db.session.get(User, world.users["user"])
        _, form, credentials = add_form(providers, "tbank", owner.email)
        _, spare, spare_credentials = add_form(providers, "yoomoney", owner.email)
        world.secrets += [v for v in (*credentials.values(), *spare_credentials.values()) if len(v) >= 8]
        fund(owner.id, 500_00)
        request = withdrawals.create(owner, payment_form_id=form.id, amount=200_00, min_invoice_kopecks=100_00,
                                     max_invoice_kopecks=10_000_00, max_open_invoices=3,
                                     request_key=uuid.uuid4().hex)
        account = room_accounts.add_room_account(owner, "owner-nick")
        room_accounts.mark_verified(account, by="test")
        deposit = matching.create_deposit(owner, quotes.quote("tbank", 1000_00, current_settings()),
                                          uuid.uuid4().hex)
        db.session.commit()
        world.objects.update(deposit=deposit.id, request=request.id, form=form.id, spare_form=spare.id,
                             hook_token=form.hook_token, room_account=account.id, notification=_notification(owner),
                             reserve_leaf=_reserve_leaf(app, owner, db.session.get(User, world.users["ops"])),
                             split=_split(owner))
        db.session.commit()
        world.objects.update(_dispute(owner))
        db.session.commit()
    return world


def _reserve_leaf(app, owner, ops) -> int:
    """The owner's leaf in a published proof-of-reserves snapshot (its proof is the owner's object)."""
    import sqlalchemy as sa

    from app.models.reserves import ReserveLeaf
    from app.reserves import snapshots

    snapshot = snapshots.publish(ops, room_balance=500_00, room_balance_source="entered_by_ops", config=app.config)
    return db.session.scalar(sa.select(ReserveLeaf.id).where(ReserveLeaf.snapshot_id == snapshot.id,
                                                             ReserveLeaf.user_id == owner.id))


def _split(owner) -> int:
    """A split purchase of the owner's (its page is the owner's alone): the grouping rows over two deposits."""
    from app.models.split import SplitPart, SplitPurchase

    parts = [matching.create_deposit(owner, quotes.quote("tbank", 500_00, current_settings()), uuid.uuid4().hex)
             for _ in range(2)]
    split = SplitPurchase(buyer_id=owner.id, kind="tbank", amount_kopecks=1000_00, parts=2,
                          request_key=uuid.uuid4().hex)
    db.session.add(split)
    db.session.flush()
    db.session.add_all([SplitPart(split_id=split.id, part=n, deposit_id=d.id) for n, d in enumerate(parts, 1)])
    db.session.commit()
    return split.id


def _dispute(owner) -> dict:
    """A disputed purchase of the owner's with a receipt in its thread (the case made as a dispute makes it)."""
    import sqlalchemy as sa

    from app.market import dispute_threads
    from app.models.market import Deposit
    from tests.market.dispute_world import png_bytes

    deposit = matching.create_deposit(owner, quotes.quote("tbank", 500_00, current_settings()), uuid.uuid4().hex)
    db.session.execute(sa.update(Deposit).where(Deposit.id == deposit.id).values(status="disputed"))
    case = dispute_threads.open_case(db.session.get(Deposit, deposit.id), buyer_note="paid by SBP")
    dispute_threads.post(case, author=owner, role="buyer", body="my receipt", upload=png_bytes(),
                         request_key=uuid.uuid4().hex)
    from app.models.dispute import DisputeFile

    return {"dispute": deposit.id, "dispute_file": db.session.scalar(sa.select(DisputeFile.token))}


def _notification(owner) -> int:
    """One notification of the owner's, once the notification centre exists (0 before)."""
    try:
        from app.notifications import inbox
    except ImportError:
        return 0
    return inbox.notify(owner.id, "credit_received", f"security-world:{uuid.uuid4().hex}",
                                amount=100, commission=0) or 0


def sign_in(app, client, actor: str, world: World) -> None:
    """Make ``client`` signed in as ``actor`` (nothing for ``anonymous``); staff with TOTP pass 2FA."""
    if actor == "anonymous":
        return
    with app.app_context():
        user = db.session.get(User, world.users[actor])
        user_id = user.get_id()  # read fresh: a logout earlier in the test changed the token
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
        session["mfa_ok"] = actor in WITH_TOTP


@pytest.fixture
def sec_app(app_factory, sandbox_config):  # noqa: F811
    # no room server runs here: the room desk's balance read fails at once instead of backing off
    return app_factory(**sandbox_config, ROOM_READ_RETRIES=0)
