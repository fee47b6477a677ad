"""The notification endpoint: verify, store once, enqueue settlement, answer as the provider expects."""
from __future__ import annotations

import logging

from flask import current_app, request

from app.connectors.payments.base import NotificationRejected
from app.core.after_commit import after_commit
from app.extensions import csrf, db, limiter
from app.market import provider_events
from app.web.access import public
from app.web.webhooks.blueprint import bp

log = logging.getLogger(__name__)

#: real notifications are a few kilobytes
MAX_BODY = 64 * 1024
PLAIN = {"Content-Type": "text/plain; charset=utf-8"}

csrf.exempt(bp)


def _rate_limit() -> str:
    # Generous: one YooKassa or T-Bank address sends the notifications of every seller.
    return current_app.config.get("HOOK_RATE_LIMIT", "1200 per minute")


def _enqueue_settlement(event_id: int) -> None:
    after_commit("provider_event.settle", event_id, job_id=f"provider-event-{event_id}")


@bp.post("/<kind>/<token>")
@limiter.limit(_rate_limit)
@public
def notify(kind: str, token: str):
    """A provider's notification about a payment to one of a seller's API forms."""
    request.max_content_length = MAX_BODY
    body = request.get_data(cache=True)  # raw bytes: the signature covers them, not a parsed form
    try:
        accepted = provider_events.accept_notification(kind, token, request.headers, body, request.remote_addr)
    except provider_events.UnknownHook:
        db.session.rollback()
        log.warning("notification to an unknown address (kind %r) from %s", kind[:16], request.remote_addr)
        return "unknown", 404, PLAIN
    except NotificationRejected:  # logged with its reason by the service
        db.session.rollback()
        return "rejected", 400, PLAIN
    if accepted.event_id is not None:
        _enqueue_settlement(accepted.event_id)
    db.session.commit()
    return accepted.reply
