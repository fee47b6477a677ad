"""The ops area: per-user limits, KYC notes, stored ledger verification results.

Revision ID: 0007_admin_core
Revises: 0005_market
Create Date: 2026-11-28 10:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_admin_core'
down_revision = '0006_notifications'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('user_limit',
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('deposit_daily_kopecks', sa.BigInteger(), nullable=True),
    sa.Column('cashout_daily_cents', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', _ID, nullable=True),
    sa.CheckConstraint('deposit_daily_kopecks IS NULL OR deposit_daily_kopecks > 0', name=op.f('ck_user_limit_deposit_positive')),
    sa.CheckConstraint('cashout_daily_cents IS NULL OR cashout_daily_cents > 0', name=op.f('ck_user_limit_cashout_positive')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_limit_user_id_user')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_user_limit_updated_by_id_user')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_limit'))
    )
    op.create_table('ledger_check',
    sa.Column('id', _ID, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('accounts', sa.BigInteger(), nullable=False),
    sa.Column('transfers', sa.BigInteger(), nullable=False),
    sa.Column('violations', sa.Integer(), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', _ID, nullable=True),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_ledger_check_requested_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_check'))
    )
    with op.batch_alter_table('ledger_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_check_at'), ['at'], unique=False)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kyc_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('kyc_reviewed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('kyc_reviewed_at')
        batch_op.drop_column('kyc_note')
    with op.batch_alter_table('ledger_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_check_at'))
    op.drop_table('ledger_check')
    op.drop_table('user_limit')
