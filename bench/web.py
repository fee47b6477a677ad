"""Web: the invoice status endpoint and the wallet page under gunicorn, against a bare Flask hello-world.

    .venv/bin/python -m bench.web [--seconds 10] [--connections 32] [--no-write]

1. A fresh database ``pokerpay_bench_web`` (the app's migrations), the demo
   buyer with a published invoice (a deposit awaiting payment), a verified
   room account and 40 wallet movements.
2. Statements per request, counted in-process (a test client against the
   same database): the invoice status poll as the page sends it every 1.5 s
   (``?v=`` the fingerprint of what it shows: 204 while nothing changed,
   answered before the Flask stack by ``app/web/deposits/fast_poll.py``), the
   status fragment rendered in full (what a poll gets when something did),
   the wallet page, and each of them again on the second request of the
   session.
3. gunicorn with the production settings (``gunicorn.conf.py``: gthread,
   2 × cores + 1 workers, 4 threads, production config) serving the app, and
   the same settings serving a bare Flask hello-world (``bench/_hello.py``),
   in the same run; a Python load generator (4 processes × 8 threads = 32
   keep-alive connections, closed loop) for ``--seconds`` on each: the
   buyer's authenticated poll of the invoice status (it reads the session's
   user and the deposit from PostgreSQL), the same fragment rendered in full,
   the wallet page, the help page (signed in: the cheapest page the stack
   serves, its floor), and ``/`` of the hello-world.  Throughput ratio (target
   ≥ 0.4) and p99 (target ≤ 50 ms).
4. Two app servers on two ports behind the load generator's loopback
   round-robin (the connections are spread over the servers in turn):
   the multi-process, multi-server deployment working against one database.
5. Peak RSS (VmHWM) of each gunicorn worker of the app after the run.
"""
from __future__ import annotations

import argparse
import re
import time

import requests

from bench import _services
from bench._common import machine, record, recreate, row, sqlalchemy_url, write_section

BENCH_DB = "pokerpay_bench_web"
HELP = "help page (a page without data)"
RATIO_TARGET = 0.4
P99_TARGET_MS = 50.0
#: the wallet page's targets (a page, not a poll: a lower bar)
WALLET_RATIO_TARGET, WALLET_P99_TARGET_MS = 0.15, 150.0
KEY = "d0aaz1H64CvMnGyMC-pFcCwB0wesTnUysCU5vfNRJZc="
BUYER = "buyer@demo.pokerpay"
#: the browser's name, the same at sign-in and on every request after (Flask-Login's session protection
#: ties the session to it: another one makes the session non-fresh, which the fast poll path leaves to Flask)
USER_AGENT = "pokerpay-bench-web"


def _env(redis_url: str) -> dict:
    return {"POKERPAY_CONFIG": "production", "DATABASE_URL": sqlalchemy_url(BENCH_DB), "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret-key-" + "x" * 32, "ENCRYPTION_KEYS": KEY, "FORCE_HTTPS": "false",
            "SESSION_COOKIE_SECURE": "false", "LOG_FORMAT": "text", "PUBLIC_BASE_URL": "http://127.0.0.1:9"}


def _make_app(redis_url: str):
    import os

    os.environ.update(_env(redis_url))
    from app import create_app
    from config import ProductionConfig

    return create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=sqlalchemy_url(BENCH_DB), REDIS_URL=redis_url,
                      SECRET_KEY=_env(redis_url)["SECRET_KEY"], ENCRYPTION_KEYS=[KEY], FORCE_HTTPS=False,
                      SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)


def prepare(redis_url: str) -> int:
    """The database with the demo buyer, an invoice awaiting payment and wallet history; the deposit id."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import ledger
    from app.core.settings import current_settings
    from app.database import utcnow
    from app.extensions import db
    from app.market import matching, quotes
    from app.models import User
    from app.people import accounts
    from app.room import room_accounts

    recreate(BENCH_DB)
    app = _make_app(redis_url)
    with app.app_context():
        upgrade()
        buyer = accounts.register(BUYER, app.config["DEMO_PASSWORD"])
        room = room_accounts.add_room_account(buyer, "bench.buyer")
        room_accounts.mark_verified(room, by="ops", reason="bench")
        wallet = ledger.wallet_of(buyer.id)
        omnibus = ledger.platform_account(ledger.AccountKind.ROOM_OMNIBUS)
        for i in range(40):
            ledger.transfer(f"bench:web:{i}", omnibus, wallet, 1_000 + i, "room_deposit", memo="bench")
        q = quotes.quote("yoomoney", 500_000, current_settings())
        deposit = matching.create_deposit(db.session.get(User, buyer.id), q, request_key="bench-web")
        db.session.execute(sa.text(
            "UPDATE deposit SET status = 'awaiting_payment', pay_url = 'https://pay.bench.invalid/x',"
            " provider_payment_id = 'bench', expires_at = :expires WHERE id = :id"),
            {"id": deposit.id, "expires": utcnow() + __import__("datetime").timedelta(hours=1)})
        db.session.commit()
        deposit_id = deposit.id
        db.engine.dispose()
    return deposit_id


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    if not match:
        raise RuntimeError("no csrf_token on the login page")
    return match.group(1)


def login_cookie(port: int, password: str) -> str:
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    page = http.get(f"http://127.0.0.1:{port}/login", timeout=30)
    response = http.post(f"http://127.0.0.1:{port}/login", timeout=30, allow_redirects=False,
                         data={"email": BUYER, "password": password, "csrf_token": _csrf(page.text)})
    if response.status_code != 302 or "session" not in http.cookies:
        raise RuntimeError(f"login failed: {response.status_code}")
    return f"session={http.cookies['session']}"


def poll_path(fragment: str) -> str:
    """The URL the status fragment polls (``hx-get``): the deposit and the fingerprint of what it shows."""
    match = re.search(r'hx-get="([^"]+)"', fragment)
    if not match:
        raise RuntimeError("the status fragment does not poll")
    return match.group(1).replace("&amp;", "&")


def statement_counts(redis_url: str, deposit_id: int) -> dict[str, tuple[int, int]]:
    """Statements per request for each page: the first request of a session, and a later one."""
    from sqlalchemy import event

    from app.extensions import db

    app = _make_app(redis_url)
    app.config["WTF_CSRF_ENABLED"] = False
    counts = {"n": 0}
    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", lambda *a: counts.__setitem__("n", counts["n"] + 1))
    client = app.test_client()
    client.post("/login", data={"email": BUYER, "password": app.config["DEMO_PASSWORD"]})
    htmx = {"HX-Request": "true"}
    poll = poll_path(client.get(f"/buy/{deposit_id}", headers=htmx).get_data(as_text=True))
    result = {}
    fast = app.extensions.get("pokerpay_fast_poll")
    for name, path, headers in (("invoice status poll", poll, htmx),
                                ("invoice status fragment", f"/buy/{deposit_id}", htmx),
                                ("wallet page", "/wallet/", {})):
        seen = []
        for _ in range(2):
            counts["n"] = 0
            answered = fast.answered if fast else 0
            response = client.get(path, headers=headers)
            assert response.status_code in (200, 204), (path, response.status_code)
            # the fast path's one statement goes over its own connection, which SQLAlchemy does not see
            seen.append(counts["n"] + ((fast.answered - answered) if fast else 0))
        result[name] = tuple(seen)
    with app.app_context():
        db.engine.dispose()
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    _services.ensure_postgres()
    redis_url = _services.redis_url()
    print("web: preparing the database …", flush=True)
    deposit_id = prepare(redis_url)
    counts = statement_counts(redis_url, deposit_id)
    print(f"statements per request (first, later): {counts}", flush=True)
    env = _env(redis_url)
    password = "demo-Passw0rd!"

    hello, hello_port = _services.gunicorn("bench._hello:app", env)
    _services.warm_up(hello_port)
    print(f"hello-world: {args.connections} connections for {args.seconds:.0f} s …", flush=True)
    base = _services.load([hello_port], "/", {}, seconds=args.seconds, connections=args.connections)
    print(f"  {base}", flush=True)
    _services.stop(hello)

    web, port = _services.gunicorn("wsgi:app", env)
    cookie = login_cookie(port, password)
    status_path = f"/buy/{deposit_id}"
    headers = {"Cookie": cookie, "HX-Request": "true", "User-Agent": USER_AGENT}
    poll = poll_path(requests.get(f"http://127.0.0.1:{port}{status_path}", headers=headers, timeout=30).text)
    _services.warm_up(port, poll, headers, seconds=10)
    results = {}
    for name, path, hdrs in (("invoice status poll", poll, headers),
                             ("invoice status fragment, rendered", status_path, headers),
                             ("wallet page", "/wallet/", {"Cookie": cookie, "User-Agent": USER_AGENT}),
                             # the stack's floor for a signed-in page: the base template and no data of its own
                             (HELP, "/help", {"Cookie": cookie, "User-Agent": USER_AGENT})):
        print(f"{name}: {args.connections} connections for {args.seconds:.0f} s …", flush=True)
        results[name] = _services.load([port], path, hdrs, seconds=args.seconds, connections=args.connections)
        print(f"  {results[name]}", flush=True)
    workers = _services.children(web.pid)
    print("invoice status poll again, with py-spy sampling the app's workers …", flush=True)
    import threading

    hot: list = []
    sampler = threading.Thread(target=lambda: hot.extend(_services.profile(workers, args.seconds)))
    sampler.start()
    _services.load([port], poll, headers, seconds=args.seconds, connections=args.connections)
    sampler.join()
    for frame, share in hot:
        print(f"  {share:6.1%}  {frame}")
    # gunicorn's max_requests may have replaced a worker meanwhile: measure the ones alive now
    rss = sorted(r for r in (_services.peak_rss_mib(pid) for pid in _services.children(web.pid)) if r)

    second, port2 = _services.gunicorn("wsgi:app", env)
    _services.warm_up(port2, poll, headers, seconds=10)
    print(f"invoice status poll, two servers round-robin: {args.connections} connections …", flush=True)
    both = _services.load([port, port2], poll, headers, seconds=args.seconds, connections=args.connections)
    print(f"  {both}", flush=True)
    _services.stop(second)
    _services.stop(web)

    ok = all(r["errors"] == 0 and r["requests"] > 0 for r in (*results.values(), both, base))
    if not args.no_write:
        status = results["invoice status poll"]
        rendered = results["invoice status fragment, rendered"]
        ratio = status["rps"] / base["rps"] if base["rps"] else 0.0
        lines = [
            "## Web under gunicorn",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} by `python -m bench.web`: gunicorn with `gunicorn.conf.py`"
            " (gthread, 2 × cores + 1 workers × 4 threads, production config, access log to /dev/null) for the app"
            " and, in the same run, for a bare Flask hello-world; a Python load generator, 4 processes × 8 threads ="
            f" {args.connections} keep-alive connections in a closed loop, {args.seconds:.0f} s each, on the same"
            " machine (it takes CPU from the servers).",
            "",
            "| measured | requests/s | p50 ms | p99 ms | ratio to hello-world | targets |",
            "|---|---|---|---|---|---|",
            f"| hello-world `/` (baseline) | {base['rps']:,.0f} | {base['p50_ms']:.1f} | {base['p99_ms']:.1f} | 1 | — |",
        ]
        for name, r in results.items():
            target = (f"ratio ≥ {RATIO_TARGET} ({'met' if r['rps'] / base['rps'] >= RATIO_TARGET else 'NOT met'}),"
                      f" p99 ≤ {P99_TARGET_MS:.0f} ms ({'met' if r['p99_ms'] <= P99_TARGET_MS else 'NOT met'})"
                      if name.startswith("invoice status") else "—")
            lines.append(f"| {name} (buyer signed in) | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
                         f" {r['rps'] / base['rps']:.2f} | {target} |")
        lines.append(f"| invoice status poll, two app servers (two ports, loopback round-robin) | {both['rps']:,.0f} |"
                     f" {both['p50_ms']:.1f} | {both['p99_ms']:.1f} | {both['rps'] / base['rps']:.2f} | — |")
        lines += [
            "",
            "The poll is the status endpoint as the invoice page calls it every 1.5 s: `?v=` carries the"
            " fingerprint of what the fragment shows, and while nothing shown has changed the answer is an empty"
            " 204 given before the Flask stack (`app/web/deposits/fast_poll.py`: the session cookie verified, one"
            " prepared statement reading the deposit joined to its owner's live session token, on the worker"
            " thread's own PostgreSQL connection; see docs/live-status.md); the rendered fragment is what a poll"
            " gets once something has changed, once per change.",
            "",
            "Statements per request (first request of a session / a later one): "
            + "; ".join(f"{name}: {a} / {b}" for name, (a, b) in counts.items())
            + ".  Errors: " + ", ".join(f"{n} {r['errors']}" for n, r in
                                         (("hello", base), *results.items(), ("two servers", both))) + ".",
            "",
            "Profile of the app's workers serving the invoice status poll (py-spy, sampling all workers for"
            f" {args.seconds:.0f} s under the same load; share of CPU samples in which the function is on the stack):",
            "",
            *(f"- {share:.0%} `{frame}`" for frame, share in hot),
            "",
            f"Peak RSS of the app's gunicorn workers after the run: {', '.join(f'{x:.0f}' for x in rss)} MiB"
            f" ({len(rss)} workers).  Machine: {machine()}.",
        ]
        write_section("web", lines)
        record("web", [
            row("invoice status poll req/s under gunicorn, 32 connections", f"{status['rps']:,.0f}",
                f"{base['rps']:,.0f} hello-world", f"{ratio:.2f}", f"≥ {RATIO_TARGET}", ratio >= RATIO_TARGET,
                goal="invoice status poll req/s vs hello-world"),
            row("invoice status poll p99", f"{status['p99_ms']:.0f} ms", f"{base['p99_ms']:.0f} ms hello-world",
                "—", f"≤ {P99_TARGET_MS:.0f} ms", status["p99_ms"] <= P99_TARGET_MS, goal="invoice status poll p99"),
            row("invoice status fragment rendered in full req/s, p99", f"{rendered['rps']:,.0f}, "
                f"{rendered['p99_ms']:.0f} ms", f"{base['rps']:,.0f} hello-world",
                f"{rendered['rps'] / base['rps']:.2f}", f"≥ {RATIO_TARGET}, ≤ {P99_TARGET_MS:.0f} ms",
                rendered["rps"] / base["rps"] >= RATIO_TARGET and rendered["p99_ms"] <= P99_TARGET_MS),
            row("wallet page req/s, p99", f"{results['wallet page']['rps']:,.0f}, "
                f"{results['wallet page']['p99_ms']:.0f} ms", f"{base['rps']:,.0f} hello-world",
                f"{results['wallet page']['rps'] / base['rps']:.2f}",
                f"≥ {WALLET_RATIO_TARGET}, ≤ {WALLET_P99_TARGET_MS:.0f} ms",
                results["wallet page"]["rps"] / base["rps"] >= WALLET_RATIO_TARGET
                and results["wallet page"]["p99_ms"] <= WALLET_P99_TARGET_MS, goal="wallet page req/s vs hello-world, p99"),
            row("help page req/s, p99 (a signed-in page without data: the stack's floor for the wallet)",
                f"{results[HELP]['rps']:,.0f}, {results[HELP]['p99_ms']:.0f} ms", f"{base['rps']:,.0f} hello-world",
                f"{results[HELP]['rps'] / base['rps']:.2f}"),
            row("invoice status poll, two servers round-robin req/s", f"{both['rps']:,.0f}", f"{status['rps']:,.0f} one server",
                f"{both['rps'] / status['rps']:.2f}" if status["rps"] else "—"),
            row("peak RSS of a gunicorn worker", f"{max(rss):.0f} MiB" if rss else "—"),
        ])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
