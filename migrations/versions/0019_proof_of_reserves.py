"""Proof of reserves: published snapshots (Merkle sum root, total, room balance, signature) and their leaves.

Both tables are append-only: a published snapshot and its leaves never change, or a user's
downloaded proof could stop matching what the public page shows.  A leaf's balance is never
negative, one leaf per user and per position in a snapshot.

Revision ID: 0019_proof_of_reserves
Revises: 0016_support_contact
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa

from app.schema_ddl import drop_append_only, forbid_update_and_delete


revision = '0019_proof_of_reserves'
down_revision = '0016_support_contact'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('reserve_snapshot',
    sa.Column('id', ID, nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_at_text', sa.String(length=40), nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('total_liabilities', sa.BigInteger(), nullable=False),
    sa.Column('leaf_count', sa.Integer(), nullable=False),
    sa.Column('room_balance', sa.BigInteger(), nullable=False),
    sa.Column('room_balance_source', sa.String(length=16), nullable=False),
    sa.Column('published_by_id', ID, nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.CheckConstraint('total_liabilities >= 0', name=op.f('ck_reserve_snapshot_total_nonneg')),
    sa.CheckConstraint('room_balance >= 0', name=op.f('ck_reserve_snapshot_room_balance_nonneg')),
    sa.CheckConstraint('leaf_count >= 1', name=op.f('ck_reserve_snapshot_has_leaves')),
    sa.CheckConstraint('length(root_hash) = 64', name=op.f('ck_reserve_snapshot_root_hash_is_sha256')),
    sa.CheckConstraint('length(signature) = 128', name=op.f('ck_reserve_snapshot_signature_is_ed25519')),
    sa.CheckConstraint('length(public_key) = 64', name=op.f('ck_reserve_snapshot_public_key_is_ed25519')),
    sa.CheckConstraint("room_balance_source IN ('room_api', 'entered_by_ops')",
                       name=op.f('ck_reserve_snapshot_room_balance_source_known')),
    sa.ForeignKeyConstraint(['published_by_id'], ['user.id'], name=op.f('fk_reserve_snapshot_published_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reserve_snapshot')),
    )
    with op.batch_alter_table('reserve_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reserve_snapshot_taken_at'), ['taken_at'], unique=False)

    op.create_table('reserve_leaf',
    sa.Column('id', ID, nullable=False),
    sa.Column('snapshot_id', ID, nullable=False),
    sa.Column('user_id', ID, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_reserve_leaf_balance_nonneg')),
    sa.CheckConstraint('position >= 0', name=op.f('ck_reserve_leaf_position_nonneg')),
    sa.CheckConstraint('length(salt) = 64', name=op.f('ck_reserve_leaf_salt_is_32_bytes')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['reserve_snapshot.id'],
                            name=op.f('fk_reserve_leaf_snapshot_id_reserve_snapshot')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_reserve_leaf_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reserve_leaf')),
    sa.UniqueConstraint('snapshot_id', 'user_id', name='uq_reserve_leaf_snapshot_user'),
    sa.UniqueConstraint('snapshot_id', 'position', name='uq_reserve_leaf_snapshot_position'),
    )
    with op.batch_alter_table('reserve_leaf', schema=None) as batch_op:
        batch_op.create_index('ix_reserve_leaf_user_id', ['user_id'], unique=False)

    forbid_update_and_delete('reserve_snapshot')
    forbid_update_and_delete('reserve_leaf')


def downgrade():
    drop_append_only('reserve_leaf')
    drop_append_only('reserve_snapshot')
    op.drop_table('reserve_leaf')
    op.drop_table('reserve_snapshot')
