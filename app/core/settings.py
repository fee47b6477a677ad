"""The platform settings in force, and changing them (a new version each time)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError

from app.core import audit
from app.errors import ValidationFailed
from app.extensions import db
from app.models.settings import PROVIDER_KINDS, PlatformSettings

#: the shortest invoice lifetime: T-Bank's shortest pay page (RedirectDueDate at least a minute after Init;
#: the adapter adds its own slack for the way there, app/connectors/payments/tbank.py); the CHECK agrees
MIN_INVOICE_LIFETIME_SECONDS = 60
MAX_INVOICE_LIFETIME_SECONDS = 86_400
#: one purchase split into at most this many invoices (the database's CHECK and app.models.split agree)
MAX_SPLIT_PARTS = 10
#: the seller's time to answer a dispute before it goes to ops without them (the CHECK agrees)
MIN_DISPUTE_ANSWER_SECONDS = 3_600
MAX_DISPUTE_ANSWER_SECONDS = 7 * 86_400


#: built once: most pages read the settings
_NEWEST = sa.select(PlatformSettings).order_by(PlatformSettings.id.desc()).limit(1)


def current_settings() -> PlatformSettings:
    """The newest settings version; the defaults are written on first use."""
    settings = db.session.scalar(_NEWEST)
    if settings is None:
        settings = PlatformSettings()
        db.session.add(settings)
        db.session.flush()
    return settings


def change_settings(*, actor, reason: str, **values) -> PlatformSettings:
    """Write a new settings version with ``values`` changed; it applies to new quotes only."""
    unknown = set(values) - set(PlatformSettings.EDITABLE)
    if unknown:
        raise ValidationFailed(f"unknown settings: {sorted(unknown)}")
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required")
    previous = current_settings()
    data = {name: getattr(previous, name) for name in PlatformSettings.EDITABLE}
    changed = {k: v for k, v in values.items() if data[k] != v}
    data.update(values)
    check_values(data)
    new = PlatformSettings(**data, created_by_id=getattr(actor, "id", None), reason=reason.strip())
    db.session.add(new)
    db.session.flush()
    audit.record("settings.changed", actor=actor, target=new, reason=reason, changed=changed)
    return new


@dataclass(frozen=True)
class SettingsVersion:
    version: PlatformSettings
    #: name → (old, new) of what this version changed; empty for the first
    changes: dict[str, tuple[int, int]]
    #: who made it (None: the defaults the system wrote)
    author: str | None


def check_values(values: dict[str, int]) -> None:
    """The database's CHECK rules, said in words before anything is written."""
    if not 0 <= values["commission_bps"] < 10_000 or not 0 <= values["buyer_fee_bps"] < 10_000:
        raise ValidationFailed(str(_l("A percentage must be from 0 to 99.99.")))
    if values["commission_min_cents"] < 0:
        raise ValidationFailed(str(_l("The smallest commission cannot be negative.")))
    if min(values[f"rate_{kind}_kopecks"] for kind in PROVIDER_KINDS) <= 0:
        raise ValidationFailed(str(_l("Every rate must be greater than zero.")))
    if not MIN_INVOICE_LIFETIME_SECONDS <= values["invoice_lifetime_seconds"] <= MAX_INVOICE_LIFETIME_SECONDS:
        raise ValidationFailed(str(_l("An invoice lives from 1 minute to 24 hours.")))
    if values["invoice_min_kopecks"] <= 0 or values["invoice_max_kopecks"] < values["invoice_min_kopecks"]:
        raise ValidationFailed(str(_l("The largest invoice must not be below the smallest.")))
    if values["cashout_min_cents"] <= 0 or values["cashout_daily_limit_cents"] < values["cashout_min_cents"]:
        raise ValidationFailed(str(_l("The daily cash-out limit must not be below the minimum cash-out.")))
    if values["kyc_threshold_cents"] <= 0:
        raise ValidationFailed(str(_l("The amount above which KYC is needed must be greater than zero.")))
    if not 1 <= values["split_max_parts"] <= MAX_SPLIT_PARTS:
        raise ValidationFailed(str(_l("A purchase is split into at most 1 to 10 payments (1: never split).")))
    if not MIN_DISPUTE_ANSWER_SECONDS <= values["dispute_answer_seconds"] <= MAX_DISPUTE_ANSWER_SECONDS:
        raise ValidationFailed(str(_l("The seller's time to answer a dispute is from 1 hour to 7 days.")))


def history(limit: int = 50) -> list[SettingsVersion]:
    """The newest ``limit`` versions, each with what it changed against the one before (one query)."""
    rows = list(db.session.scalars(
        sa.select(PlatformSettings).order_by(PlatformSettings.id.desc()).limit(limit + 1)))
    if not rows:
        return []  # the defaults were never committed (a refused first change rolled them back)
    from app.models import User

    author_ids = {r.created_by_id for r in rows if r.created_by_id is not None}
    authors = dict(db.session.execute(sa.select(User.id, User.email).where(User.id.in_(author_ids))).all()) \
        if author_ids else {}
    result = []
    for version, previous in zip(rows, rows[1:] + [None], strict=True):
        changes = {} if previous is None else {
            name: (getattr(previous, name), getattr(version, name))
            for name in PlatformSettings.EDITABLE if getattr(previous, name) != getattr(version, name)}
        result.append(SettingsVersion(version, changes, authors.get(version.created_by_id)))
    return result[:limit]


# --- the support contact ----------------------------------------------------------------------

SUPPORT_CONTACT_MAX = 200
#: how long a process keeps the contact it read before asking the database again (the footer shows it
#: on every page; a change reaches the other workers within this time, the one that made it at once)
SUPPORT_CONTACT_TTL_SECONDS = 30.0

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_TELEGRAM = re.compile(r"^@([A-Za-z0-9_]{5,32})$")
_URL = re.compile(r"^https://[^\s<>\"']+$")


@dataclass(frozen=True)
class SupportContact:
    #: what ops typed, shown as it is ("" when none is set)
    text: str
    #: where a click goes: mailto:, a Telegram link or the https page typed; None for plain text
    href: str | None

    def __bool__(self) -> bool:
        return bool(self.text)


def _contact_of(text: str) -> SupportContact:
    if _EMAIL.match(text):
        return SupportContact(text, f"mailto:{text}")
    if match := _TELEGRAM.match(text):
        return SupportContact(text, f"https://t.me/{match.group(1)}")
    if _URL.match(text):
        return SupportContact(text, text)
    return SupportContact(text, None)  # a phone number or words: shown, not linked


def clean_support_contact(text: str | None) -> str:
    """The contact as it will be stored, or a refusal in words (one line of printable text, or empty)."""
    value = (text or "").strip()
    if len(value) > SUPPORT_CONTACT_MAX:
        raise ValidationFailed(str(_l("The support contact is at most %(n)s characters.", n=SUPPORT_CONTACT_MAX)))
    if any(not ch.isprintable() for ch in value):
        raise ValidationFailed(str(_l("The support contact must be one line of plain text.")))
    return value  # only an e-mail, a Telegram @name or an https:// address ever becomes a link


def support_contact() -> SupportContact:
    """The contact in force, for every page's footer: read at most once per TTL per process."""
    cache = current_app.extensions.setdefault("support_contact", {})
    now = time.monotonic()
    if cache.get("until", 0.0) <= now:
        try:
            text = db.session.scalar(sa.select(PlatformSettings.support_contact)
                                     .order_by(PlatformSettings.id.desc()).limit(1)) or ""
        except SQLAlchemyError:
            # an error page after a database failure still renders its footer: without the contact
            return cache.get("value", SupportContact("", None))
        cache.update(value=_contact_of(text), until=now + SUPPORT_CONTACT_TTL_SECONDS)
    return cache["value"]


def change_support_contact(*, actor, reason: str, contact: str) -> PlatformSettings:
    """A new settings version with only the support contact changed (audited like every change)."""
    value = clean_support_contact(contact)
    if value == current_settings().support_contact:
        raise ValidationFailed(str(_l("Nothing changed.")))
    new = change_settings(actor=actor, reason=reason, support_contact=value)
    current_app.extensions.pop("support_contact", None)  # this process shows the new contact at once
    return new
