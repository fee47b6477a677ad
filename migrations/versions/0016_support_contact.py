"""Platform settings: the support contact users are shown (help page, footer, dispute decisions).

A plain column of the versioned settings row, so a change of contact is a new
version with who, when and why like every other setting.  Existing versions
get the empty string: "no contact set yet", which the pages say as such.

Revision ID: 0016_support_contact
Revises: 0015_limit_locks
Create Date: 2026-12-04 18:00:00
"""
from alembic import op
import sqlalchemy as sa

from app.schema_ddl import drop_append_only, forbid_update_and_delete


revision = '0016_support_contact'
down_revision = '0015_limit_locks'
branch_labels = None
depends_on = None


def upgrade():
    # On SQLite an ADD COLUMN with a default is a plain ALTER (batch mode does not copy the table), so the
    # append-only triggers of platform_settings stay as they are.
    with op.batch_alter_table('platform_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('support_contact', sa.String(length=200), nullable=False, server_default=''))


def downgrade():
    # SQLite cannot drop a column in place: batch mode copies the table, and the copy has no triggers.  Drop
    # them first and make them again on the copy, so the settings stay append-only.
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        drop_append_only("platform_settings")
    with op.batch_alter_table('platform_settings', schema=None) as batch_op:
        batch_op.drop_column('support_contact')
    if sqlite:
        forbid_update_and_delete("platform_settings")
