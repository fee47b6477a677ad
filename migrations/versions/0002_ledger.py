"""The ledger: accounts with cached sums, immutable transfers, and their database guarantees.

Revision ID: 0002_ledger
Revises: 0001_users_audit
Create Date: 2026-11-28 04:00:00

Platform accounts are not created here: the code creates them on first use
(an emptied database needs no seeding).
"""
from alembic import op
import sqlalchemy as sa

from app.schema_ddl import (
    allow_only_status_change,
    drop_ledger_resolution_guard,
    drop_status_change_guard,
    guard_ledger_resolutions,
)


# revision identifiers, used by Alembic.
revision = '0002_ledger'
down_revision = '0001_users_audit'
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

#: every column of ledger_transfer but ``status``: none of them may ever change
TRANSFER_COLUMNS = [
    'id', 'key', 'debit_account_id', 'credit_account_id', 'asset', 'amount', 'kind', 'phase',
    'pending_id', 'timeout_at', 'memo', 'event', 'created_at',
]


def upgrade():
    op.create_table('ledger_account',
    sa.Column('id', BigIntPK, nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('asset', sa.String(length=3), nullable=False),
    sa.Column('owner_id', BigIntPK, nullable=True),
    sa.Column('debits_must_not_exceed_credits', sa.Boolean(), nullable=False),
    sa.Column('credits_must_not_exceed_debits', sa.Boolean(), nullable=False),
    sa.Column('debits_posted', sa.BigInteger(), nullable=False),
    sa.Column('credits_posted', sa.BigInteger(), nullable=False),
    sa.Column('debits_pending', sa.BigInteger(), nullable=False),
    sa.Column('credits_pending', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(
        "kind IN ('wallet', 'escrow', 'room_omnibus', 'fee_revenue', 'cashouts_in_flight', "
        "'unmatched_incoming', 'adjustments')", name=op.f('ck_ledger_account_kind_known')),
    sa.CheckConstraint("asset IN ('USD', 'RUB')", name=op.f('ck_ledger_account_asset_known')),
    sa.CheckConstraint('debits_posted >= 0', name=op.f('ck_ledger_account_debits_posted_nonneg')),
    sa.CheckConstraint('credits_posted >= 0', name=op.f('ck_ledger_account_credits_posted_nonneg')),
    sa.CheckConstraint('debits_pending >= 0', name=op.f('ck_ledger_account_debits_pending_nonneg')),
    sa.CheckConstraint('credits_pending >= 0', name=op.f('ck_ledger_account_credits_pending_nonneg')),
    sa.CheckConstraint('NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)',
                       name=op.f('ck_ledger_account_one_limit_flag')),
    sa.CheckConstraint('NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted',
                       name=op.f('ck_ledger_account_debits_within_credits')),
    sa.CheckConstraint('NOT credits_must_not_exceed_debits OR credits_posted + credits_pending <= debits_posted',
                       name=op.f('ck_ledger_account_credits_within_debits')),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_ledger_account_owner_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_account')),
    sa.UniqueConstraint('code', name=op.f('uq_ledger_account_code')),
    sa.UniqueConstraint('id', 'asset', name='uq_ledger_account_id_asset'),
    )
    with op.batch_alter_table('ledger_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_account_owner_id'), ['owner_id'], unique=False)

    op.create_table('ledger_transfer',
    sa.Column('id', BigIntPK, nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('debit_account_id', BigIntPK, nullable=False),
    sa.Column('credit_account_id', BigIntPK, nullable=False),
    sa.Column('asset', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('pending_id', BigIntPK, nullable=True),
    sa.Column('timeout_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('memo', sa.String(length=255), nullable=True),
    sa.Column('event', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_ledger_transfer_amount_positive')),
    sa.CheckConstraint('debit_account_id <> credit_account_id', name=op.f('ck_ledger_transfer_accounts_differ')),
    sa.CheckConstraint("phase IN ('single', 'pending', 'post_pending', 'void_pending')",
                       name=op.f('ck_ledger_transfer_phase_known')),
    sa.CheckConstraint("status IN ('pending', 'posted', 'voided', 'expired')",
                       name=op.f('ck_ledger_transfer_status_known')),
    sa.CheckConstraint(
        "(phase IN ('single', 'pending') AND pending_id IS NULL)"
        " OR (phase IN ('post_pending', 'void_pending') AND pending_id IS NOT NULL)",
        name=op.f('ck_ledger_transfer_pending_id_iff_resolution')),
    sa.CheckConstraint(
        "(phase = 'single' AND status = 'posted')"
        " OR (phase = 'pending')"
        " OR (phase = 'post_pending' AND status = 'posted')"
        " OR (phase = 'void_pending' AND status = 'voided')",
        name=op.f('ck_ledger_transfer_status_fits_phase')),
    sa.CheckConstraint("timeout_at IS NULL OR phase = 'pending'", name=op.f('ck_ledger_transfer_timeout_only_pending')),
    sa.ForeignKeyConstraint(['debit_account_id', 'asset'], ['ledger_account.id', 'ledger_account.asset'],
                            name='fk_ledger_transfer_debit_account'),
    sa.ForeignKeyConstraint(['credit_account_id', 'asset'], ['ledger_account.id', 'ledger_account.asset'],
                            name='fk_ledger_transfer_credit_account'),
    sa.ForeignKeyConstraint(['pending_id'], ['ledger_transfer.id'],
                            name=op.f('fk_ledger_transfer_pending_id_ledger_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_transfer')),
    sa.UniqueConstraint('key', name=op.f('uq_ledger_transfer_key')),
    sa.UniqueConstraint('pending_id', name=op.f('uq_ledger_transfer_pending_id')),
    )
    with op.batch_alter_table('ledger_transfer', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_transfer_debit_account_id', ['debit_account_id'], unique=False)
        batch_op.create_index('ix_ledger_transfer_credit_account_id', ['credit_account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_transfer_event'), ['event'], unique=False)
        batch_op.create_index('ix_ledger_transfer_open_timeout', ['timeout_at'], unique=False,
                              sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))

    # Immutable rows: only an open hold's status may change, once, to how it was resolved.
    allow_only_status_change(
        'ledger_transfer', unchanged=TRANSFER_COLUMNS,
        when_old="OLD.phase = 'pending' AND OLD.status = 'pending'",
        new_status_in=['posted', 'voided', 'expired'],
    )
    guard_ledger_resolutions()


def downgrade():
    drop_ledger_resolution_guard()
    drop_status_change_guard('ledger_transfer')
    with op.batch_alter_table('ledger_transfer', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_transfer_open_timeout')
        batch_op.drop_index(batch_op.f('ix_ledger_transfer_event'))
        batch_op.drop_index('ix_ledger_transfer_credit_account_id')
        batch_op.drop_index('ix_ledger_transfer_debit_account_id')
    op.drop_table('ledger_transfer')
    with op.batch_alter_table('ledger_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_account_owner_id'))
    op.drop_table('ledger_account')
