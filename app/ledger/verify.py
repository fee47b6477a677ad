"""Recompute the ledger from its transfers and check every invariant.

Each check is one SQL statement (GROUP BY / joins) that returns only the rows
in violation, so a healthy ledger of any size costs a handful of scans and no
per-row Python.  On PostgreSQL the checks run in one REPEATABLE READ snapshot,
so postings committed meanwhile cannot produce false alarms.

Checks:
- ``cached_sums``: each account's four cached sums equal the sums recomputed
  from transfers (posted = single + post_pending rows; pending = open holds);
- ``asset_totals``: per asset, total debits posted = total credits posted, and
  total pending debits = total pending credits;
- ``limits``: no account flagged as limited is over its limit, no sum negative;
- ``resolutions``: every post/void references a pending transfer with the same
  accounts and asset, posts at most its amount (a void releases exactly it),
  and the pending row's status says how it was resolved;
- ``pending_status``: an open hold has no resolution, a resolved one has exactly one;
- ``transfer_shape``: amount > 0, two different accounts of the transfer's
  asset, phase and status consistent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from app.extensions import db

#: how many offending rows each check reports at most
REPORT_LIMIT = 100


@dataclass(frozen=True)
class Violation:
    check: str
    description: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.description}"


@dataclass
class VerifyReport:
    accounts: int = 0
    transfers: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        return f"ledger verify: {self.accounts} accounts, {self.transfers} transfers, {len(self.violations)} violations"

    def add(self, check: str, description: str) -> None:
        self.violations.append(Violation(check, description))


_CACHED_SUMS = sa.text("""
WITH d AS (
  SELECT debit_account_id AS account_id,
         SUM(CASE WHEN phase IN ('single', 'post_pending') THEN amount ELSE 0 END) AS posted,
         SUM(CASE WHEN phase = 'pending' AND status = 'pending' THEN amount ELSE 0 END) AS pending
  FROM ledger_transfer GROUP BY debit_account_id
), c AS (
  SELECT credit_account_id AS account_id,
         SUM(CASE WHEN phase IN ('single', 'post_pending') THEN amount ELSE 0 END) AS posted,
         SUM(CASE WHEN phase = 'pending' AND status = 'pending' THEN amount ELSE 0 END) AS pending
  FROM ledger_transfer GROUP BY credit_account_id
)
SELECT a.id, a.code,
       a.debits_posted, COALESCE(d.posted, 0) AS debits_posted_real,
       a.credits_posted, COALESCE(c.posted, 0) AS credits_posted_real,
       a.debits_pending, COALESCE(d.pending, 0) AS debits_pending_real,
       a.credits_pending, COALESCE(c.pending, 0) AS credits_pending_real
FROM ledger_account a
LEFT JOIN d ON d.account_id = a.id
LEFT JOIN c ON c.account_id = a.id
WHERE a.debits_posted <> COALESCE(d.posted, 0) OR a.credits_posted <> COALESCE(c.posted, 0)
   OR a.debits_pending <> COALESCE(d.pending, 0) OR a.credits_pending <> COALESCE(c.pending, 0)
ORDER BY a.id
LIMIT :limit
""")

_ASSET_TOTALS = sa.text("""
SELECT asset, COUNT(*) AS accounts,
       COALESCE(SUM(debits_posted), 0) AS debits_posted, COALESCE(SUM(credits_posted), 0) AS credits_posted,
       COALESCE(SUM(debits_pending), 0) AS debits_pending, COALESCE(SUM(credits_pending), 0) AS credits_pending
FROM ledger_account GROUP BY asset ORDER BY asset
""")

_LIMITS = sa.text("""
SELECT id, code, debits_posted, credits_posted, debits_pending, credits_pending
FROM ledger_account
WHERE (debits_must_not_exceed_credits AND debits_posted + debits_pending > credits_posted)
   OR (credits_must_not_exceed_debits AND credits_posted + credits_pending > debits_posted)
   OR debits_posted < 0 OR credits_posted < 0 OR debits_pending < 0 OR credits_pending < 0
ORDER BY id
LIMIT :limit
""")

_RESOLUTIONS = sa.text("""
SELECT r.id, r.key, r.phase, r.amount, r.pending_id, p.phase AS pending_phase, p.status AS pending_status,
       p.amount AS pending_amount
FROM ledger_transfer r
LEFT JOIN ledger_transfer p ON p.id = r.pending_id
WHERE r.pending_id IS NOT NULL AND (
      p.id IS NULL OR p.phase <> 'pending'
   OR r.phase NOT IN ('post_pending', 'void_pending')
   OR r.debit_account_id <> p.debit_account_id OR r.credit_account_id <> p.credit_account_id
   OR r.asset <> p.asset
   OR r.amount > p.amount
   OR (r.phase = 'void_pending' AND r.amount <> p.amount)
   OR (r.phase = 'post_pending' AND p.status <> 'posted')
   OR (r.phase = 'void_pending' AND p.status NOT IN ('voided', 'expired')))
ORDER BY r.id
LIMIT :limit
""")

_PENDING_STATUS = sa.text("""
SELECT p.id, p.key, p.status, COUNT(r.id) AS resolutions
FROM ledger_transfer p
LEFT JOIN ledger_transfer r ON r.pending_id = p.id
WHERE p.phase = 'pending'
GROUP BY p.id, p.key, p.status
HAVING (p.status = 'pending' AND COUNT(r.id) > 0) OR (p.status <> 'pending' AND COUNT(r.id) <> 1)
ORDER BY p.id
LIMIT :limit
""")

_TRANSFER_SHAPE = sa.text("""
SELECT t.id, t.key, t.phase, t.status, t.amount, t.asset, da.asset AS debit_asset, ca.asset AS credit_asset
FROM ledger_transfer t
LEFT JOIN ledger_account da ON da.id = t.debit_account_id
LEFT JOIN ledger_account ca ON ca.id = t.credit_account_id
WHERE t.amount <= 0 OR t.debit_account_id = t.credit_account_id
   OR da.id IS NULL OR ca.id IS NULL OR da.asset <> t.asset OR ca.asset <> t.asset
   OR NOT ((t.phase = 'single' AND t.status = 'posted' AND t.pending_id IS NULL)
        OR (t.phase = 'pending' AND t.status IN ('pending', 'posted', 'voided', 'expired') AND t.pending_id IS NULL)
        OR (t.phase = 'post_pending' AND t.status = 'posted' AND t.pending_id IS NOT NULL)
        OR (t.phase = 'void_pending' AND t.status = 'voided' AND t.pending_id IS NOT NULL))
ORDER BY t.id
LIMIT :limit
""")

_COUNTS = sa.text("SELECT (SELECT COUNT(*) FROM ledger_account), (SELECT COUNT(*) FROM ledger_transfer)")


def _run_checks(conn, report: VerifyReport, limit: int) -> None:
    report.accounts, report.transfers = conn.execute(_COUNTS).one()

    for r in conn.execute(_CACHED_SUMS, {"limit": limit}):
        parts = [
            f"{name} cached {cached} ≠ {real} from transfers"
            for name, cached, real in (
                ("debits_posted", r.debits_posted, r.debits_posted_real),
                ("credits_posted", r.credits_posted, r.credits_posted_real),
                ("debits_pending", r.debits_pending, r.debits_pending_real),
                ("credits_pending", r.credits_pending, r.credits_pending_real),
            )
            if cached != real
        ]
        report.add("cached_sums", f"account {r.id} ({r.code}): " + "; ".join(parts))

    for r in conn.execute(_ASSET_TOTALS):
        if r.debits_posted != r.credits_posted:
            report.add("asset_totals", f"{r.asset}: debits posted {r.debits_posted} ≠ credits posted {r.credits_posted}")
        if r.debits_pending != r.credits_pending:
            report.add("asset_totals",
                       f"{r.asset}: pending debits {r.debits_pending} ≠ pending credits {r.credits_pending}")

    for r in conn.execute(_LIMITS, {"limit": limit}):
        report.add("limits", f"account {r.id} ({r.code}) is over its limit or negative: debits {r.debits_posted}"
                             f" (+{r.debits_pending} pending), credits {r.credits_posted} (+{r.credits_pending} pending)")

    for r in conn.execute(_RESOLUTIONS, {"limit": limit}):
        report.add("resolutions", f"transfer {r.id} ({r.key}, {r.phase} {r.amount}) does not fit pending transfer"
                                  f" {r.pending_id} ({r.pending_phase}, {r.pending_status}, {r.pending_amount})")

    for r in conn.execute(_PENDING_STATUS, {"limit": limit}):
        report.add("pending_status", f"pending transfer {r.id} ({r.key}) has status {r.status}"
                                     f" and {r.resolutions} resolutions")

    for r in conn.execute(_TRANSFER_SHAPE, {"limit": limit}):
        report.add("transfer_shape", f"transfer {r.id} ({r.key}) is malformed: {r.phase}/{r.status}, amount {r.amount},"
                                     f" asset {r.asset}, accounts' assets {r.debit_asset}/{r.credit_asset}")


def verify_ledger(limit: int = REPORT_LIMIT) -> VerifyReport:
    """Check every invariant; returns a report listing up to ``limit`` violations per check.

    Reads through the session.  If the session has no transaction open, the
    checks get their own snapshot (REPEATABLE READ on PostgreSQL) that is
    rolled back afterwards; otherwise they see the caller's transaction.
    """
    report = VerifyReport()
    session = db.session()  # the Session itself (the scoped proxy lacks in_transaction)
    own_transaction = not session.in_transaction()
    if own_transaction and session.get_bind().dialect.name == "postgresql":
        conn = session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        conn = session.connection()
    try:
        _run_checks(conn, report, limit)
    finally:
        if own_transaction:
            session.rollback()
    return report
