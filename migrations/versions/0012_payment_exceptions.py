"""Payment exceptions: money a seller received that no invoice covers (a second payment, an overpayment,
a payment to an ended invoice that cannot be settled), once per provider event; and the buyer's
notification kind for them.

Revision ID: 0012_payment_exceptions
Revises: 0011_matching_batches
Create Date: 2026-12-04 18:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_payment_exceptions'
down_revision = '0011_matching_batches'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
OLD_KINDS = ("'credit_received', 'invoice_paid', 'invoice_sold', 'request_filled', 'form_failing', "
             "'cash_out_sent', 'cash_out_failed', 'dispute_opened', 'dispute_resolved'")
NEW_KINDS = OLD_KINDS + ", 'payment_exception'"


def _notification_kinds(kinds: str) -> None:
    # batch mode: SQLite rebuilds the table with the new CHECK, PostgreSQL alters it in place
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notification_kind_known'), type_='check')
        batch_op.create_check_constraint('kind_known', f"kind IN ({kinds})")


def upgrade():
    op.create_table('payment_exception',
    sa.Column('id', ID, nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('event_key', sa.String(length=160), nullable=False),
    sa.Column('provider_event_id', ID, nullable=True),
    sa.Column('deposit_id', ID, nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('amount_kopecks', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('resolved_by_id', ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("reason IN ('second_payment', 'overpayment', 'unsettled')",
                       name=op.f('ck_payment_exception_reason_known')),
    sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f('ck_payment_exception_status_known')),
    sa.CheckConstraint("resolution IS NULL OR resolution IN ('refunded', 'credited')",
                       name=op.f('ck_payment_exception_resolution_known')),
    sa.CheckConstraint("(status = 'resolved') = (resolution IS NOT NULL AND resolved_at IS NOT NULL)",
                       name=op.f('ck_payment_exception_resolved_consistent')),
    sa.CheckConstraint('amount_kopecks > 0', name=op.f('ck_payment_exception_amount_positive')),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposit.id'], name=op.f('fk_payment_exception_deposit_id_deposit')),
    sa.ForeignKeyConstraint(['provider_event_id'], ['provider_event.id'], ondelete='SET NULL',
                            name=op.f('fk_payment_exception_provider_event_id_provider_event')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['user.id'], name=op.f('fk_payment_exception_resolved_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_exception')),
    sa.UniqueConstraint('provider', 'event_key', name='uq_payment_exception_event')
    )
    with op.batch_alter_table('payment_exception', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_exception_deposit_id'), ['deposit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_exception_provider_event_id'), ['provider_event_id'],
                              unique=False)
        batch_op.create_index('ix_payment_exception_open', ['created_at'], unique=False,
                              sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    _notification_kinds(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notification_delivery WHERE notification_id IN "
               "(SELECT id FROM notification WHERE kind = 'payment_exception')")
    op.execute("DELETE FROM notification WHERE kind = 'payment_exception'")
    _notification_kinds(OLD_KINDS)
    op.drop_table('payment_exception')
