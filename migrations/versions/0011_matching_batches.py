"""Deposits waiting for a seller, in arrival order: ix_deposit_waiting.

A matcher takes the oldest deposits still waiting (``matching``, no hold yet)
together, ``FOR UPDATE SKIP LOCKED``.  ix_deposit_status holds every deposit
ever made under its status, unordered by id: finding the oldest waiting ones
sorted all of them.  This partial index holds only the waiting ones, by id,
so the claim reads the first entries and stops, however long the history is.

Revision ID: 0011_matching_batches
Revises: 0010_perf
Create Date: 2026-11-29 11:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_matching_batches'
down_revision = '0010_perf'
branch_labels = None
depends_on = None

_WHERE = "status = 'matching' AND hold_transfer_id IS NULL"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: buyers keep creating deposits while the index is built (outside the migration's transaction)
        with op.get_context().autocommit_block():
            op.create_index('ix_deposit_waiting', 'deposit', ['id'], unique=False,
                            postgresql_where=sa.text(_WHERE), postgresql_concurrently=True)
    else:
        op.create_index('ix_deposit_waiting', 'deposit', ['id'], unique=False, sqlite_where=sa.text(_WHERE))


def downgrade():
    op.drop_index('ix_deposit_waiting', table_name='deposit')
