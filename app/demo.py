"""Demo data for `make run`: what a person needs to try every flow against the sandboxes.

The sandbox servers keep their state in memory, so each `make run` tells them
again about the demo accounts (``flask demo sandbox-accounts`` writes the file
that ``python -m sandbox --accounts`` loads): the demo seller's and buyer's
room accounts with some dollars, and a wallet / shop / terminal per provider
whose credentials match the demo seller's API forms and whose notification URLs
point at this app.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.market import payment_forms
from app.models import User
from app.models.payment_form import PaymentForm
from app.room import room_accounts

SELLER_EMAIL = "seller@demo.pokerpay"
BUYER_EMAIL = "buyer@demo.pokerpay"
#: the demo players' accounts in the sandbox room, and the dollars they start with there
ROOM_ACCOUNTS = {SELLER_EMAIL: ("demo.seller", 1_000_00), BUYER_EMAIL: ("demo.buyer", 0)}
#: fixed sandbox credentials of the demo seller's API forms (sandbox only, never real)
PROVIDER_CREDENTIALS = {
    "yoomoney": {"wallet": "410010000000001", "notification_secret": "demo-notification-secret",
                 "oauth_token": "demo-yoomoney-oauth-token"},
    "yookassa": {"shop_id": "100001", "secret_key": "test_demo_yookassa_secret"},
    "tbank": {"terminal_key": "PokerPayDEMO", "password": "demo-terminal-password"},
}


def _user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def seed() -> None:
    """Verified room accounts for the demo players and an API form of each kind for the demo seller."""
    for email, (identifier, _dollars) in ROOM_ACCOUNTS.items():
        account = room_accounts.add_room_account(_user(email), identifier)
        room_accounts.mark_verified(account, by="ops", reason="demo data")
    seller = _user(SELLER_EMAIL)
    for kind, credentials in PROVIDER_CREDENTIALS.items():
        payment_forms.add_form(seller, kind, f"Demo {kind}", credentials, check_live=False)


def sandbox_accounts() -> dict:
    """What the sandbox servers must know at start for the demo to work end to end."""
    seller = _user(SELLER_EMAIL)
    providers: dict[str, list[dict]] = {}
    if seller is not None:
        forms = db.session.scalars(sa.select(PaymentForm).where(
            PaymentForm.user_id == seller.id, PaymentForm.deleted_at.is_(None)))
        for form in forms:
            account = dict(payment_forms.credentials_of(form))
            account["notification_url"] = payment_forms.notification_url(form)
            providers.setdefault(form.kind, []).append(account)
    room = [{"account": identifier, "balance": dollars} for identifier, dollars in ROOM_ACCOUNTS.values()]
    return {"room": room, "providers": providers}
