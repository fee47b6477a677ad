"""The probe that closes API forms' circuits again (see :mod:`app.market.form_health`)."""
from __future__ import annotations

import logging

from app.extensions import db
from app.jobs import job
from app.market import form_health

log = logging.getLogger(__name__)


def probe_open_circuits_once() -> dict[str, int]:
    """Probe every form that is due, committing each result on its own.

    No transaction is open while a provider is called (on SQLite one would hold
    the database's write lock for as long as the provider takes to time out).
    """
    due = form_health.due_for_probe()
    db.session.commit()
    totals = {"probed": 0, "closed": 0}
    for form_id in due:
        adapter = form_health.probe_adapter(form_id)
        db.session.commit()
        if adapter is None:
            continue
        failure = form_health.run_check(adapter)
        closed = form_health.record_probe(form_id, failure)
        db.session.commit()
        totals["probed"] += 1
        totals["closed"] += int(closed)
    return totals


@job
def probe_open_circuits() -> dict[str, int]:
    """Scheduled (every ``FORM_PROBE_INTERVAL``-ish): probe open circuits; idempotent, safe to overlap."""
    totals = probe_open_circuits_once()
    if totals["probed"]:
        log.info("form probes: %(probed)d probed, %(closed)d closed", totals)
    return totals
