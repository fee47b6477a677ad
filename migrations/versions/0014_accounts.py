"""Accounts: the per-account sign-in slow-down, staff 2FA setup links, and the "failed sign-ins" notification.

Revision ID: 0014_accounts
Revises: 0013_room_identity
Create Date: 2026-12-04 18:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0014_accounts'
down_revision = '0013_room_identity'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
OLD_KINDS = ("'credit_received', 'invoice_paid', 'invoice_sold', 'request_filled', 'form_failing', "
             "'cash_out_sent', 'cash_out_failed', 'dispute_opened', 'dispute_resolved', 'payment_exception'")
NEW_KINDS = OLD_KINDS + ", 'login_failures'"


def _notification_kinds(kinds: str) -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_notification_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_notification_kind_known'), f"kind IN ({kinds})")


def upgrade():
    op.create_table('login_throttle',
    sa.Column('email_key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('device_password_spent', sa.Boolean(), nullable=False),
    sa.Column('device_code_spent', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('failures >= 0', name=op.f('ck_login_throttle_failures_nonneg')),
    sa.PrimaryKeyConstraint('email_key', name=op.f('pk_login_throttle'))
    )
    op.create_table('staff_setup_token',
    sa.Column('id', ID, nullable=False),
    sa.Column('user_id', ID, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_by_id', ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['issued_by_id'], ['user.id'], name=op.f('fk_staff_setup_token_issued_by_id_user')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_staff_setup_token_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_setup_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_setup_token_token_hash'))
    )
    op.create_index(op.f('ix_staff_setup_token_user_id'), 'staff_setup_token', ['user_id'], unique=False)
    _notification_kinds(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notification_delivery WHERE notification_id IN "
               "(SELECT id FROM notification WHERE kind = 'login_failures')")
    op.execute("DELETE FROM notification WHERE kind = 'login_failures'")
    _notification_kinds(OLD_KINDS)
    op.drop_index(op.f('ix_staff_setup_token_user_id'), table_name='staff_setup_token')
    op.drop_table('staff_setup_token')
    op.drop_table('login_throttle')
