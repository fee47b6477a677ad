"""Room accounts: the room's own spelling, a matching key per identifier kind, expiring verifications.

Until now every identifier was stored lower-cased and matched lower-cased, but
the room treats nicknames case-sensitively (``Name`` and ``name`` are two
accounts).  From here on (docs/room-contract.md):

* ``identifier`` is the room's spelling, what a cash-out is sent to;
* ``identifier_key`` is what transfers are matched by -- an e-mail lower-cased,
  a nickname or player id exactly as the room shows it;
* a verified room account belongs to one user (unique key among verified);
  several users may await verification of the same one, each with a different
  amount (unique key + amount among pending), one registration per user;
* a pending verification expires (``verification_expires_at``).

The stored, lower-cased identifiers are repaired from the room's own record:
the sender of the transfer that verified the account (same amount, credited to
the owner, equal ignoring case) gives the spelling; failing that, the one
spelling of every transfer credited to the owner from it.  A verified nickname
whose spelling cannot be recovered that way, and that has letters (so the case
matters), goes back to "awaiting verification" with a fresh amount: sending a
cash-out to a guessed spelling could pay another player.  E-mails and
identifiers without letters keep their state.  Pending verifications get a
fresh time limit.

Revision ID: 0013_room_identity
Revises: 0012_payment_exceptions
Create Date: 2026-12-04 18:00:00
"""
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0013_room_identity'
down_revision = '0012_payment_exceptions'
branch_labels = None
depends_on = None

_PENDING_TTL = timedelta(hours=24)
_AMOUNTS = (101, 999)

_accounts = sa.table(
    'room_account',
    sa.column('id', sa.BigInteger), sa.column('user_id', sa.BigInteger), sa.column('identifier', sa.String),
    sa.column('identifier_key', sa.String), sa.column('status', sa.String),
    sa.column('verification_amount', sa.BigInteger), sa.column('verification_expires_at', sa.DateTime(timezone=True)),
    sa.column('verified_by', sa.String), sa.column('verified_at', sa.DateTime(timezone=True)),
)
_transfers = sa.table(
    'room_transfer',
    sa.column('id', sa.BigInteger), sa.column('direction', sa.String), sa.column('status', sa.String),
    sa.column('user_id', sa.BigInteger), sa.column('counterparty', sa.String), sa.column('amount', sa.BigInteger),
    sa.column('occurred_at', sa.DateTime(timezone=True)),
)


def _key(spelling: str) -> str:
    return spelling.lower() if "@" in spelling else spelling


def _spellings(bind, row) -> tuple[str | None, set[str]]:
    """(the verifying transfer's sender, every sender credited to the owner) equal to ``row`` ignoring case."""
    credited = bind.execute(
        sa.select(_transfers.c.counterparty, _transfers.c.amount)
        .where(_transfers.c.direction == 'in', _transfers.c.status == 'credited',
               _transfers.c.user_id == row.user_id)
        .order_by(_transfers.c.occurred_at, _transfers.c.id)
    ).all()
    same = [(c.strip(), a) for c, a in credited if c.strip().lower() == row.identifier.lower()]
    verifying = next((c for c, a in same if a == row.verification_amount), None) if row.verified_by == 'transfer' \
        else None
    return verifying, {c for c, _ in same}


def _repair(bind) -> None:
    now = datetime.now(UTC)
    rows = bind.execute(sa.select(_accounts).order_by(_accounts.c.id)).all()
    taken: set[tuple[str, int]] = set()  # (key, amount) of pending rows, kept unique
    for row in rows:
        verifying, seen = _spellings(bind, row)
        spelling = verifying or (next(iter(seen)) if len(seen) == 1 else row.identifier)
        values = {'identifier': spelling, 'identifier_key': _key(spelling)}
        proven = verifying is not None or len(seen) == 1
        case_matters = "@" not in spelling and spelling.lower() != spelling.upper()
        if row.status == 'verified' and case_matters and not proven:
            values.update(status='pending', verified_by=None, verified_at=None)
        if values.get('status', row.status) == 'pending':
            amount = row.verification_amount
            while (values['identifier_key'], amount) in taken:
                amount = secrets.randbelow(_AMOUNTS[1] - _AMOUNTS[0] + 1) + _AMOUNTS[0]
            taken.add((values['identifier_key'], amount))
            values.update(verification_amount=amount, verification_expires_at=now + _PENDING_TTL)
        bind.execute(sa.update(_accounts).where(_accounts.c.id == row.id).values(**values))


def upgrade():
    with op.batch_alter_table('room_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identifier_key', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('verification_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index('uq_room_account_pending_amount')
    _repair(op.get_bind())
    with op.batch_alter_table('room_account', schema=None) as batch_op:
        batch_op.alter_column('identifier_key', existing_type=sa.String(length=254), nullable=False)
        batch_op.drop_constraint('uq_room_account_identifier', type_='unique')
        batch_op.create_unique_constraint('uq_room_account_user_key', ['user_id', 'identifier_key'])
        batch_op.create_index(batch_op.f('ix_room_account_identifier_key'), ['identifier_key'], unique=False)
        batch_op.create_index('uq_room_account_verified_key', ['identifier_key'], unique=True,
                              sqlite_where=sa.text("status = 'verified'"),
                              postgresql_where=sa.text("status = 'verified'"))
        batch_op.create_index('uq_room_account_pending_amount', ['identifier_key', 'verification_amount'],
                              unique=True, sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    # Back to one lower-cased identifier per room account: registrations that would collide are dropped
    # (the oldest verified one, else the oldest, is kept).
    bind = op.get_bind()
    rows = bind.execute(sa.select(_accounts).order_by(
        sa.case((_accounts.c.status == 'verified', 0), else_=1), _accounts.c.id)).all()
    kept: set[str] = set()
    amounts: set[int] = set()
    for row in rows:
        lowered = row.identifier.lower()
        if lowered in kept:
            bind.execute(sa.delete(_accounts).where(_accounts.c.id == row.id))
            continue
        kept.add(lowered)
        values = {'identifier': lowered}
        if row.status == 'pending':
            amount = row.verification_amount
            while amount in amounts:
                amount = secrets.randbelow(_AMOUNTS[1] - _AMOUNTS[0] + 1) + _AMOUNTS[0]
            amounts.add(amount)
            values['verification_amount'] = amount
        bind.execute(sa.update(_accounts).where(_accounts.c.id == row.id).values(**values))
    with op.batch_alter_table('room_account', schema=None) as batch_op:
        batch_op.drop_index('uq_room_account_pending_amount')
        batch_op.drop_index('uq_room_account_verified_key')
        batch_op.drop_index(batch_op.f('ix_room_account_identifier_key'))
        batch_op.drop_constraint('uq_room_account_user_key', type_='unique')
        batch_op.create_unique_constraint('uq_room_account_identifier', ['identifier'])
        batch_op.drop_column('verification_expires_at')
        batch_op.drop_column('identifier_key')
    with op.batch_alter_table('room_account', schema=None) as batch_op:
        batch_op.create_index('uq_room_account_pending_amount', ['verification_amount'], unique=True,
                              sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
