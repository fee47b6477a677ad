"""Deposits: a buyer may cancel an open invoice (status ``cancelled``).

Revision ID: 0009_ui_pages
Revises: 0005_market
Create Date: 2026-11-28 10:30:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_ui_pages'
down_revision = '0008_admin_money'
branch_labels = None
depends_on = None

_OLD = "status IN ('matching', 'awaiting_payment', 'paid', 'settled', 'expired', 'failed', 'disputed', 'rejected')"
_NEW = ("status IN ('matching', 'awaiting_payment', 'paid', 'settled', 'expired', 'cancelled', 'failed',"
        " 'disputed', 'rejected')")


def _replace_status_check(sql: str) -> None:
    with op.batch_alter_table('deposit', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_deposit_status_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_deposit_status_known'), sql)


def upgrade():
    _replace_status_check(_NEW)


def downgrade():
    # A cancelled invoice ended like an expired one (hold voided, slot freed); keep its meaning.
    op.execute("UPDATE deposit SET status = 'expired' WHERE status = 'cancelled'")
    _replace_status_check(_OLD)
