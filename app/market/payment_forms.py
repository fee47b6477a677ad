"""Sellers' API forms: add, edit, disable, delete; credentials checked live and encrypted at rest.

A form's credentials exist in plaintext only in memory: they are checked by a
live call to the provider before anything is written, stored as Fernet
ciphertext (:mod:`app.crypto`), shown masked, and never passed to a log or an
audit entry (the audit gets the kind and the form id, nothing else).

Deleting is soft: the row stays for the invoices and requests that point at
it, but its credentials are overwritten with an encryption of ``{}`` and it
disappears from the seller's views and from the notification endpoint.  A form
still needed by the market (:func:`app.market.usage.payment_form_in_use`)
can only be disabled.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import crypto
from app.core import audit
from app.database import utcnow
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models.payment_form import PaymentForm

KINDS = ("yoomoney", "yookassa", "tbank")
KIND_LABELS = {"yoomoney": "ЮMoney / YooMoney", "yookassa": "ЮKassa / YooKassa", "tbank": "Т-Банк / T-Bank"}
#: longest credential value accepted (real ones are far shorter; this bounds the ciphertext)
VALUE_MAX = 512
NAME_MAX = 80
#: passes over rows changed under the rotation before giving up
ROTATE_PASSES = 5

#: what to check when the provider refuses, per kind
CHECK_HINTS = {
    "yoomoney": _l("Check the wallet number and the OAuth token: the token must belong to this wallet "
                   "and allow the account-info and operation-history scopes."),
    "yookassa": _l("Check the shop ID and the secret key in the YooKassa cabinet (Integration → API keys)."),
    "tbank": _l("Check the terminal key and the password in the T-Bank business cabinet "
                "(Internet acquiring → Stores → Terminals)."),
}


def credential_fields(kind: str):
    from app.connectors.payments.base import CREDENTIAL_FIELDS

    return CREDENTIAL_FIELDS[kind]


def credentials_of(form: PaymentForm) -> dict[str, str]:
    """Decrypt the form's credentials (in memory only; never log the result)."""
    return json.loads(crypto.decrypt(form.credentials_encrypted))


def adapter_of(form: PaymentForm):
    from app.connectors.payments.registry import adapter_for

    return adapter_for(form.kind, credentials_of(form), current_app.config)


#: what the pages show of a stored secret, whatever its length or content
SECRET_SHOWN = "•" * 8


def masked_credentials(form: PaymentForm) -> list[tuple[object, str]]:
    """``(label, shown value)`` per field: identifiers in full; of a secret only that one is stored.

    Not even its last characters: they narrow a guess and confirm a leaked copy, and the seller who
    owns the secret has it in the provider's cabinet anyway."""
    from flask_babel import get_locale

    values = credentials_of(form)
    russian = str(get_locale() or "ru") == "ru"
    return [(f.label_ru if russian else f.label_en,
             (SECRET_SHOWN if values.get(f.name) else "") if f.secret else values.get(f.name, ""))
            for f in credential_fields(form.kind)]


def editable_values(form: PaymentForm) -> dict[str, str]:
    """What the edit form starts with: the name and the identifiers; never a secret."""
    values = credentials_of(form)
    initial = {f.name: values.get(f.name, "") for f in credential_fields(form.kind) if not f.secret}
    initial["name"] = form.name
    return initial


def _display(kind: str, credentials: Mapping[str, str]) -> str:
    """A summary safe to show and log: identifiers partly, secrets never."""
    public = [f for f in credential_fields(kind) if not f.secret]
    parts = [crypto.mask(str(credentials.get(f.name, "")), visible=4) for f in public]
    return " · ".join(p for p in parts if p) or KIND_LABELS[kind]


def _check_live(kind: str, credentials: Mapping[str, str]) -> None:
    """A harmless live call with these credentials; a :class:`ValidationFailed` the seller can act on.

    The refusal is said in the seller's language (app.market.provider_messages), with the provider's code.
    """
    from app.connectors.payments.base import InsufficientScope, InvalidCredentials, ProviderError, ProviderUnavailable
    from app.connectors.payments.registry import adapter_for
    from app.market.provider_messages import describe

    hint = str(CHECK_HINTS[kind])
    try:
        adapter_for(kind, dict(credentials), current_app.config).check_credentials()
    except InsufficientScope:
        # The token is genuine but was made without a permission: say which ones, not "bad credentials".
        raise ValidationFailed(_("The token works but lacks permissions. Create a new OAuth token and grant it "
                                 "the scopes account-info and operation-history.")) from None
    except InvalidCredentials as exc:
        raise ValidationFailed(_("The provider rejected these credentials (%(detail)s). %(hint)s",
                                 detail=describe(kind, exc), hint=hint)) from None
    except ProviderUnavailable:
        raise ValidationFailed(_("The provider did not answer, so the credentials could not be checked. "
                                 "Nothing was saved; try again in a minute.")) from None
    except ProviderError as exc:
        raise ValidationFailed(_("The provider refused the check (%(detail)s). %(hint)s",
                                 detail=describe(kind, exc), hint=hint)) from None


def _clean(kind: str, raw: Mapping[str, str]) -> dict[str, str]:
    if kind not in KINDS:
        raise ValidationFailed(_("Unknown payment provider."))
    values = {}
    for f in credential_fields(kind):
        value = (raw.get(f.name) or "").strip()
        if not value:
            raise ValidationFailed(_("Fill in every field."))
        if len(value) > VALUE_MAX:
            raise ValidationFailed(_("A value is too long."))
        if not (value.isascii() and value.isprintable()):  # they go into HTTP headers and signatures
            raise ValidationFailed(_("Credentials contain only Latin letters, digits and punctuation."))
        values[f.name] = value
    return values


def _name(name: str | None, default: str) -> str:
    return (name or "").strip()[:NAME_MAX] or default


def own_forms(user) -> list[PaymentForm]:
    """The seller's forms, deleted ones left out."""
    return list(db.session.scalars(
        sa.select(PaymentForm)
        .where(PaymentForm.user_id == user.id, PaymentForm.deleted_at.is_(None))
        .order_by(PaymentForm.id)
    ))


def get_own(user, form_id: int, *, for_update: bool = False) -> PaymentForm:
    """The seller's own live form; someone else's, a deleted or a missing one are all "not found"."""
    query = sa.select(PaymentForm).where(
        PaymentForm.id == form_id, PaymentForm.user_id == user.id, PaymentForm.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update()
    form = db.session.scalar(query)
    if form is None:
        raise NotFound(_("No such API form."))
    return form


def by_hook_token(kind: str, token: str) -> PaymentForm | None:
    """The live form whose notification URL is ``/hooks/<kind>/<token>``, or None."""
    if kind not in KINDS or not token or len(token) > 64:
        return None
    return db.session.scalar(sa.select(PaymentForm).where(
        PaymentForm.hook_token == token, PaymentForm.kind == kind, PaymentForm.deleted_at.is_(None)))


def add_form(user, kind: str, name: str, raw_credentials: Mapping[str, str], *, check_live: bool = True) -> PaymentForm:
    """Check the credentials live, then store them encrypted; nothing is written if the check fails.

    ``check_live=False`` is for demo data written before the sandbox providers run.
    """
    credentials = _clean(kind, raw_credentials)
    if check_live:
        _check_live(kind, credentials)
    form = PaymentForm(
        user_id=user.id, kind=kind, name=_name(name, KIND_LABELS[kind]),
        credentials_encrypted=crypto.encrypt(json.dumps(credentials)),
        display=_display(kind, credentials), hook_token=secrets.token_urlsafe(24),
        enabled=True, circuit="closed", consecutive_failures=0, last_checked_at=utcnow(),
    )
    db.session.add(form)
    db.session.flush()
    audit.record("payment_form.added", actor=user, target=form, kind=kind)
    return form


def update_form(user, form_id: int, name: str, raw_credentials: Mapping[str, str]) -> PaymentForm:
    """Rename, and replace credentials when new ones are given.

    A blank secret field keeps the stored secret (secrets are never sent back
    to the browser, so the seller cannot re-type what they cannot see).  New
    credentials are checked live first; passing that check also closes the
    form's circuit, since the seller has just fixed what opened it.
    """
    form = get_own(user, form_id)
    current = credentials_of(form)
    merged = {}
    for f in credential_fields(form.kind):
        typed = (raw_credentials.get(f.name) or "").strip()
        merged[f.name] = typed or (current.get(f.name, "") if f.secret else "")
    credentials = _clean(form.kind, merged)
    changed = credentials != current
    if changed:
        _check_live(form.kind, credentials)
        form.credentials_encrypted = crypto.encrypt(json.dumps(credentials))
        form.display = _display(form.kind, credentials)
        form.circuit, form.consecutive_failures = "closed", 0
        form.circuit_reason, form.circuit_opened_at = None, None
        form.last_checked_at = utcnow()
    form.name = _name(name, form.name)
    db.session.flush()
    audit.record("payment_form.updated", actor=user, target=form, credentials_changed=changed)
    return form


def set_enabled(user, form_id: int, enabled: bool) -> PaymentForm:
    """Disable (matching stops offering the form; its open invoices still settle) or enable again."""
    form = get_own(user, form_id)
    if form.enabled != enabled:
        form.enabled = enabled
        db.session.flush()
        audit.record("payment_form.enabled" if enabled else "payment_form.disabled", actor=user, target=form)
    return form


def set_limits(user, form_id: int, *, day_kopecks: int | None, day_invoices: int | None, gap_minutes: int | None,
               hours_start: int | None, hours_end: int | None, zone: str) -> PaymentForm:
    """Set (None: clear) the form's own limits (:mod:`app.market.form_limits`); audited with old and new values.

    Hours are minutes of the local day; an end before the start is a window across midnight.  The row is
    locked, so a matcher deciding on the old limits has committed (or skips the form) before the new ones
    are written.  Bad values raise :class:`ValidationFailed` and nothing is written (the CHECKs of
    ``payment_form`` say the same)."""
    from app.market import form_limits

    for value in (day_kopecks, day_invoices, gap_minutes):
        if value is not None and value < 0:
            raise ValidationFailed(_("A limit cannot be negative; leave it empty for none."))
    if gap_minutes is not None and gap_minutes > form_limits.MAX_GAP_MINUTES:
        raise ValidationFailed(_("The gap between invoices is at most a day (1440 minutes)."))
    if (hours_start is None) != (hours_end is None):
        raise ValidationFailed(_("Give both ends of the working hours, or neither."))
    if hours_start is not None and not (0 <= hours_start < 1440 and 0 <= hours_end < 1440):
        raise ValidationFailed(_("Working hours are times of the day, 00:00 to 23:59."))
    if hours_start is not None and hours_start == hours_end:
        raise ValidationFailed(_("Working hours must end at another time than they start; leave both empty "
                                 "to work around the clock."))
    if zone not in form_limits.zone_names():
        raise ValidationFailed(_("Choose a time zone from the list."))
    form = get_own(user, form_id, for_update=True)
    fields = ("limit_day_kopecks", "limit_day_invoices", "limit_gap_minutes", "hours_start_minute",
              "hours_end_minute", "limits_timezone")
    new = dict(zip(fields, (day_kopecks, day_invoices, gap_minutes or None, hours_start, hours_end, zone),
                   strict=True))
    old = {name: getattr(form, name) for name in fields}
    if new != old:
        for name, value in new.items():
            setattr(form, name, value)
        db.session.flush()
        audit.record("payment_form.limits", actor=user, target=form, old=old, new=new)
    return form


def delete_form(user, form_id: int) -> None:
    """Delete a form no open invoice or live withdrawal request uses; otherwise refuse (disable it instead).

    The row is locked first, so a withdrawal request being created for this
    form at the same moment (which must lock it too) either comes before the
    check and blocks the delete, or comes after and finds the form deleted.
    """
    from app.market.usage import payment_form_in_use

    form = get_own(user, form_id, for_update=True)
    if payment_form_in_use(form.id):
        raise ValidationFailed(_(
            "This form is used by an open invoice or an active withdrawal request, so it cannot be deleted. "
            "You can disable it now and delete it once those end."))
    form.deleted_at = utcnow()
    form.enabled = False
    form.credentials_encrypted = crypto.encrypt("{}")
    form.display = ""
    form.circuit, form.consecutive_failures = "closed", 0
    form.circuit_reason, form.circuit_opened_at = None, None
    db.session.flush()
    audit.record("payment_form.deleted", actor=user, target=form, kind=form.kind)


def notification_url(form: PaymentForm) -> str:
    """What the seller pastes into the provider's cabinet (``PUBLIC_BASE_URL`` + the hook path)."""
    from app.core.urls import public_url

    return public_url("hooks.notify", kind=form.kind, token=form.hook_token)


def _rotate_column(column: sa.Column) -> int:
    """Re-encrypt every non-null value of ``column`` under the newest key.

    Each row is a compare-and-set on the old ciphertext, so a value saved by a
    seller while rotation runs is never overwritten with the re-encrypted old
    one; such a row is read again and rotated on the next pass.
    """
    table = column.table
    count = 0
    rows = db.session.execute(sa.select(table.c.id, column).where(column.is_not(None))).all()
    for _pass in range(ROTATE_PASSES):
        if not rows:
            return count
        retry = []
        for row_id, old in rows:
            result = db.session.execute(
                sa.update(table).where(table.c.id == row_id, column == old).values({column.name: crypto.rotate(old)}))
            if result.rowcount == 1:
                count += 1
            else:
                retry.append(row_id)
        rows = db.session.execute(
            sa.select(table.c.id, column).where(table.c.id.in_(retry), column.is_not(None))).all() if retry else []
    if rows:
        raise Conflict("secrets kept changing during key rotation; run it again")
    return count


def rotate_all_keys() -> int:
    """Re-encrypt every stored secret (API form credentials, TOTP seeds) with the newest key.

    ``flask keys rotate`` calls this after a new key was put first in
    ``ENCRYPTION_KEYS``; once it has committed, the old keys can be removed.
    Raises :class:`app.crypto.SecretUnreadable` (and the caller rolls back) if
    any value cannot be decrypted with the configured keys.
    """
    from app.models import User

    count = _rotate_column(PaymentForm.__table__.c.credentials_encrypted)
    count += _rotate_column(User.__table__.c.totp_secret_encrypted)
    db.session.expire_all()
    return count
