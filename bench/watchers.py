"""Watchers: thousands of buyers watching open invoices (listening to the push process, or polling every 1.5 s), while real deposits are
matched and settled; how stale each buyer's view gets.

    .venv/bin/python -m bench.watchers [--sizes 2000,5000,10000] [--modes push,poll] [--seconds 40] [--live-every 0.5]
                                       [--no-write]

Everything as deployed (the pieces of ``bench.e2e``): the sandbox providers as
a process of their own, the app under gunicorn with ``gunicorn.conf.py``
(production configuration), one RQ worker (``worker.py --no-fork``) running
the matcher and settlement, PostgreSQL and Redis.

For each size N:

1. N buyers, each with an open invoice (a deposit awaiting payment), made in
   bulk by SQL from one real invoice (same columns, its own buyer, order id
   and keys), and each buyer's session cookie signed with the app's key (what
   a login would have set; N argon2 logins would take minutes).
2. *push* mode (the page with ``PUSH_URL`` set): the push process (``push.py``)
   runs too, and each simulated buyer holds a server-sent-event stream to it
   (``GET /push/deposits/<id>?v=<fingerprint>``, opened over the seconds before
   the run), fetches the fragment from the app when told it changed and opens
   a new stream with the new fingerprint; a dropped stream polls once per
   interval until it is back, as app.js does.  *poll* mode, as below.
   N simulated buyers (asyncio, raw HTTP/1.1, two load-generator processes)
   each ask ``GET /buy/<id>?v=<fingerprint>`` with ``HX-Request: true`` at the
   page's interval (``polling.POLL_SECONDS``, its ``hx-trigger``), each at its own phase, as
   htmx does: a 204 keeps the view, a 200 is the new fragment whose
   ``hx-get`` carries the next fingerprint.  The requests go over a pool of
   keep-alive connections per process, as the TLS proxy in front of gunicorn
   carries many browsers' requests over its upstream connections.
3. Meanwhile real transitions: every ``--live-every`` seconds another buyer
   creates a deposit (the service, as the form does, and the matching job
   queued through RQ); the RQ worker matches it and the sandbox invoices it
   (matching → awaiting_payment); 1–3 s later the buyer pays at the sandbox,
   whose notification the app receives over HTTP and settles through RQ
   (→ paid → settled).  Each of these deposits is watched by its buyer the
   same way, from the moment it is created.
4. Staleness: for each transition of those deposits, from the moment the
   database shows it (a reader polling the deposit rows every 10 ms on its
   own connection: the commit, within 10 ms) until its buyer's poll shows
   that status or a later one.  p50 / p99 / max, target p99 ≤ 2 s.  Also the
   polls' latency and their answers (204 / 200 / errors).

The largest N whose staleness p99 is within the target, with no failed
request (and, polling, every buyer's polls at the interval's pace; with push,
every buyer listening), is the figure "held".  The load average is reported with it: other work
on the machine takes the CPU the server and the load generators need.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import secrets
import sys
import threading
import time
from datetime import timedelta

import psycopg
import requests

from bench import _services
from bench._common import db_url, machine, record, recreate, row, sqlalchemy_url, write_section
from bench.web import _env

BENCH_DB = "pokerpay_bench_watchers"
#: the page's own interval (hx-trigger), read from the app
POLL_SECONDS = __import__("app.web.deposits.polling", fromlist=["POLL_SECONDS"]).POLL_SECONDS
STALENESS_TARGET_S = 2.0
WATCHER_TARGET = 5000
KIND = "tbank"
USER_AGENT = "pokerpay-bench-watcher"
#: keep-alive connections per load-generator process (the TLS proxy's upstream pool)
CONNECTIONS_PER_PROCESS = 48
GENERATORS = 2
#: how long after the run a live purchase's page is still watched (a purchase made near the end)
LIVE_GRACE_SECONDS = 10
GOAL = "buyers watching open invoices, status seen within 2 s (p99)"
_RANK = {"matching": 0, "awaiting_payment": 1, "paid": 2, "settled": 3}
_HX_GET = re.compile(rb'hx-get="/buy/(\d+)\?v=([0-9a-f]{16})"')
_STATUS = re.compile(rb'data-status="([a-z_]+)"')
_EVENT = re.compile(rb"event: ([a-z]+)\n")


def _app(env: dict):
    from bench.e2e import _app as e2e_app

    return e2e_app(env)


# --- the population ----------------------------------------------------------------------------

def prepare(env: dict, providers_url: str, watchers: int, live: int) -> dict:
    """The seller, ``watchers`` buyers with an open invoice each, ``live`` buyers with none yet.

    Returns what the load needs: the watched deposits with their cookies and fingerprints, the live
    buyers' ids and cookies.
    """
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import ledger
    from app.core.settings import current_settings
    from app.database import utcnow
    from app.extensions import db
    from app.market import matching, payment_forms, quotes, withdrawals
    from app.people import accounts
    from app.web.deposits import polling

    recreate(BENCH_DB)
    app = _app(env)
    with app.app_context():
        upgrade()
        seller = accounts.register("seller@bench.invalid", app.config["DEMO_PASSWORD"])
        template = accounts.register("template@bench.invalid", app.config["DEMO_PASSWORD"])
        ledger.transfer("bench:watchers:fund", ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS),
                        ledger.wallet_of(seller.id), 100_000_00, ledger.TransferKind.ROOM_DEPOSIT)
        credentials = requests.post(f"{providers_url}/_sandbox/providers/{KIND}/accounts", json={},
                                    timeout=10).json()["credentials"]
        form = payment_forms.add_form(seller, KIND, "bench", credentials, check_live=False)
        seller.kyc_status = "verified"  # selling more than the KYC threshold at once
        withdrawals.create(seller, payment_form_id=form.id, amount=100_000_00, min_invoice_kopecks=100_00,
                           max_invoice_kopecks=10_000_00, max_open_invoices=50, request_key="bench-watchers")
        q = quotes.quote(KIND, 1_000_00, current_settings())
        model = matching.create_deposit(template, q, request_key="bench-watchers-template")
        db.session.commit()
        # the watched invoices: open for longer than any run, so the fragment's "urgent" state never flips
        db.session.execute(sa.text(
            "UPDATE deposit SET status = 'awaiting_payment', pay_url = 'https://pay.bench.invalid/x',"
            " provider_payment_id = 'bench-template', expires_at = :expires WHERE id = :id"),
            {"id": model.id, "expires": utcnow() + timedelta(hours=6)})
        user_cols = [c.name for c in db.metadata.tables["user"].columns if c.name not in ("id", "email",
                                                                                             "session_token")]
        copied = ", ".join(f'"{c}"' for c in user_cols)
        for prefix, count in (("w", watchers), ("live", live)):
            db.session.execute(sa.text(
                f'INSERT INTO "user" (email, session_token, {copied})'
                f" SELECT '{prefix}' || g || '@bench.invalid', md5(random()::text) || g, {copied}"
                ' FROM "user" t CROSS JOIN generate_series(1, :n) g WHERE t.id = :template'),
                {"n": count, "template": template.id})
        dep_cols = [c.name for c in db.metadata.tables["deposit"].columns
                    if c.name not in ("id", "buyer_id", "order_id", "request_key", "provider_payment_id")]
        copied = ", ".join(f'"{c}"' for c in dep_cols)
        db.session.execute(sa.text(
            f"INSERT INTO deposit (buyer_id, order_id, request_key, provider_payment_id, {copied})"
            f" SELECT u.id, md5(random()::text || u.id), 'bench-w-' || u.id, 'bench-w-' || u.id,"
            f" {', '.join(f'd.{c}' for c in dep_cols)}"
            " FROM deposit d CROSS JOIN \"user\" u WHERE d.id = :model AND u.email LIKE 'w%@bench.invalid'"),
            {"model": model.id})
        db.session.commit()
        serializer = app.session_interface.get_signing_serializer(app)
        from app.web.deposits.fast_poll import _login_identifier

        identity = _login_identifier({"REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": USER_AGENT})

        def cookie(user_id: int, token: str) -> str:
            # what Flask-Login puts in the session at login (remember off)
            return "session=" + serializer.dumps({"_user_id": f"{user_id}:{token}", "_fresh": True,
                                                  "_id": identity, "csrf_token": secrets.token_hex(20)})

        watched = []
        for d in db.session.execute(sa.text(
                "SELECT d.id, d.status, d.updated_at, d.buyer_claimed_paid_at, d.expires_at, u.id AS uid,"
                " u.session_token FROM deposit d JOIN \"user\" u ON u.id = d.buyer_id"
                " WHERE u.email LIKE 'w%@bench.invalid' ORDER BY d.id")):
            from types import SimpleNamespace

            shown = SimpleNamespace(status=d.status, updated_at=d.updated_at.astimezone(__import__("datetime").UTC),
                                    buyer_claimed_paid_at=None, expires_at=d.expires_at)
            watched.append((d.id, cookie(d.uid, d.session_token), polling.view_version(shown, False, locale="ru")))
        live_buyers = [(r.id, cookie(r.id, r.session_token)) for r in db.session.execute(sa.text(
            "SELECT id, session_token FROM \"user\" WHERE email LIKE 'live%@bench.invalid' ORDER BY id"))]
        db.engine.dispose()
    return {"watched": watched, "live": live_buyers}


# --- the simulated buyers ----------------------------------------------------------------------

class Pool:
    """Keep-alive connections shared by the watchers of one process (the TLS proxy's upstream pool)."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.free: asyncio.Queue = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(None)  # opened on first use

    async def request(self, path: str, cookie: str) -> tuple[int, bytes]:
        conn = await self.free.get()
        try:
            if conn is None:
                conn = await asyncio.open_connection("127.0.0.1", self.port)
            reader, writer = conn
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {USER_AGENT}\r\n"
                         f"HX-Request: true\r\nCookie: {cookie}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await reader.readexactly(length) if length else b""
            if close:
                writer.close()
                conn = None
            return status, body
        except BaseException:
            if conn is not None:
                conn[1].close()
            conn = None
            raise
        finally:
            self.free.put_nowait(conn)


class Watcher:
    """One buyer's invoice page: polls at the page's interval from its own phase while the fragment is live."""

    def __init__(self, deposit_id: int, cookie: str, version: str) -> None:
        self.deposit_id, self.cookie, self.version = deposit_id, cookie, version
        self.seen: list[tuple[str, float]] = []  # (status shown, when first shown)

    async def run(self, pool: Pool, stop_at: float, stats: dict, first_at: float | None = None) -> None:
        next_at = first_at if first_at is not None else time.time() + random.uniform(0, POLL_SECONDS)
        while True:
            delay = next_at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.time() >= stop_at:
                return
            next_at += POLL_SECONDS
            started = time.perf_counter()
            try:
                status, body = await pool.request(f"/buy/{self.deposit_id}?v={self.version}", self.cookie)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                stats["errors"] += 1
                continue
            stats["latencies"].append(time.perf_counter() - started)
            stats[status] = stats.get(status, 0) + 1
            if status == 204:
                continue
            if status != 200:
                stats["errors"] += 1
                continue
            shown = _STATUS.search(body)
            if shown:
                self.seen.append((shown.group(1).decode(), time.time()))
            poll = _HX_GET.search(body)
            if poll is None:
                return  # a final state: the fragment no longer polls
            self.version = poll.group(2).decode()


    async def listen(self, pool: Pool, push_port: int, stop_at: float, stats: dict, first_at: float) -> None:
        """The page with push: an EventSource on the push process; on its event, the fragment from the app
        (through ``pool``) and a new EventSource with the new fingerprint; while the push connection cannot be
        had, one poll per interval, as app.js falls back to."""
        await asyncio.sleep(max(0.0, first_at - time.time()))
        while time.time() < stop_at:
            event = await self._one_event(push_port, stop_at, stats)
            if event is None:  # the push connection dropped or was refused: the poll runs until it is back
                if time.time() >= stop_at:
                    return
                await asyncio.sleep(POLL_SECONDS)
            if not await self._fetch(pool, stats):
                return  # a final state: the fragment no longer listens

    async def _one_event(self, push_port: int, stop_at: float, stats: dict) -> str | None:
        """Open the push stream and wait for its one event (None: dropped, refused, or the run ended)."""
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", push_port)
            writer.write(f"GET /push/deposits/{self.deposit_id}?v={self.version} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"User-Agent: {USER_AGENT}\r\nAccept: text/event-stream\r\nCookie: {self.cookie}\r\n\r\n"
                         .encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                stats["errors"] += 1
                stats["refused"] = stats.get("refused", 0) + 1
                return None
            stats["connected"] = stats.get("connected", 0) + 1
            buffered = b""
            while True:
                left = stop_at - time.time()
                if left <= 0:
                    return None
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), left)
                except TimeoutError:
                    return None
                if not chunk:
                    stats["dropped"] = stats.get("dropped", 0) + 1
                    return None
                buffered += chunk
                found = _EVENT.search(buffered)
                if found:
                    name = found.group(1).decode()
                    stats["events"] = stats.get("events", 0) + 1
                    stats[f"event:{name}"] = stats.get(f"event:{name}", 0) + 1
                    return name
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            stats["errors"] += 1
            return None
        finally:
            if writer is not None:
                writer.close()

    async def _fetch(self, pool: Pool, stats: dict) -> bool:
        """The fragment the page asks for after an event (or as its fallback poll); False once it is final."""
        started = time.perf_counter()
        try:
            status, body = await pool.request(f"/buy/{self.deposit_id}?v={self.version}", self.cookie)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            stats["errors"] += 1
            return True
        stats["latencies"].append(time.perf_counter() - started)
        stats[status] = stats.get(status, 0) + 1
        if status == 204:
            return True
        if status != 200:
            stats["errors"] += 1
            return True
        shown = _STATUS.search(body)
        if shown:
            self.seen.append((shown.group(1).decode(), time.time()))
        poll = _HX_GET.search(body)
        if poll is None:
            return False
        self.version = poll.group(2).decode()
        return True


def _generator(port: int, push_port: int | None, watched: list, start_at: float, stop_at: float, queue) -> None:
    """A load-generator process: its share of the background watchers (with push, connecting over the
    seconds before the run starts, as pages opened at different moments would)."""
    async def main():
        pool = Pool(port, CONNECTIONS_PER_PROCESS)
        stats = {"errors": 0, "latencies": []}
        if push_port:
            ramp_from = time.time()
            await asyncio.gather(*(Watcher(d, c, v).listen(pool, push_port, stop_at, stats,
                                                           random.uniform(ramp_from, start_at - 1))
                                   for d, c, v in watched))
            return stats
        while time.time() < start_at:
            await asyncio.sleep(0.05)
        await asyncio.gather(*(Watcher(d, c, v).run(pool, stop_at, stats) for d, c, v in watched))
        return stats

    stats = asyncio.run(main())
    queue.put(stats)


# --- the real transitions ----------------------------------------------------------------------

class Observer(threading.Thread):
    """Reads the live deposits' status every 10 ms: when each transition became visible in the database."""

    def __init__(self, buyer_ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.buyer_ids = buyer_ids
        self.first: dict[tuple[int, str], float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(db_url(BENCH_DB), autocommit=True) as conn:
            while not self.done.is_set():
                now = time.time()
                for deposit_id, status in conn.execute(
                        "SELECT id, status FROM deposit WHERE buyer_id = ANY(%s)", (self.buyer_ids,)):
                    self.first.setdefault((deposit_id, status), now)
                time.sleep(0.01)


def _live_driver(env: dict, providers_url: str, buyers: list, every: float, stop_at: float, loop, started,
                 skipped: list) -> None:
    """Every ``every`` s another buyer buys: deposit created, matched by the RQ worker, paid 1–3 s later."""
    from sqlalchemy import exc as sa_exc

    from app.core.after_commit import after_commit
    from app.core.settings import current_settings
    from app.extensions import db
    from app.market import matching, quotes
    from app.models import User

    app = _app(env)
    to_pay: list[tuple[float, int]] = []
    http = requests.Session()
    with app.app_context():
        next_at = time.time()
        for user_id, cookie in buyers:
            while time.time() < next_at:
                _pay_due(to_pay, http, providers_url)
                time.sleep(0.01)
            if time.time() >= stop_at - 8:
                break  # the last ones have time to be matched, paid and settled within the run
            next_at += every
            try:
                user = db.session.get(User, user_id)
                deposit = matching.create_deposit(user, quotes.quote(KIND, 1_000_00, current_settings()),
                                                  request_key=secrets.token_hex(16))
                after_commit("deposit.match", deposit.id)
                db.session.commit()
            except sa_exc.OperationalError as exc:
                # a PostgreSQL shared with other work may refuse a connection ("too many clients"): this
                # buyer does not buy; the run goes on and says how many purchases were skipped
                print(f"  a purchase skipped: {str(exc).splitlines()[0][:160]}", flush=True)
                skipped.append(user_id)
                db.session.remove()
                continue
            loop.call_soon_threadsafe(started, deposit.id, cookie)
            to_pay.append((time.time() + random.uniform(1.0, 3.0), deposit.id))
            db.session.remove()
        while to_pay and time.time() < stop_at + LIVE_GRACE_SECONDS:
            _pay_due(to_pay, http, providers_url)
            time.sleep(0.01)
        db.engine.dispose()


def _pay_due(to_pay: list, http: requests.Session, providers_url: str) -> None:
    """Pay, at the sandbox, the invoices whose buyer's moment has come (once the matcher has invoiced them)."""
    now = time.time()
    for item in list(to_pay):
        due, deposit_id = item
        if due > now:
            continue
        try:
            with psycopg.connect(db_url(BENCH_DB), autocommit=True) as conn:
                status, payment_id = conn.execute("SELECT status, provider_payment_id FROM deposit WHERE id = %s",
                                                  (deposit_id,)).fetchone()
        except psycopg.OperationalError:
            continue  # the server refused a connection just now: try again on the next round
        if status != "awaiting_payment":
            if status in ("matching",):
                continue  # not invoiced yet: try again on the next round
            to_pay.remove(item)
            continue
        http.post(f"{providers_url}/_sandbox/providers/{KIND}/payments/{payment_id}/pay", json={"action": "pay"},
                  timeout=30)
        to_pay.remove(item)


def _live_watchers(port: int, push_port: int | None, env: dict, providers_url: str, buyers: list, every: float,
                   start_at: float, stop_at: float) -> tuple[list[Watcher], dict]:
    """The live buyers' own pages, in this process, each from the moment its deposit exists."""
    watchers: list[Watcher] = []
    stats = {"errors": 0, "latencies": [], "skipped": []}

    async def main():
        pool = Pool(port, 8)
        loop = asyncio.get_running_loop()
        tasks = []

        def started(deposit_id: int, cookie: str) -> None:
            w = Watcher(deposit_id, cookie, "0" * 16)
            watchers.append(w)
            # the page was just loaded (it showed "matching"); its first poll comes one interval later
            w.seen.append(("matching", time.time()))
            # watched until the page stops polling (settled), or a grace period after the run for a late one
            if push_port:  # the page listens from the moment it is loaded
                tasks.append(loop.create_task(w.listen(pool, push_port, stop_at + LIVE_GRACE_SECONDS, stats,
                                                       first_at=time.time())))
            else:
                tasks.append(loop.create_task(w.run(pool, stop_at + LIVE_GRACE_SECONDS, stats,
                                                    first_at=time.time() + POLL_SECONDS)))

        while time.time() < start_at:
            await asyncio.sleep(0.05)
        driver = loop.run_in_executor(None, _live_driver, env, providers_url, buyers, every, stop_at, loop, started,
                                      stats["skipped"])
        await driver
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return watchers, stats


def _staleness(watchers: list[Watcher], first: dict) -> tuple[list[float], int]:
    """Seconds from each transition's commit to its buyer's view showing it (or a later status); unseen count."""
    values, unseen = [], 0
    for w in watchers:
        for (deposit_id, status), committed in first.items():
            if deposit_id != w.deposit_id or _RANK.get(status, 9) == 0:
                continue
            shown = [t for s, t in w.seen if _RANK.get(s, 9) >= _RANK.get(status, 9) and t >= committed - 0.02]
            if shown:
                values.append(max(0.0, min(shown) - committed))
            else:
                unseen += 1
    return sorted(values), unseen


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def held(r: dict) -> bool:
    """Did every buyer see changes within the target?  The staleness is measured on the live purchases'
    pages; with polling, the other buyers' polls must have kept their pace and been quick enough for the
    same bound (a poll late by more than target − interval would show a change later than the target);
    with push, every other buyer must have been connected (listening) through the whole run."""
    if r["mode"] == "push":
        return (r["errors"] == 0 and r["unseen"] == 0 and r["transitions"] > 0 and r["listening"] >= r["n"]
                and r["stale_p99"] <= STALENESS_TARGET_S)
    expected = r["n"] / POLL_SECONDS
    return (r["errors"] == 0 and r["unseen"] == 0 and r["transitions"] > 0
            and r["stale_p99"] <= STALENESS_TARGET_S and r["polls_per_s"] >= 0.97 * expected
            and r["poll_p99_ms"] / 1000 <= STALENESS_TARGET_S - POLL_SECONDS)


def _listening(push_port: int, at: float, out: dict) -> None:
    """The push process's own count of open connections, read once mid-run."""
    time.sleep(max(0.0, at - time.time()))
    try:
        out["listening"] = requests.get(f"http://127.0.0.1:{push_port}/push/health", timeout=10).json()["watchers"]
    except (requests.RequestException, ValueError, KeyError):
        out["listening"] = 0


def run_size(n: int, mode: str, args, env: dict, providers_url: str) -> dict:
    live_count = int(args.seconds / args.live_every) + 5
    print(f"watchers ({mode}): {n} buyers watching, a live purchase every {args.live_every} s, preparing …",
          flush=True)
    population = prepare(env, providers_url, n, live_count)
    push_port = _services.free_port() if mode == "push" else None
    if push_port:
        env = {**env, "PUSH_URL": f"http://127.0.0.1:{push_port}"}
        push = _services.process([sys.executable, "push.py", "--port", str(push_port)], env, port=push_port)
    web, port = _services.gunicorn("wsgi:app", env, port=int(env["PUBLIC_BASE_URL"].rsplit(":", 1)[1]))
    worker = _services.process([sys.executable, "worker.py", "--no-fork"], env)
    _services.warm_up(port, "/login", {}, seconds=3)
    observer = Observer([b for b, _ in population["live"]])
    observer.start()
    # with push, the pages open their connections over these seconds (a connect costs the push process a read)
    start_at = time.time() + (3.0 + n / 1000 if push_port else 3.0)
    stop_at = start_at + args.seconds
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    shares = [population["watched"][i::GENERATORS] for i in range(GENERATORS)]
    procs = [ctx.Process(target=_generator, args=(port, push_port, share, start_at, stop_at, queue))
             for share in shares]
    for p in procs:
        p.start()
    counted = {"listening": n}
    if push_port:  # before the live buyers' pages are many: the background watchers alone
        threading.Thread(target=_listening, args=(push_port, start_at + args.seconds / 2, counted), daemon=True).start()
    load_before = os.getloadavg()[0]
    live, live_stats = _live_watchers(port, push_port, env, providers_url, population["live"], args.live_every,
                                      start_at, stop_at)
    results = [queue.get(timeout=args.seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    time.sleep(0.1)
    observer.done.set()
    observer.join()
    load = os.getloadavg()[0]
    _services.stop(worker)
    _services.stop(web)
    if push_port:
        _services.stop(push)
    latencies = sorted(x for r in (*results, live_stats) for x in r["latencies"])
    answers = {code: sum(r.get(code, 0) for r in (*results, live_stats)) for code in (204, 200, 401, 404, 500)}
    errors = sum(r["errors"] for r in (*results, live_stats))
    staleness, unseen = _staleness(live, observer.first)
    settled = sum(1 for (d, s) in observer.first if s == "settled")
    out = {
        "n": n, "mode": mode, "listening": counted["listening"],
        "connects": sum(r.get("connected", 0) for r in (*results, live_stats)),
        "events": sum(r.get("events", 0) for r in (*results, live_stats)),
        "dropped": sum(r.get("dropped", 0) + r.get("refused", 0) for r in (*results, live_stats)),
        "gone": sum(r.get("event:gone", 0) for r in (*results, live_stats)),
        "polls": len(latencies), "polls_per_s": len(latencies) / args.seconds, "errors": errors,
        "answers": answers, "poll_p50_ms": _pct(latencies, 0.5) * 1000, "poll_p99_ms": _pct(latencies, 0.99) * 1000,
        "transitions": len(staleness) + unseen, "unseen": unseen, "settled": settled,
        "stale_p50": _pct(staleness, 0.5), "stale_p90": _pct(staleness, 0.9), "stale_p99": _pct(staleness, 0.99),
        "stale_max": staleness[-1] if staleness else float("nan"), "load": (load_before + load) / 2,
        "live": len(live), "skipped": len(live_stats["skipped"]),
    }
    out["held"] = held(out)
    print(f"  {out}", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,5000,10000")
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--live-every", type=float, default=0.5)
    parser.add_argument("--modes", default="push,poll",
                        help="push (the pages listen to the push process, polling only when it drops) and/or"
                             " poll (no push process: every page polls)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    _services.ensure_postgres()
    redis_url = _services.redis_url()
    room_port, providers_port, web_port = _services.free_port(), _services.free_port(), _services.free_port()
    providers_url = f"http://127.0.0.1:{providers_port}"
    _services.process([sys.executable, "-m", "sandbox", "--room-port", str(room_port), "--providers-port",
                       str(providers_port)], {}, port=providers_port)
    env = {**_env(redis_url), "DATABASE_URL": sqlalchemy_url(BENCH_DB), "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
           "TBANK_BASE_URL": f"{providers_url}/tbank/v2", "YOOMONEY_BASE_URL": f"{providers_url}/yoomoney",
           "YOOKASSA_BASE_URL": f"{providers_url}/yookassa/v3", "RATELIMIT_ENABLED": "false",
           "ROOM_API_URL": f"http://127.0.0.1:{room_port}"}
    runs = []
    for mode in args.modes.split(","):
        for n in args.sizes.split(","):
            try:
                runs.append(run_size(int(n), mode, args, env, providers_url))
            except Exception as exc:  # noqa: BLE001 - one size failing (a shared server out of connections) is reported
                print(f"watchers: the {mode} run with {n} buyers failed: {exc!r}", flush=True)
                runs.append({"n": int(n), "mode": mode, "failed": repr(exc)[:200], "held": False})
    if not args.no_write:
        write(runs, args)
    return 0


def write(runs: list[dict], args) -> None:
    """The section of BENCHMARKS.md and the summary rows."""
    held_by = {mode: max((r["n"] for r in runs if r["held"] and r["mode"] == mode), default=0)
               for mode in ("push", "poll")}
    held_n = max(held_by.values())
    lines = [
        "## Buyers watching open invoices",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} by `python -m bench.watchers`: N buyers each watching"
        " their open invoice while one RQ worker matches and settles real purchases (a buyer creates a deposit"
        f" every {args.live_every} s, the sandbox invoices it, the buyer pays 1–3 s later, the sandbox's"
        " notification arrives over HTTP), against gunicorn (`gunicorn.conf.py`, production configuration).",
        "",
        "* **push** — as the page does with `PUSH_URL` set: each buyer holds a server-sent-event connection to"
        " the push process (`push.py`, one asyncio process) and fetches the fragment from the app"
        " (`GET /buy/<id>?v=…`) only when told it changed; a dropped connection polls once per interval until"
        " it is back.  The pages connect over the seconds before the run (a connect costs the push process one"
        " read).  *Listening*: the push process's own count of open connections mid-run.",
        f"* **poll** — no push process: every page polls every {POLL_SECONDS:g} s, the page's interval"
        " (answered before Flask while nothing changed).",
        "",
        "Raw HTTP/1.1 from two asyncio load-generator processes; the app's requests over"
        f" {CONNECTIONS_PER_PROCESS} keep-alive connections each, as a TLS proxy's upstream pool would carry"
        " them.  Staleness: from the moment the database shows a transition of a live purchase (a reader"
        " polling every 10 ms) until its buyer's page shows it; each run"
        f" {args.seconds:.0f} s, on the same machine as the load generators, the sandbox, the worker and"
        " PostgreSQL.",
        "",
        "| mode | buyers watching | listening | app requests/s | request p50 / p99 ms | 204 / 200 / errors |"
        " transitions seen (settled; purchases the database refused) | staleness p50 / p90 / p99 / max s |"
        " held (below) | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "failed" in r:
            lines.append(f"| {r['mode']} | {r['n']:,} | the run failed: `{r['failed']}` | | | | | | NOT met | |")
            continue
        listening = f"{r['listening']:,}" if r["mode"] == "push" else "—"
        lines.append(
            f"| {r['mode']} | {r['n']:,} | {listening} | {r['polls_per_s']:,.0f} |"
            f" {r['poll_p50_ms']:.1f} / {r['poll_p99_ms']:.1f} |"
            f" {r['answers'][204]:,} / {r['answers'][200]:,} / {r['errors']} |"
            f" {r['transitions'] - r['unseen']} of {r['transitions']} ({r['settled']};"
            f" {r['skipped']} purchases skipped) |"
            f" {r['stale_p50']:.2f} / {r['stale_p90']:.2f} / {r['stale_p99']:.2f} / {r['stale_max']:.2f} |"
            f" {'met' if r['held'] else 'NOT met'} | {r['load']:.1f} |")
    lines += [
        "",
        "Largest number held (every transition seen, staleness p99 ≤ 2 s, no error; with polling also every"
        " other buyer's polls at the interval's pace with a p99 within"
        f" 2 s − {POLL_SECONDS:g} s; with push every other buyer listening):"
        f" **{held_n:,}** (push {held_by['push']:,}, poll {held_by['poll']:,}; target ≥ {WATCHER_TARGET:,}).  A poll"
        f" puts a change on screen 0–{POLL_SECONDS:g} s after it happens plus the changed poll's latency; push,"
        " within the push process's tick (0.5 s) plus one request.  Machine: " + machine() + ".",
    ]
    write_section("watchers", lines)
    record("watchers", [
        row("buyers watching open invoices held (staleness p99 ≤ 2 s)", f"{held_n:,}", "—", "—",
            f"≥ {WATCHER_TARGET:,}", held_n >= WATCHER_TARGET, goal=GOAL),
        *(row(f"{r['n']:,} watchers ({r['mode']}): staleness p50 / p99, app requests/s, request p99",
              f"{r['stale_p50']:.2f} / {r['stale_p99']:.2f} s, {r['polls_per_s']:,.0f}/s,"
              f" {r['poll_p99_ms']:.0f} ms", "—", "—", "p99 ≤ 2 s", r["held"]) for r in runs if "failed" not in r),
    ])


if __name__ == "__main__":
    raise SystemExit(main())
