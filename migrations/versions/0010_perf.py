"""The queue index skips full requests: ix_withdrawal_queue_open.

Matching takes the first active request of a provider kind that still has an
open-invoice slot.  ix_withdrawal_queue (active requests by kind, queued_at,
id) also holds the full ones, so with a busy queue head every reservation
walked past them (and their rows were locked and re-checked); this partial
index leaves them out, so the first entry is the one taken whatever the
queue's length.  Its WHERE is spelled exactly as matching's conditions, so
that the planner can prove it applies.

Revision ID: 0010_perf
Revises: 0005_market
Create Date: 2026-11-28 10:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_perf'
down_revision = '0009_ui_pages'
branch_labels = None
depends_on = None

_WHERE = "status = 'active' AND open_invoices < max_open_invoices"


def upgrade():
    with op.batch_alter_table('withdrawal_request', schema=None) as batch_op:
        batch_op.create_index('ix_withdrawal_queue_open', ['kind', 'queued_at', 'id'], unique=False,
                              sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE))


def downgrade():
    with op.batch_alter_table('withdrawal_request', schema=None) as batch_op:
        batch_op.drop_index('ix_withdrawal_queue_open', sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE))
