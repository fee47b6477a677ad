"""Platform settings, versioned: every change is a new row, the newest row is in force.

Rows are never updated (a trigger refuses it), so each quote and each credit can
name the settings version it used, and ops can see who changed what and when.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.database import BigIntPK, UTCDateTime, utcnow
from app.extensions import db

PROVIDER_KINDS = ("yoomoney", "yookassa", "tbank")


class PlatformSettings(db.Model):
    __tablename__ = "platform_settings"
    __table_args__ = (
        sa.CheckConstraint("commission_bps >= 0 AND commission_bps < 10000", name="commission_range"),
        sa.CheckConstraint("commission_min_cents >= 0", name="commission_min_nonneg"),
        sa.CheckConstraint("buyer_fee_bps >= 0 AND buyer_fee_bps < 10000", name="buyer_fee_range"),
        sa.CheckConstraint(
            "rate_yoomoney_kopecks > 0 AND rate_yookassa_kopecks > 0 AND rate_tbank_kopecks > 0", name="rates_positive"
        ),
        sa.CheckConstraint("invoice_lifetime_seconds BETWEEN 60 AND 86400", name="lifetime_range"),
        sa.CheckConstraint("invoice_min_kopecks > 0 AND invoice_max_kopecks >= invoice_min_kopecks", name="invoice_bounds"),
        sa.CheckConstraint("cashout_min_cents > 0 AND cashout_daily_limit_cents >= cashout_min_cents", name="cashout_bounds"),
        sa.CheckConstraint("kyc_threshold_cents > 0", name="kyc_threshold_positive"),
        sa.CheckConstraint("split_max_parts BETWEEN 1 AND 10", name="split_max_parts_range"),
        sa.CheckConstraint("dispute_answer_seconds BETWEEN 3600 AND 604800", name="dispute_answer_range"),
    )

    id: so.Mapped[int] = so.mapped_column(BigIntPK, primary_key=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: who made this version (null for the defaults written by the system)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    #: seller commission on room deposits, in basis points (250 = 2.5 %)
    commission_bps: so.Mapped[int] = so.mapped_column(sa.Integer, default=250)
    #: the smallest commission on one room deposit, in cents
    commission_min_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=10)
    #: optional fee the buyer pays on a purchase, in basis points
    buyer_fee_bps: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    #: rubles per game dollar, as kopecks per dollar, for each provider kind
    rate_yoomoney_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=9500)
    rate_yookassa_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=9600)
    rate_tbank_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=9600)
    invoice_lifetime_seconds: so.Mapped[int] = so.mapped_column(sa.Integer, default=900)
    invoice_min_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=10_000)
    invoice_max_kopecks: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=15_000_000)
    cashout_min_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=100)
    cashout_daily_limit_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=500_000)
    #: one cash-out or withdrawal request above this needs a passed KYC (app.people.kyc), cents
    kyc_threshold_cents: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=100_000, server_default="100000")
    #: at most this many invoices (sellers) one purchase may be split into when no single seller takes it
    #: whole (app.market.split_fill); 1 turns splitting off
    split_max_parts: so.Mapped[int] = so.mapped_column(sa.Integer, default=3, server_default="3")
    #: how users reach support (an e-mail, a Telegram @name, a link), shown in help, the footer and disputes;
    #: "" until ops set one
    support_contact: so.Mapped[str] = so.mapped_column(sa.String(200), default="", server_default="")
    #: how long the seller has to answer a dispute before it goes to ops without their word (1 h to 7 days)
    dispute_answer_seconds: so.Mapped[int] = so.mapped_column(sa.Integer, default=86_400, server_default="86400")

    def rate_for(self, provider_kind: str) -> int:
        if provider_kind not in PROVIDER_KINDS:
            raise KeyError(provider_kind)
        return getattr(self, f"rate_{provider_kind}_kopecks")

    #: the columns an admin may change (everything but identity and authorship)
    EDITABLE = (
        "commission_bps", "commission_min_cents", "buyer_fee_bps", "rate_yoomoney_kopecks",
        "rate_yookassa_kopecks", "rate_tbank_kopecks", "invoice_lifetime_seconds", "invoice_min_kopecks",
        "invoice_max_kopecks", "cashout_min_cents", "cashout_daily_limit_cents", "kyc_threshold_cents",
        "support_contact", "split_max_parts", "dispute_answer_seconds",
    )
