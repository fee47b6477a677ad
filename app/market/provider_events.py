"""Incoming provider notifications: verify, store once, hand to settlement.

A notification arrives at ``/hooks/<kind>/<hook_token>``; the token names the
seller's API form, whose decrypted credentials verify it (T-Bank's Token,
YooMoney's sha1_hash, YooKassa's sender network — YooKassa events are also
flagged for a re-fetch, so settlement acts on a fresh read, never on the body).

A verified notification becomes one :class:`ProviderEvent` row, keyed by the
adapter's ``event_key``; ``INSERT … ON CONFLICT DO NOTHING`` makes retries,
duplicates and replays (even two arriving at once in two processes) store
nothing twice.  Nothing else changes here: settlement is the job's work, and
it reads the row by id.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from app.connectors.payments.base import NotificationRejected, NotificationReply
from app.extensions import db
from app.market import payment_forms
from app.models.provider_event import ProviderEvent

log = logging.getLogger(__name__)


class UnknownHook(Exception):
    """No live API form has this notification address (unknown token, other kind, deleted)."""


@dataclass(frozen=True)
class Accepted:
    form_id: int
    #: the new event's id; None when this was a replay of a stored one
    event_id: int | None
    #: the answer the provider expects
    reply: NotificationReply


def _column_limit(name: str) -> int:
    return ProviderEvent.__table__.c[name].type.length


def _insert_once(row: dict) -> int | None:
    """Insert ``row`` unless its (kind, event_key) exists; the new id, or None for a duplicate."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = ProviderEvent.__table__
    statement = (insert(table).values(**row)
                 .on_conflict_do_nothing(index_elements=["kind", "event_key"])
                 .returning(table.c.id))
    return db.session.execute(statement).scalar()


def accept_notification(kind: str, token: str, headers: Mapping[str, str], body: bytes,
                        remote_addr: str | None) -> Accepted:
    """Verify one notification and store it once.

    Raises :class:`UnknownHook` (nothing known at this address) or
    :class:`NotificationRejected` (forged, from the wrong network, malformed);
    in both cases nothing is written.
    """
    form = payment_forms.by_hook_token(kind, token)
    if form is None:
        raise UnknownHook()
    adapter = payment_forms.adapter_of(form)
    try:
        note = adapter.parse_notification(headers, body, remote_addr)
        for name, value in (("event_key", note.event_key), ("provider_payment_id", note.provider_payment_id),
                            ("order_id", note.order_id)):
            if value is not None and len(value) > _column_limit(name):
                raise NotificationRejected(f"{name} is longer than any we issue")
    except NotificationRejected as exc:
        # The reason names what failed, never the body or a secret.
        log.warning("%s notification for form %s from %s rejected: %s", kind, form.id, remote_addr, exc.reason)
        raise
    event_id = _insert_once({
        "kind": kind, "payment_form_id": form.id, "event_key": note.event_key,
        "provider_payment_id": note.provider_payment_id, "order_id": note.order_id,
        "status": note.status, "amount": note.amount, "needs_refetch": note.needs_refetch,
    })
    if event_id is None:
        log.info("%s notification for form %s is a repeat of %s; ignored", kind, form.id, note.event_key)
    else:
        log.info("%s notification for form %s stored as event %s (%s, %s)", kind, form.id, event_id,
                 note.event_key, note.status)
    return Accepted(form.id, event_id, adapter.notification_response())
