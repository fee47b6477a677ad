"""Disputes with evidence and a conversation: the case (the seller's deadline and escalation), its thread,
the files in it; the ops setting for the seller's time to answer; the seller's notification kind.

Disputes already open when this runs get a case whose deadline starts now (so no seller is
escalated for a time they never had).

Revision ID: 0024_dispute_threads
Revises: 0023_split_fill
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa

from app.schema_ddl import drop_append_only, forbid_update_and_delete


revision = '0024_dispute_threads'
down_revision = '0023_split_fill'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
OLD_KINDS = ("'credit_received', 'invoice_paid', 'invoice_sold', 'request_filled', 'form_failing', "
             "'cash_out_sent', 'cash_out_failed', 'dispute_opened', 'dispute_resolved', 'payment_exception', "
             "'login_failures'")
NEW_KINDS = OLD_KINDS + ", 'dispute_answer_requested'"
DEFAULT_ANSWER_SECONDS = 86_400


def _notification_kinds(kinds: str) -> None:
    # batch mode: SQLite rebuilds the table with the new CHECK, PostgreSQL alters it in place
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notification_kind_known'), type_='check')
        batch_op.create_check_constraint('kind_known', f"kind IN ({kinds})")


def _settings_table(change) -> None:
    """Alter platform_settings keeping it append-only: SQLite's batch copy has no triggers, so make them again."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        drop_append_only("platform_settings")
    with op.batch_alter_table('platform_settings', schema=None) as batch_op:
        change(batch_op)
    if sqlite:
        forbid_update_and_delete("platform_settings")


def upgrade():
    def add_answer_time(batch_op):
        batch_op.add_column(sa.Column('dispute_answer_seconds', sa.Integer(), nullable=False,
                                      server_default=str(DEFAULT_ANSWER_SECONDS)))
        batch_op.create_check_constraint('dispute_answer_range', 'dispute_answer_seconds BETWEEN 3600 AND 604800')

    _settings_table(add_answer_time)

    op.create_table('dispute_case',
    sa.Column('id', ID, nullable=False),
    sa.Column('deposit_id', ID, nullable=False),
    sa.Column('buyer_id', ID, nullable=False),
    sa.Column('seller_id', ID, nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('answer_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('awaiting_seller', 'answered', 'escalated')",
                       name=op.f('ck_dispute_case_status_known')),
    sa.CheckConstraint("(status = 'answered') = (answered_at IS NOT NULL)",
                       name=op.f('ck_dispute_case_answered_consistent')),
    sa.CheckConstraint("(status = 'escalated') = (escalated_at IS NOT NULL)",
                       name=op.f('ck_dispute_case_escalated_consistent')),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposit.id'], name=op.f('fk_dispute_case_deposit_id_deposit')),
    sa.ForeignKeyConstraint(['buyer_id'], ['user.id'], name=op.f('fk_dispute_case_buyer_id_user')),
    sa.ForeignKeyConstraint(['seller_id'], ['user.id'], name=op.f('fk_dispute_case_seller_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_case')),
    sa.UniqueConstraint('deposit_id', name=op.f('uq_dispute_case_deposit_id')),
    )
    with op.batch_alter_table('dispute_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_case_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispute_case_seller_id'), ['seller_id'], unique=False)
        batch_op.create_index('ix_dispute_case_waiting', ['answer_due_at'], unique=False,
                              sqlite_where=sa.text("status = 'awaiting_seller'"),
                              postgresql_where=sa.text("status = 'awaiting_seller'"))

    op.create_table('dispute_message',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('author_id', ID, nullable=False),
    sa.Column('author_role', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('request_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("author_role IN ('buyer', 'seller', 'ops')", name=op.f('ck_dispute_message_author_role_known')),
    sa.CheckConstraint('length(body) <= 2000', name=op.f('ck_dispute_message_body_length')),
    sa.ForeignKeyConstraint(['case_id'], ['dispute_case.id'], name=op.f('fk_dispute_message_case_id_dispute_case')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_dispute_message_author_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_message')),
    sa.UniqueConstraint('request_key', name=op.f('uq_dispute_message_request_key')),
    )
    with op.batch_alter_table('dispute_message', schema=None) as batch_op:
        batch_op.create_index('ix_dispute_message_thread', ['case_id', 'id'], unique=False)

    op.create_table('dispute_file',
    sa.Column('id', ID, nullable=False),
    sa.Column('message_id', ID, nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("content_type IN ('image/png', 'image/jpeg', 'application/pdf')",
                       name=op.f('ck_dispute_file_content_type_known')),
    sa.CheckConstraint('size_bytes > 0', name=op.f('ck_dispute_file_size_positive')),
    sa.CheckConstraint('length(sha256) = 64', name=op.f('ck_dispute_file_sha256_length')),
    sa.ForeignKeyConstraint(['message_id'], ['dispute_message.id'],
                            name=op.f('fk_dispute_file_message_id_dispute_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_file')),
    sa.UniqueConstraint('message_id', name=op.f('uq_dispute_file_message_id')),
    sa.UniqueConstraint('token', name=op.f('uq_dispute_file_token')),
    )

    # Disputes open now: a case each, the seller's time starting now.
    bind = op.get_bind()
    due = ("now() + interval '86400 seconds'" if bind.dialect.name == "postgresql"
           else "strftime('%Y-%m-%d %H:%M:%f', 'now', '+86400 seconds')")
    now = "now()" if bind.dialect.name == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    op.execute(
        "INSERT INTO dispute_case (deposit_id, buyer_id, seller_id, status, answer_due_at, created_at, updated_at) "
        f"SELECT d.id, d.buyer_id, w.seller_id, 'awaiting_seller', {due}, {now}, {now} "
        "FROM deposit d LEFT JOIN withdrawal_request w ON w.id = d.withdrawal_id WHERE d.status = 'disputed'"
    )
    _notification_kinds(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notification_delivery WHERE notification_id IN "
               "(SELECT id FROM notification WHERE kind = 'dispute_answer_requested')")
    op.execute("DELETE FROM notification WHERE kind = 'dispute_answer_requested'")
    _notification_kinds(OLD_KINDS)
    op.drop_table('dispute_file')
    with op.batch_alter_table('dispute_message', schema=None) as batch_op:
        batch_op.drop_index('ix_dispute_message_thread')
    op.drop_table('dispute_message')
    with op.batch_alter_table('dispute_case', schema=None) as batch_op:
        batch_op.drop_index('ix_dispute_case_waiting', sqlite_where=sa.text("status = 'awaiting_seller'"),
                            postgresql_where=sa.text("status = 'awaiting_seller'"))
        batch_op.drop_index(batch_op.f('ix_dispute_case_seller_id'))
        batch_op.drop_index(batch_op.f('ix_dispute_case_buyer_id'))
    op.drop_table('dispute_case')

    def drop_answer_time(batch_op):
        batch_op.drop_constraint(op.f('ck_platform_settings_dispute_answer_range'), type_='check')
        batch_op.drop_column('dispute_answer_seconds')

    _settings_table(drop_answer_time)
