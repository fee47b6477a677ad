"""Health of sellers' API forms: one circuit breaker per form.

Matching calls :func:`record_failure` after a provider call with a form fails
and :func:`record_success` after one succeeds, in the transaction that records
the call's outcome.  ``FORM_FAILURE_THRESHOLD`` consecutive failures (default
3) open the form's circuit: matching skips the form and the seller sees why,
in words they can act on.  A periodic probe (:mod:`app.jobs.form_health`)
retries the harmless credential check and closes the circuit once it passes;
a seller who saves new, live-checked credentials closes it too.

Counting is one atomic ``UPDATE … SET n = n + 1`` and opening is a
compare-and-set on ``circuit = 'closed'``, so workers failing at the same time
count every failure and exactly one of them opens the circuit (and writes the
audit entry).

The reason is stored as a short code (optionally ``code: provider's words``)
and put into the seller's language when shown
(:mod:`app.connectors.payments.failure_reasons`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from app.connectors.payments.failure_reasons import reason_of, reason_text
from app.core import audit
from app.crypto import SecretUnreadable
from app.database import update_fast, utcnow
from app.extensions import db
from app.models.payment_form import PaymentForm

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 3
DEFAULT_PROBE_INTERVAL = 60
#: forms probed per run of the job; the rest wait for the next run
PROBE_BATCH = 100

@dataclass(frozen=True)
class Health:
    #: ``ok`` | ``disabled`` | ``open``
    state: str
    label: str
    reason: str
    opened_at: datetime | None


def health_of(form: PaymentForm) -> Health:
    """What the seller sees about a form's health."""
    if form.circuit == "open":
        return Health("open", _("Paused after errors"), reason_text(form.circuit_reason), form.circuit_opened_at)
    if not form.enabled:
        return Health("disabled", _("Disabled"), "", None)
    return Health("ok", _("Working"), "", None)


def _threshold() -> int:
    return int(current_app.config.get("FORM_FAILURE_THRESHOLD", DEFAULT_THRESHOLD))


def _forget_loaded(form_id: int) -> None:
    """Keep an already loaded PaymentForm in step with the rows changed by Core UPDATEs."""
    instance = db.session.identity_map.get((PaymentForm, (form_id,), None))
    if instance is not None:
        db.session.expire(instance)


def record_failure(form_id: int, reason: str | BaseException) -> bool:
    """Count one failed provider call; True when this failure opened the circuit."""
    stored = reason if isinstance(reason, str) else reason_of(reason)
    table = PaymentForm.__table__
    now = utcnow()
    db.session.execute(sa.update(table).where(table.c.id == form_id)
                       .values(consecutive_failures=table.c.consecutive_failures + 1, updated_at=now))
    opened = db.session.execute(
        sa.update(table)
        .where(table.c.id == form_id, table.c.circuit == "closed", table.c.deleted_at.is_(None),
               table.c.consecutive_failures >= _threshold())
        .values(circuit="open", circuit_reason=stored[:255], circuit_opened_at=now, updated_at=now)
    ).rowcount == 1
    _forget_loaded(form_id)
    if opened:
        log.warning("payment form %s: circuit opened (%s)", form_id, stored.partition(":")[0])
        audit.record("payment_form.circuit_opened", target_type="payment_form", target_id=form_id,
                     why=stored.partition(":")[0])
        from app.notifications import inbox

        inbox.form_circuit_opened(form_id, stored, now)
    return opened


def record_success(form_id: int) -> None:
    """A provider call with the form worked: the failures so far were not consecutive after all.

    An open circuit stays open: only the probe, or new credentials, close it.
    The WHERE keeps the common case (no failures) free of writes.  Called after
    every successful call, not only when failures were counted when the call
    began: one recorded by a concurrent call meanwhile must be reset too.  On
    the driver's cursor: it runs once per invoice created.
    """
    if update_fast(db.session.connection(), _RESET_FAILURES, {"form_id": form_id, "now": utcnow()}):
        _forget_loaded(form_id)


_forms = PaymentForm.__table__
_RESET_FAILURES = (
    sa.update(_forms)
    .where(_forms.c.id == sa.bindparam("form_id"), _forms.c.consecutive_failures > 0, _forms.c.circuit == "closed")
    .values(consecutive_failures=0, updated_at=sa.bindparam("now", type_=_forms.c.updated_at.type))
)


def due_for_probe(now: datetime | None = None, interval: int | None = None, limit: int = PROBE_BATCH) -> list[int]:
    """Enabled forms whose circuit is open and which were not probed in the last ``interval`` seconds."""
    now = now or utcnow()
    if interval is None:
        interval = int(current_app.config.get("FORM_PROBE_INTERVAL", DEFAULT_PROBE_INTERVAL))
    cutoff = now - timedelta(seconds=interval)
    return list(db.session.scalars(
        sa.select(PaymentForm.id)
        .where(PaymentForm.circuit == "open", PaymentForm.enabled.is_(True), PaymentForm.deleted_at.is_(None),
               PaymentForm.circuit_opened_at <= cutoff,
               sa.or_(PaymentForm.last_checked_at.is_(None), PaymentForm.last_checked_at <= cutoff))
        .order_by(PaymentForm.circuit_opened_at, PaymentForm.id)
        .limit(limit)
    ))


def probe_adapter(form_id: int):
    """The adapter to probe ``form_id`` with, or None when its circuit is not open (any more).

    A form whose credentials cannot be read gets a stand-in that fails the
    check, so the reason the seller sees says so.
    """
    form = db.session.get(PaymentForm, form_id)
    if form is None or form.deleted_at is not None or form.circuit != "open":
        return None
    from app.market.payment_forms import adapter_of

    try:
        return adapter_of(form)
    except Exception as exc:  # noqa: BLE001 - unreadable or incomplete credentials: the probe fails
        return _Broken(exc)


class _Broken:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def check_credentials(self) -> None:
        raise self.exc


def run_check(adapter) -> str | None:
    """The live credential check (no database work); None if it passed, else the stored reason."""
    from app.connectors.payments.base import PaymentConnectorError

    try:
        adapter.check_credentials()
    except (PaymentConnectorError, SecretUnreadable) as exc:
        return reason_of(exc)
    return None


def record_probe(form_id: int, failure: str | None) -> bool:
    """Close the circuit if the probe passed (True), else keep it open with the latest reason."""
    table = PaymentForm.__table__
    now = utcnow()
    if failure is not None:
        db.session.execute(sa.update(table).where(table.c.id == form_id, table.c.circuit == "open")
                           .values(circuit_reason=failure[:255], last_checked_at=now, updated_at=now))
        _forget_loaded(form_id)
        return False
    closed = db.session.execute(
        sa.update(table).where(table.c.id == form_id, table.c.circuit == "open")
        .values(circuit="closed", consecutive_failures=0, circuit_reason=None, circuit_opened_at=None,
                last_checked_at=now, updated_at=now)
    ).rowcount == 1
    _forget_loaded(form_id)
    if closed:
        log.info("payment form %s: circuit closed by probe", form_id)
        audit.record("payment_form.circuit_closed", target_type="payment_form", target_id=form_id)
    return closed


def probe(form_id: int) -> bool | None:
    """Probe one form now: True closed it, False it still fails, None nothing to probe.

    The job splits these steps to commit between them, so that no transaction
    stays open during the provider call; callers without that concern use this.
    """
    adapter = probe_adapter(form_id)
    if adapter is None:
        return None
    return record_probe(form_id, run_check(adapter))
