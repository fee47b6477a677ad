"""API forms' own limits (rubles and invoices per day, a gap between invoices, working hours in the seller's zone),
and the moment each deposit's invoice took its form, which the daily limits count by.

The limit columns are all NULL (no limit) on existing forms; their CHECKs are the
database's half of the seller's form validation.  ``deposit.reserved_at`` is set by
matching with every new attempt; for deposits reserved before this migration it is the
creation time of their hold (the hold is made in the reserving transaction).  Index
``ix_deposit_form_reserved`` serves "this form's invoices since the start of the
seller's day".

SQLite: plain ``ADD COLUMN`` with the CHECKs inline (a batch copy of ``deposit`` would
have to rebuild its partial indexes), each CHECK named as the model names it.

Revision ID: 0022_form_limits
Revises: 0021_telegram_link
Create Date: 2026-12-07 14:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0022_form_limits'
down_revision = '0021_telegram_link'
branch_labels = None
depends_on = None

#: (column, its SQL type, its CHECKs as (name, condition)); the hours' pair-wise CHECKs ride on the end column
_FORM_COLUMNS = [
    ('limit_day_kopecks', 'BIGINT', [('limit_day_kopecks_nonneg', 'limit_day_kopecks >= 0')]),
    ('limit_day_invoices', 'INTEGER', [('limit_day_invoices_nonneg', 'limit_day_invoices >= 0')]),
    ('limit_gap_minutes', 'INTEGER', [('limit_gap_range', 'limit_gap_minutes BETWEEN 0 AND 1440')]),
    ('hours_start_minute', 'INTEGER', [('hours_start_range', 'hours_start_minute BETWEEN 0 AND 1439')]),
    ('hours_end_minute', 'INTEGER', [
        ('hours_end_range', 'hours_end_minute BETWEEN 0 AND 1439'),
        ('hours_both', '(hours_start_minute IS NULL) = (hours_end_minute IS NULL)'),
        ('hours_differ', 'hours_start_minute <> hours_end_minute'),
    ]),
]
_TZ_CHECK = ('limits_timezone_set', 'length(limits_timezone) BETWEEN 1 AND 64')

_BACKFILL = (
    "UPDATE deposit SET reserved_at = (SELECT created_at FROM ledger_transfer WHERE ledger_transfer.id ="
    " deposit.hold_transfer_id) WHERE hold_transfer_id IS NOT NULL"
)


def _ck(name: str) -> str:
    return f'ck_payment_form_{name}'


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for column, sql_type, checks in _FORM_COLUMNS:
            constraints = " ".join(f"CONSTRAINT {_ck(name)} CHECK ({condition})" for name, condition in checks)
            op.execute(f"ALTER TABLE payment_form ADD COLUMN {column} {sql_type} {constraints}")
        op.execute("ALTER TABLE payment_form ADD COLUMN limits_timezone VARCHAR(64) NOT NULL DEFAULT 'Europe/Moscow' "
                   f"CONSTRAINT {_ck(_TZ_CHECK[0])} CHECK ({_TZ_CHECK[1]})")
        op.execute("ALTER TABLE deposit ADD COLUMN reserved_at DATETIME")
    else:
        for column, sql_type, _checks in _FORM_COLUMNS:
            op.add_column('payment_form', sa.Column(column, sa.BigInteger() if sql_type == 'BIGINT' else sa.Integer(),
                                                    nullable=True))
        op.add_column('payment_form', sa.Column('limits_timezone', sa.String(length=64), nullable=False,
                                                server_default='Europe/Moscow'))
        for _column, _type, checks in _FORM_COLUMNS:
            for name, condition in checks:
                op.create_check_constraint(op.f(_ck(name)), 'payment_form', condition)
        op.create_check_constraint(op.f(_ck(_TZ_CHECK[0])), 'payment_form', _TZ_CHECK[1])
        op.add_column('deposit', sa.Column('reserved_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(_BACKFILL)
    op.create_index('ix_deposit_form_reserved', 'deposit', ['payment_form_id', 'reserved_at'], unique=False)


def downgrade():
    op.drop_index('ix_deposit_form_reserved', table_name='deposit')
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite drops a column with a CHECK only if the CHECK names no other column; the end's pair-wise CHECKs
        # name the start, so the end goes first.
        op.execute("ALTER TABLE deposit DROP COLUMN reserved_at")
        op.execute("ALTER TABLE payment_form DROP COLUMN limits_timezone")
        for column, _type, _checks in reversed(_FORM_COLUMNS):
            op.execute(f"ALTER TABLE payment_form DROP COLUMN {column}")
        return
    op.drop_column('deposit', 'reserved_at')
    for _column, _type, checks in _FORM_COLUMNS:
        for name, _condition in checks:
            op.drop_constraint(op.f(_ck(name)), 'payment_form', type_='check')
    op.drop_constraint(op.f(_ck(_TZ_CHECK[0])), 'payment_form', type_='check')
    for column, _type, _checks in _FORM_COLUMNS:
        op.drop_column('payment_form', column)
    op.drop_column('payment_form', 'limits_timezone')
