"""Telegram without typing a chat id: one-time start tokens, the bot's updates (once each), the poll offset.

Revision ID: 0021_telegram_link
Revises: 0019_proof_of_reserves
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0021_telegram_link'
down_revision = '0019_proof_of_reserves'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UNUSED = "used_at IS NULL"
OPEN_REPLY = "status IN ('pending', 'sending')"


def upgrade():
    op.create_table('telegram_link_token',
    sa.Column('id', ID, nullable=False),
    sa.Column('user_id', ID, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_chat_id', sa.String(length=32), nullable=True),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_telegram_link_token_expires_after_creation')),
    sa.CheckConstraint('(used_at IS NULL) = (used_chat_id IS NULL)', name=op.f('ck_telegram_link_token_used_with_chat')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_telegram_link_token_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_link_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_telegram_link_token_token_hash'))
    )
    with op.batch_alter_table('telegram_link_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_telegram_link_token_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_telegram_link_token_unused', ['user_id'], unique=True,
                              sqlite_where=sa.text(UNUSED), postgresql_where=sa.text(UNUSED))

    op.create_table('telegram_update',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=32), nullable=True),
    sa.Column('user_id', ID, nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('linked', 'refused', 'ignored')", name=op.f('ck_telegram_update_outcome_known')),
    sa.CheckConstraint("source IN ('webhook', 'polling')", name=op.f('ck_telegram_update_source_known')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_telegram_update_user_id_user')),
    sa.PrimaryKeyConstraint('update_id', name=op.f('pk_telegram_update'))
    )
    op.create_table('telegram_reply',
    sa.Column('id', ID, nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_id', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name=op.f('ck_telegram_reply_status_known')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_telegram_reply_attempts_nonneg')),
    sa.ForeignKeyConstraint(['update_id'], ['telegram_update.update_id'],
                            name=op.f('fk_telegram_reply_update_id_telegram_update')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_reply')),
    sa.UniqueConstraint('update_id', name=op.f('uq_telegram_reply_update_id'))
    )
    with op.batch_alter_table('telegram_reply', schema=None) as batch_op:
        batch_op.create_index('ix_telegram_reply_open', ['status'], unique=False,
                              sqlite_where=sa.text(OPEN_REPLY), postgresql_where=sa.text(OPEN_REPLY))

    op.create_table('telegram_poll_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('next_offset', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_telegram_poll_state_single_row')),
    sa.CheckConstraint('next_offset >= 0', name=op.f('ck_telegram_poll_state_offset_nonneg')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_poll_state'))
    )


def downgrade():
    op.drop_table('telegram_poll_state')
    with op.batch_alter_table('telegram_reply', schema=None) as batch_op:
        batch_op.drop_index('ix_telegram_reply_open', sqlite_where=sa.text(OPEN_REPLY),
                            postgresql_where=sa.text(OPEN_REPLY))
    op.drop_table('telegram_reply')
    op.drop_table('telegram_update')
    with op.batch_alter_table('telegram_link_token', schema=None) as batch_op:
        batch_op.drop_index('uq_telegram_link_token_unused', sqlite_where=sa.text(UNUSED),
                            postgresql_where=sa.text(UNUSED))
        batch_op.drop_index(batch_op.f('ix_telegram_link_token_user_id'))
    op.drop_table('telegram_link_token')
