"""Manual ledger adjustments awaiting a second person's approval (four eyes).

Revision ID: 0008_admin_money
Revises: 0005_market
Create Date: 2026-11-28 10:20:00

"""
from alembic import op
import sqlalchemy as sa

from app.schema_ddl import drop_append_only, forbid_update_and_delete


# revision identifiers, used by Alembic.
revision = '0008_admin_money'
down_revision = '0007_admin_core'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('ledger_adjustment',
    sa.Column('id', _ID, nullable=False),
    sa.Column('debit_account_id', _ID, nullable=False),
    sa.Column('credit_account_id', _ID, nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by_id', _ID, nullable=False),
    sa.Column('decided_by_id', _ID, nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('transfer_id', _ID, nullable=True),
    sa.Column('request_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('requested', 'approved', 'rejected')", name=op.f('ck_ledger_adjustment_status_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_ledger_adjustment_amount_positive')),
    sa.CheckConstraint('debit_account_id <> credit_account_id', name=op.f('ck_ledger_adjustment_accounts_differ')),
    sa.CheckConstraint('decided_by_id IS NULL OR decided_by_id <> requested_by_id', name=op.f('ck_ledger_adjustment_four_eyes')),
    sa.CheckConstraint("status = 'requested' OR decided_by_id IS NOT NULL", name=op.f('ck_ledger_adjustment_decided_by_someone')),
    sa.ForeignKeyConstraint(['debit_account_id'], ['ledger_account.id'], name=op.f('fk_ledger_adjustment_debit_account_id_ledger_account')),
    sa.ForeignKeyConstraint(['credit_account_id'], ['ledger_account.id'], name=op.f('fk_ledger_adjustment_credit_account_id_ledger_account')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_ledger_adjustment_requested_by_id_user')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_ledger_adjustment_decided_by_id_user')),
    sa.ForeignKeyConstraint(['transfer_id'], ['ledger_transfer.id'], name=op.f('fk_ledger_adjustment_transfer_id_ledger_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_adjustment')),
    sa.UniqueConstraint('request_key', name=op.f('uq_ledger_adjustment_request_key'))
    )
    with op.batch_alter_table('ledger_adjustment', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_adjustment_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_adjustment_requested_by_id'), ['requested_by_id'], unique=False)
    # A decided adjustment is history: it can never change again, and no row is ever deleted.
    forbid_update_and_delete('ledger_adjustment', only_when="OLD.status <> 'requested'")


def downgrade():
    drop_append_only('ledger_adjustment')
    with op.batch_alter_table('ledger_adjustment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_adjustment_requested_by_id'))
        batch_op.drop_index('ix_ledger_adjustment_status')
    op.drop_table('ledger_adjustment')
