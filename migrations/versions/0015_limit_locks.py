"""The KYC threshold: one cash-out or withdrawal request above it needs a passed KYC.

``platform_settings.kyc_threshold_cents`` (default $1,000, positive).  The
limits themselves need no schema: they are read under the user's row lock
(app.people.user_limits.lock_owner).  Settings rows are never updated (a
trigger refuses it), so the column is added in place: SQLite's own
``ADD COLUMN`` with its CHECK, not a batch copy, which would drop the trigger.

Revision ID: 0015_limit_locks
Revises: 0014_accounts
Create Date: 2026-12-04 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_limit_locks'
down_revision = '0014_accounts'
branch_labels = None
depends_on = None

_CHECK = 'ck_platform_settings_kyc_threshold_positive'


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE platform_settings ADD COLUMN kyc_threshold_cents BIGINT NOT NULL DEFAULT 100000 "
                   f"CONSTRAINT {_CHECK} CHECK (kyc_threshold_cents > 0)")
        return
    op.add_column('platform_settings', sa.Column('kyc_threshold_cents', sa.BigInteger(), nullable=False,
                                                 server_default='100000'))
    op.create_check_constraint(op.f(_CHECK), 'platform_settings', 'kyc_threshold_cents > 0')


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE platform_settings DROP COLUMN kyc_threshold_cents")
        return
    op.drop_constraint(op.f(_CHECK), 'platform_settings', type_='check')
    op.drop_column('platform_settings', 'kyc_threshold_cents')
