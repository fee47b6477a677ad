"""Write audit events.  Only inserts; the database refuses anything else."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request

from app.database import utcnow
from app.extensions import db
from app.models import AuditEvent

#: keys whose values never reach the audit log, whatever a caller passes
SECRET_KEYS = frozenset(
    {"password", "secret", "secret_key", "token", "oauth_token", "notification_secret", "totp", "code", "api_key"}
)


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if any(marker in key.lower() for marker in SECRET_KEYS):
            clean[key] = "[redacted]"
        elif isinstance(value, dict):
            clean[key] = _scrub(value)
        else:
            clean[key] = value
    return clean


def record(
    action: str,
    *,
    actor=None,
    target=None,
    target_type: str | None = None,
    target_id: Any = None,
    reason: str | None = None,
    **details: Any,
) -> None:
    """Write one audit event in the current transaction (it commits or rolls back with the event it records).

    One INSERT statement, not an ORM object: the session's unit of work for a
    row that is never read back or changed cost a tenth of a reservation's
    Python time.  Pending ORM changes are flushed first (the statement is
    ORM-enabled), as the flush this replaced did.
    """
    if target is not None:
        target_type = target_type or target.__tablename__
        target_id = target_id if target_id is not None else target.id
    db.session.execute(sa.insert(AuditEvent).values(
        at=utcnow(),
        action=action,
        actor_id=getattr(actor, "id", actor),
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        reason=reason,
        ip=request.remote_addr if has_request_context() else None,
        details=_scrub(details),
    ))
