"""Who is watching which invoice, and what one read of the database tells each of them.

A *watcher* is one open push connection: a buyer's invoice page, the deposit it
shows and the fingerprint it was rendered from (``?v=``, the same one the page's
poll sends).  Every tick the server reads all watched deposits in one statement
(:mod:`app.web.push.feed`) and :meth:`Registry.verdicts` says, per watcher:

* ``changed`` — the fragment would render differently now (the fingerprint of
  the page's own poll, :func:`app.web.deposits.fast_poll.version_of`): the page
  asks for it the usual way, through the app, which checks everything again;
* ``gone`` — the session that opened the connection is no longer the owner's
  live one (logged out, password changed, account frozen) or the deposit is
  not theirs any more: the connection closes, and the page's next request gets
  the app's own answer (401, 404);
* nothing, while the page is still what it shows.

An event says only *that* something changed, never what: the status itself is
always fetched through the app, under its checks.  Both events end the
connection (the page opens a new one from the fragment it receives).
"""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

CHANGED, GONE = "changed", "gone"
#: not an event: the stream is closed without one (the tick could not read), and the page polls
DROP = "drop"


@dataclass(eq=False)
class Watcher:
    """One push connection."""

    deposit_id: int
    user_id: int
    #: the session token the connection was opened with (Flask-Login's ``<id>:<token>``)
    token: str
    #: the fingerprint the page shows
    shown: str
    #: what the connection should send next (one event ends it)
    events: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1))
    #: when its own check of the deposit was made (``time.monotonic()``): a tick that read the database
    #: before that must not judge it
    checked_at: float = field(default_factory=time.monotonic)

    def tell(self, event: str) -> None:
        if self.events.empty():
            self.events.put_nowait(event)


class Full(Exception):
    """No room for another watcher: ``per_user`` connections of this user, or ``total`` in all."""


class Registry:
    """The watchers of one push process, by deposit."""

    def __init__(self, *, per_user: int, total: int) -> None:
        self.per_user, self.total = per_user, total
        self._by_deposit: dict[int, set[Watcher]] = defaultdict(set)
        self._per_user: dict[int, int] = defaultdict(int)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, watcher: Watcher) -> None:
        """Register the watcher, or raise :class:`Full` (a page open in too many tabs, or a flood)."""
        if self._count >= self.total or self._per_user[watcher.user_id] >= self.per_user:
            raise Full
        self._by_deposit[watcher.deposit_id].add(watcher)
        self._per_user[watcher.user_id] += 1
        self._count += 1

    def remove(self, watcher: Watcher) -> None:
        watchers = self._by_deposit.get(watcher.deposit_id)
        if watchers is None or watcher not in watchers:
            return
        watchers.discard(watcher)
        if not watchers:
            del self._by_deposit[watcher.deposit_id]
        self._per_user[watcher.user_id] -= 1
        if not self._per_user[watcher.user_id]:
            del self._per_user[watcher.user_id]
        self._count -= 1

    def watchers(self) -> list[Watcher]:
        return [w for watchers in self._by_deposit.values() for w in watchers]

    def deposit_ids(self) -> list[int]:
        return sorted(self._by_deposit)

    def verdicts(self, read: list[int], rows: dict[int, object], version_of, read_at: float
                 ) -> list[tuple[Watcher, str]]:
        """Each watcher that must be told something, and what.

        ``read``: the deposit ids the tick asked for (:meth:`deposit_ids` when it began; a deposit first
        watched while the tick was reading is the next tick's).  ``rows``: deposit id → the tick's row
        (``buyer_id``, ``session_token``, ``is_frozen`` and the columns ``version_of`` reads); a deposit asked
        for and missing from it no longer exists for anyone.
        ``version_of(row)``: the fingerprint the fragment would show now (computed once per deposit).
        ``read_at``: when the tick's statement began (``time.monotonic()``).  A watcher that connected after
        that was checked against a newer state than these rows: the next tick judges it (else a page that
        had just fetched the new fragment would be told the old rows differ from it, and ask for nothing new).
        """
        told = []
        for deposit_id in read:
            watchers = self._by_deposit.get(deposit_id, ())
            row = rows.get(deposit_id)
            version = version_of(row) if row is not None else None
            for watcher in watchers:
                if watcher.checked_at > read_at:
                    continue
                if (row is None or row.buyer_id != watcher.user_id or row.is_frozen
                        or row.session_token != watcher.token):
                    told.append((watcher, GONE))
                elif version != watcher.shown:
                    told.append((watcher, CHANGED))
        return told
