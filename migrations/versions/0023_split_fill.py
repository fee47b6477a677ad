"""Split fill (issue #20): one purchase as several invoices when no single seller takes it whole.

- ``split_purchase``: the buyer's accepted split (method, total, parts, the accept form's request key, unique);
- ``split_part``: part number → deposit; UNIQUE (split_id, part) and UNIQUE deposit_id, both FKs, the part
  number within the bound.  The parts are ordinary deposits, so the deposit table is not touched;
- ``platform_settings.split_max_parts`` (default 3, 1 … 10; 1 turns splitting off).  Settings rows are never
  updated (a trigger refuses it), so the column is added in place: SQLite's own ``ADD COLUMN`` with its CHECK,
  not a batch copy, which would drop the trigger (as in 0015).

Revision ID: 0023_split_fill
Revises: 0022_form_limits
Create Date: 2026-12-07 14:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0023_split_fill'
down_revision = '0022_form_limits'
branch_labels = None
depends_on = None

_CHECK = 'ck_platform_settings_split_max_parts_range'
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        'split_purchase',
        sa.Column('id', _ID, nullable=False),
        sa.Column('buyer_id', _ID, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount_kopecks', sa.BigInteger(), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('request_key', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount_kopecks > 0', name=op.f('ck_split_purchase_amount_positive')),
        sa.CheckConstraint('parts BETWEEN 2 AND 10', name=op.f('ck_split_purchase_parts_range')),
        sa.ForeignKeyConstraint(['buyer_id'], ['user.id'], name=op.f('fk_split_purchase_buyer_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_split_purchase')),
        sa.UniqueConstraint('request_key', name=op.f('uq_split_purchase_request_key')),
    )
    op.create_index(op.f('ix_split_purchase_buyer_id'), 'split_purchase', ['buyer_id'], unique=False)
    op.create_table(
        'split_part',
        sa.Column('id', _ID, nullable=False),
        sa.Column('split_id', _ID, nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('deposit_id', _ID, nullable=False),
        sa.CheckConstraint('part BETWEEN 1 AND 10', name=op.f('ck_split_part_part_range')),
        sa.ForeignKeyConstraint(['split_id'], ['split_purchase.id'], name=op.f('fk_split_part_split_id_split_purchase')),
        sa.ForeignKeyConstraint(['deposit_id'], ['deposit.id'], name=op.f('fk_split_part_deposit_id_deposit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_split_part')),
        sa.UniqueConstraint('split_id', 'part', name='uq_split_part_number'),
        sa.UniqueConstraint('deposit_id', name=op.f('uq_split_part_deposit_id')),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE platform_settings ADD COLUMN split_max_parts INTEGER NOT NULL DEFAULT 3 "
                   f"CONSTRAINT {_CHECK} CHECK (split_max_parts BETWEEN 1 AND 10)")
    else:
        op.add_column('platform_settings', sa.Column('split_max_parts', sa.Integer(), nullable=False,
                                                     server_default='3'))
        op.create_check_constraint(op.f(_CHECK), 'platform_settings', 'split_max_parts BETWEEN 1 AND 10')


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE platform_settings DROP COLUMN split_max_parts")
    else:
        op.drop_constraint(op.f(_CHECK), 'platform_settings', type_='check')
        op.drop_column('platform_settings', 'split_max_parts')
    op.drop_table('split_part')
    op.drop_index(op.f('ix_split_purchase_buyer_id'), table_name='split_purchase')
    op.drop_table('split_purchase')
