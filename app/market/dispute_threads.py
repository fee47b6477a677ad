"""A dispute's conversation: the case opened with the dispute, one thread for buyer, seller and ops, and the
seller's deadline with its escalation.

Who may see a case: its buyer and its seller (the two ids the case copied from the
deposit when it opened) through their own pages, ops through the ops area.  Anyone
else is told the case does not exist (:class:`app.errors.NotFound` → 404), the same
answer as for an id that names nothing.  Neither party ever sees who the other is:
the thread shows each author's role, never a name or an address.

Exactly once:
- a case per deposit (``deposit_id`` UNIQUE, inserted with ON CONFLICT DO NOTHING),
  and the seller's notification keyed by the case;
- a message per form (its ``request_key`` UNIQUE): a double submit posts once, and
  its file is written only by the request that inserted the row;
- the seller's answer and the escalation are both compare-and-sets on the case
  (``awaiting_seller → answered | escalated``), so whichever comes first wins and the
  other changes nothing; a seller's post also locks the case row first, so the check
  "still in time?" and the answer are one step.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.core import audit
from app.database import utcnow
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.market import dispute_files
from app.models.dispute import MESSAGE_MAX, DisputeCase, DisputeFile, DisputeMessage
from app.models.market import Deposit, WithdrawalRequest
from app.states import DISPUTE_CASE

#: cases escalated per sweeper run (the rest wait for the next run, a minute later)
ESCALATION_BATCH = 200


def _insert_once(table: sa.Table, row: dict, conflict_on: list[str]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new id, or None when the key exists."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(row).on_conflict_do_nothing(index_elements=conflict_on).returning(table.c.id)
    return db.session.execute(statement).scalar()


# --- opening ----------------------------------------------------------------------------------

def open_case(deposit: Deposit, *, buyer_note: str = "", actor=None) -> DisputeCase:
    """The case of a deposit that has just become disputed (inside that transaction); made once.

    The seller is asked to answer within the ops setting's time (a notification keyed
    by the case), and the buyer's note, if any, opens the thread.
    """
    from app.core.settings import current_settings
    from app.notifications import inbox

    now = utcnow()
    seller_id = db.session.scalar(sa.select(WithdrawalRequest.seller_id)
                                  .where(WithdrawalRequest.id == deposit.withdrawal_id)) \
        if deposit.withdrawal_id else None
    due = now + timedelta(seconds=current_settings().dispute_answer_seconds)
    case_id = _insert_once(DisputeCase.__table__, {
        "deposit_id": deposit.id, "buyer_id": deposit.buyer_id, "seller_id": seller_id,
        "status": "awaiting_seller", "answer_due_at": due, "created_at": now, "updated_at": now,
    }, ["deposit_id"])
    case = db.session.scalar(sa.select(DisputeCase).where(DisputeCase.deposit_id == deposit.id))
    if case_id is None:
        return case  # opened before: nothing more to do
    note = (buyer_note or "").strip()
    if note:
        _insert_once(DisputeMessage.__table__, {
            "case_id": case.id, "author_id": deposit.buyer_id, "author_role": "buyer", "body": note[:MESSAGE_MAX],
            "request_key": f"case-{case.id}-opening-note", "created_at": now,
        }, ["request_key"])
    if seller_id is not None:
        inbox.dispute_answer_requested(case, rubles=deposit.amount_kopecks)
    audit.record("dispute.case_opened", actor=actor, target=deposit, answer_due_at=due.isoformat())
    return case


# --- who may see it ---------------------------------------------------------------------------

def _case_of(deposit_id: int) -> DisputeCase | None:
    return db.session.scalar(sa.select(DisputeCase).where(DisputeCase.deposit_id == deposit_id))


def role_of(user, case: DisputeCase) -> str | None:
    """'buyer' or 'seller' for the case's parties, None for anyone else (ops included: they use their area)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if user.id == case.buyer_id:
        return "buyer"
    if case.seller_id is not None and user.id == case.seller_id:
        return "seller"
    return None


def for_party(user, deposit_id: int) -> tuple[DisputeCase, str]:
    """The case and the user's role in it; NotFound for a non-party, exactly as for no case at all."""
    case = _case_of(deposit_id)
    role = role_of(user, case) if case is not None else None
    if role is None:
        raise NotFound(str(_l("No such dispute.")))
    return case, role


def cases_of(deposit_ids: list[int]) -> set[int]:
    """Which of these deposits have a dispute case (one query): their pages link to the conversation."""
    if not deposit_ids:
        return set()
    return set(db.session.scalars(sa.select(DisputeCase.deposit_id).where(DisputeCase.deposit_id.in_(deposit_ids))))


#: the only statuses a deposit with a dispute case can be in (disputed, and its two outcomes)
_MAY_HAVE_A_CASE = ("disputed", "settled", "rejected")


def has_case(deposit) -> bool:
    """Does the deposit's page link to a dispute conversation?  No query while it is still being matched or
    paid (the statuses the invoice page polls in), since only a disputed deposit has a case."""
    return deposit.status in _MAY_HAVE_A_CASE and bool(cases_of([deposit.id]))


def for_ops(deposit_id: int) -> DisputeCase | None:
    """The case of a disputed deposit for the ops area (None for a deposit whose dispute predates cases)."""
    return _case_of(deposit_id)


# --- the thread --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One message as the thread shows it: the author's role and time, never their name."""

    message: DisputeMessage
    file: DisputeFile | None


def thread(case: DisputeCase) -> list[Entry]:
    """The case's messages, oldest first, with their files (two queries)."""
    messages = list(db.session.scalars(sa.select(DisputeMessage).where(DisputeMessage.case_id == case.id)
                                       .order_by(DisputeMessage.id)))
    files = {f.message_id: f for f in db.session.scalars(
        sa.select(DisputeFile).where(DisputeFile.message_id.in_([m.id for m in messages])))} if messages else {}
    return [Entry(m, files.get(m.id)) for m in messages]


def version(case: DisputeCase) -> str:
    """Changes whenever the thread fragment would show something else (a message, the case or deposit status)."""
    count, last = db.session.execute(sa.select(sa.func.count(DisputeMessage.id), sa.func.max(DisputeMessage.id))
                                     .where(DisputeMessage.case_id == case.id)).one()
    deposit_status = db.session.scalar(sa.select(Deposit.status).where(Deposit.id == case.deposit_id))
    shown = (count, last, case.status, deposit_status)
    return hashlib.blake2s(repr(shown).encode(), digest_size=8).hexdigest()


def deposit_of(case: DisputeCase) -> Deposit:
    return db.session.get(Deposit, case.deposit_id)


def is_open(case: DisputeCase) -> bool:
    return db.session.scalar(sa.select(Deposit.status).where(Deposit.id == case.deposit_id)) == "disputed"


def seller_may_answer(case: DisputeCase, now: datetime | None = None) -> bool:
    """The seller writes once answered, or while the deadline has not passed; an escalated case is ops' alone."""
    now = now or utcnow()
    return case.status == "answered" or (case.status == "awaiting_seller" and now < case.answer_due_at)


def post(case: DisputeCase, *, author, role: str, body: str | None, upload: bytes | None,
         request_key: str) -> DisputeMessage:
    """Add a message (text, a file or both) to an open case's thread; the caller commits.

    Every refusal is a :class:`ValidationFailed` raised before anything is written.
    The file is stored last, under a fresh random token, and only by the request
    whose row was inserted (a double submit stores nothing).  Should the commit
    fail after that, the file is left without a row: it is never served (downloads
    go through the row), only disk space.
    """
    text = (body or "").strip()
    if len(text) > MESSAGE_MAX:
        raise ValidationFailed(str(_l("A message is at most %(n)s characters.", n=MESSAGE_MAX)))
    checked = dispute_files.check(upload) if upload else None
    if not text and checked is None:
        raise ValidationFailed(str(_l("Write a message or attach a file.")))
    # The case row locked: a seller's "in time?" and the escalation sweeper cannot interleave.
    case = db.session.scalar(sa.select(DisputeCase).where(DisputeCase.id == case.id).with_for_update()
                             .execution_options(populate_existing=True))
    if not is_open(case):
        raise ValidationFailed(str(_l("This dispute is decided; the conversation is closed.")))
    if role == "seller" and not seller_may_answer(case):
        raise ValidationFailed(str(_l("The time to answer has passed; support decides without your answer.")))
    existing = db.session.scalar(sa.select(DisputeMessage).where(DisputeMessage.request_key == request_key))
    if existing is not None:
        return existing  # the same form sent twice
    now = utcnow()
    message_id = _insert_once(DisputeMessage.__table__, {
        "case_id": case.id, "author_id": author.id, "author_role": role, "body": text,
        "request_key": request_key, "created_at": now,
    }, ["request_key"])
    if message_id is None:  # a concurrent double submit won the key
        return db.session.scalar(sa.select(DisputeMessage).where(DisputeMessage.request_key == request_key))
    details = {"role": role, "message_id": message_id}
    if checked is not None:
        token = dispute_files.new_token()
        db.session.add(DisputeFile(message_id=message_id, token=token, content_type=checked.content_type,
                                   size_bytes=checked.size, sha256=checked.sha256, created_at=now))
        db.session.flush()
        details.update(file_type=checked.content_type, file_size=checked.size, file_sha256=checked.sha256)
    if role == "seller" and case.status == "awaiting_seller":
        DISPUTE_CASE.transition(DisputeCase, case.id, "answered", expect="awaiting_seller", answered_at=now)
    audit.record("dispute.message_posted", actor=author, target_type="deposit", target_id=case.deposit_id,
                 **details)
    if checked is not None:
        dispute_files.store(token, checked)
    return db.session.get(DisputeMessage, message_id)


@dataclass(frozen=True)
class View:
    """Everything a dispute's page shows one reader, read in one place (the views only render it)."""

    case: DisputeCase
    deposit: Deposit
    #: 'buyer', 'seller' or 'ops'
    viewer: str
    entries: list[Entry]
    version: str
    #: the dispute is open: the thread polls, and the reader may write if ``may_post``
    live: bool
    #: the form is shown (the seller's only until the deadline, unless they answered in time)
    may_post: bool


def view_of(case: DisputeCase, viewer: str) -> View:
    deposit = deposit_of(case)
    live = deposit.status == "disputed"
    return View(case=case, deposit=deposit, viewer=viewer, entries=thread(case), version=version(case), live=live,
                may_post=live and (viewer != "seller" or seller_may_answer(case)))


# --- files --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Download:
    data: bytes
    content_type: str
    filename: str


def download(case: DisputeCase, token: str) -> Download:
    """A file of this case's thread (a token of another case is NotFound, as is a file gone from disk)."""
    row = db.session.scalar(
        sa.select(DisputeFile).join(DisputeMessage, DisputeMessage.id == DisputeFile.message_id)
        .where(DisputeFile.token == token, DisputeMessage.case_id == case.id))
    data = dispute_files.load(row.token) if row is not None else None
    if data is None:
        raise NotFound(str(_l("No such file.")))
    return Download(data, row.content_type, f"evidence-{row.id}.{dispute_files.EXTENSIONS[row.content_type]}")


# --- the deadline -------------------------------------------------------------------------------

def overdue(now: datetime | None = None, limit: int = ESCALATION_BATCH) -> list[int]:
    """Cases of still-open disputes whose seller did not answer in time."""
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(DisputeCase.id).join(Deposit, Deposit.id == DisputeCase.deposit_id)
        .where(DisputeCase.status == "awaiting_seller", DisputeCase.answer_due_at <= now,
               Deposit.status == "disputed")
        .order_by(DisputeCase.answer_due_at, DisputeCase.id).limit(limit)))


def escalate(case_id: int, now: datetime | None = None) -> bool:
    """Mark one overdue case escalated; True only for the call that did it (a compare-and-set)."""
    now = now or utcnow()
    case = db.session.get(DisputeCase, case_id)
    if case is None or case.answer_due_at > now:
        return False
    if not DISPUTE_CASE.transition(DisputeCase, case_id, "escalated", expect="awaiting_seller", escalated_at=now):
        return False  # answered meanwhile, or another sweeper escalated it
    audit.record("dispute.escalated", actor=None, target_type="deposit", target_id=case.deposit_id,
                 reason="the seller did not answer in time")
    return True


# --- the ops queue ------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueItem:
    deposit: Deposit
    #: None for a dispute opened before cases existed
    case: DisputeCase | None


def ops_queue(limit: int = 200) -> list[QueueItem]:
    """Open disputes: the escalated ones first (the seller did not answer), then the oldest first."""
    escalated_first = sa.case((DisputeCase.status == "escalated", 0), else_=1)
    rows = db.session.execute(
        sa.select(Deposit, DisputeCase).outerjoin(DisputeCase, DisputeCase.deposit_id == Deposit.id)
        .where(Deposit.status == "disputed")
        .order_by(escalated_first, Deposit.updated_at, Deposit.id).limit(limit)).all()
    return [QueueItem(deposit, case) for deposit, case in rows]
