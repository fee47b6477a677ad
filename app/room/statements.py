"""Room statements uploaded by ops: the whole file or nothing, each transfer credited once.

Parsing (:mod:`app.connectors.room.statement`) rejects a file with any bad
line, listing every problem; an accepted file goes through the same ingestion
as the feed, so a statement uploaded twice, or overlapping the feed, stores and
credits nothing twice (the room transfer id is unique).
"""
from __future__ import annotations

import hashlib

from flask_babel import lazy_gettext as _l

from app.connectors.room.statement import StatementError, parse_statement
from app.core import audit
from app.errors import ValidationFailed
from app.room import room_ingest

#: larger uploads are refused before parsing
MAX_STATEMENT_BYTES = 5 * 1024 * 1024


class StatementRejected(ValidationFailed):
    """The statement was refused; ``errors`` lists (line, reason)."""

    def __init__(self, errors: list[tuple[int, str]]):
        self.errors = errors
        super().__init__(str(_l("The statement was not imported: fix the lines below and upload it again.")))


def import_statement(data: bytes, *, filename: str, actor) -> dict[str, int]:
    """Store and settle every transfer of the file (caller commits); counts of what happened."""
    if not data:
        raise ValidationFailed(str(_l("The file is empty.")))
    if len(data) > MAX_STATEMENT_BYTES:
        raise ValidationFailed(str(_l("The file is larger than 5 MB.")))
    try:
        transfers = parse_statement(data)
    except StatementError as exc:
        raise StatementRejected(exc.errors) from None
    outcome = room_ingest.ingest(transfers, source="statement")
    counts = {"rows": len(transfers), "incoming": sum(t.direction == "in" for t in transfers), **outcome}
    audit.record("room.statement_imported", actor=actor, target_type="statement",
                 target_id=hashlib.sha256(data).hexdigest()[:16], filename=(filename or "")[:120], **counts)
    return counts
