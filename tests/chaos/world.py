"""The simulated people of a chaos run, made before the load starts.

Sellers: a verified room account holding dollars in the sandbox room and an API
form of every provider kind, whose sandbox wallet / shop / terminal notifies
this run's gunicorn.  Buyers: a verified room account (empty) to cash out to.
A stranger: a room account the platform does not know (its transfers must be
parked as unmatched, never credited).

Setup goes through the services in-process (like ``flask users seed-demo``);
everything after it goes over HTTP.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import requests

PASSWORD = "chaos-Passw0rd!-long"  # noqa: S105 - sandbox users of a throwaway database
KINDS = ("tbank", "yookassa", "yoomoney")
#: the field naming a sandbox account (its wallet / shop / terminal) in each provider's credentials
KEY_FIELD = {"tbank": "terminal_key", "yookassa": "shop_id", "yoomoney": "wallet"}
PLATFORM_ACCOUNT = "pokerpay@pokerok.example"
STRANGER = "stranger.chaos"


@dataclass
class Person:
    email: str
    room_account: str
    user_id: int = 0
    room_account_id: int = 0
    #: kind -> payment form id (sellers)
    forms: dict[str, int] = field(default_factory=dict)
    #: room dollars given at the start (cents)
    opening: int = 0


@dataclass
class World:
    sellers: list[Person]
    buyers: list[Person]
    #: payment form id -> "kind:account key" in the providers sandbox
    form_accounts: dict[int, str]
    #: room account -> dollars opened with, cents
    room_openings: dict[str, int]


def _post(url: str, payload: dict) -> dict:
    response = requests.post(url, json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


def make_world(system, *, sellers: int, buyers: int, seller_dollars: int, invoice_lifetime: int) -> World:
    from app import create_app
    from app.core.settings import change_settings
    from app.extensions import db
    from app.market import payment_forms
    from app.people import accounts
    from app.room import room_accounts
    from tests.chaos.system import CHECKER_APP_NAME

    app = create_app(
        SQLALCHEMY_DATABASE_URI=system.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"application_name": CHECKER_APP_NAME}},
        REDIS_URL=system.redis_url, ENCRYPTION_KEYS=[system.env["ENCRYPTION_KEYS"]],
        PUBLIC_BASE_URL=system.web_url, RATELIMIT_ENABLED=False,
    )
    world = World([], [], {}, {})
    with app.app_context():
        change_settings(actor=None, reason="chaos run", invoice_lifetime_seconds=invoice_lifetime)
        people = [("seller", i) for i in range(sellers)] + [("buyer", i) for i in range(buyers)]
        password_hash = None
        for role, i in people:
            person = Person(f"{role}{i}@chaos.test", f"{role}{i}.chaos",
                            opening=seller_dollars if role == "seller" else 0)
            if password_hash is None:
                user = accounts.register(person.email, PASSWORD)
                password_hash = user.password_hash
            else:  # one argon2 hash for all: the run is about money, not about hashing
                from app.models import User

                user = User(email=person.email, password_hash=password_hash, role="user", locale="en")
                db.session.add(user)
                db.session.flush()
            person.user_id = user.id
            account = room_accounts.add_room_account(user, person.room_account)
            room_accounts.mark_verified(account, by="ops", reason="chaos run")
            person.room_account_id = account.id
            _post(system.room_url + "/_sandbox/room/accounts",
                  {"account": person.room_account, "balance": person.opening})
            world.room_openings[person.room_account] = person.opening
            if role == "seller":
                for kind in KINDS:
                    created = _post(f"{system.providers_url}/_sandbox/providers/{kind}/accounts", {})
                    credentials = created["credentials"]
                    form = payment_forms.add_form(user, kind, f"{kind} {i}", credentials, check_live=False)
                    db.session.flush()
                    key_field = KEY_FIELD[kind]
                    _post(f"{system.providers_url}/_sandbox/providers/{kind}/accounts",
                          {key_field: credentials[key_field],
                           "notification_url": payment_forms.notification_url(form)})
                    person.forms[kind] = form.id
                    world.form_accounts[form.id] = f"{kind}:{credentials[key_field]}"
                world.sellers.append(person)
            else:
                world.buyers.append(person)
        db.session.commit()
        db.engine.dispose()
    _post(system.room_url + "/_sandbox/room/accounts", {"account": STRANGER, "balance": 10_000_00})
    world.room_openings[STRANGER] = 10_000_00
    return world
