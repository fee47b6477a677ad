"""What must hold, read from the platform's database and from the sandboxes' own records.

``safety`` holds at every instant and runs during the load: the database is read
first and the sandboxes after, so every fact the platform recorded must already
be true in the sandbox (a credit needs its room transfer, a settlement its paid
payment, a sent cash-out its room transfer).

``final`` runs after the drain and adds the converse and the totals: every room
transfer to the platform recorded and credited once (or parked, for the
stranger), every paid payment settled (or with ops as a dispute), what each
seller was paid and what each room account holds equal on both sides, the
room omnibus equal to the platform's room balance, nothing left in flight.
"""
from __future__ import annotations

import subprocess
from collections import Counter, defaultdict

import requests
import sqlalchemy as sa

from tests.chaos.system import BIN, ROOT
from tests.chaos.world import PLATFORM_ACCOUNT, STRANGER

SETTLE_SUFFIXES = (":settle", ":late-settle", ":dispute-settle")


def ledger_verify(system) -> list[str]:
    """``flask ledger verify`` as an operator runs it, against the run's database."""
    for _ in range(3):
        done = subprocess.run([str(BIN / "flask"), "ledger", "verify"], env=system.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            return []
        if "OperationalError" not in done.stderr:  # a real finding, not a dropped connection
            break
    return [f"flask ledger verify failed: {(done.stdout + done.stderr).strip()[-2000:]}"]


def _rows(conn, sql: str, **params) -> list:
    return conn.execute(sa.text(sql), params).all()


def read_platform(engine) -> dict:
    with engine.connect() as c:
        c.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        data = {
            "credits": _rows(c, "SELECT t.key, t.amount, a.owner_id FROM ledger_transfer t "
                                "JOIN ledger_account a ON a.id = t.credit_account_id WHERE t.kind = 'room_deposit'"),
            "room_rows": _rows(c, "SELECT room_transfer_id, direction, counterparty, amount, status, user_id "
                                  "FROM room_transfer"),
            "deposits": _rows(c, "SELECT id, order_id, status, amount_kopecks, usd_cents, paid_kopecks, withdrawal_id, "
                                 "payment_form_id, hold_transfer_id, expires_at, kind FROM deposit"),
            "settles": _rows(c, "SELECT key FROM ledger_transfer WHERE key LIKE :a OR key LIKE :b OR key LIKE :c",
                             a="deposit:%:settle", b="deposit:%:late-settle", c="deposit:%:dispute-settle"),
            "requests": _rows(c, "SELECT r.id, r.status, r.amount, r.open_invoices, a.credits_posted, a.debits_posted, "
                                 "a.debits_pending FROM withdrawal_request r "
                                 "JOIN ledger_account a ON a.id = r.escrow_account_id"),
            "releases": _rows(c, "SELECT debit_account_id, amount FROM ledger_transfer WHERE kind = 'escrow_release'"),
            "cash_outs": _rows(c, "SELECT c.id, c.status, c.amount, c.send_key, c.room_transfer_id, ra.identifier "
                                  "FROM cash_out c JOIN room_account ra ON ra.id = c.room_account_id"),
            "omnibus": _rows(c, "SELECT debits_posted - credits_posted FROM ledger_account "
                                "WHERE kind = 'room_omnibus'"),
            "events_open": _rows(c, "SELECT count(*) FROM provider_event WHERE processed_at IS NULL"),
            "pending_holds": _rows(c, "SELECT id, key FROM ledger_transfer WHERE phase = 'pending' AND status = 'pending'"),
            "dispute_reasons": _rows(c, "SELECT reason, count(*) FROM deposit WHERE status = 'disputed' GROUP BY reason"),
            "now": _rows(c, "SELECT now()"),
        }
    return data


def read_sandboxes(system) -> dict:
    room = requests.get(system.room_url + "/_sandbox/room/snapshot", timeout=30).json()
    money = requests.get(system.providers_url + "/_sandbox/providers/money", timeout=30).json()
    return {"room": room, "money": money}


def safety(platform: dict, sandbox: dict, world) -> list[str]:
    """Violations that no interleaving can excuse."""
    v: list[str] = []
    room_tx = {t["room_transfer_id"]: t for t in sandbox["room"]["transfers"]}
    owner_of_account = {p.room_account: p.user_id for p in world.sellers + world.buyers}

    # Room transfers credited exactly once, to their sender, for their amount.
    credited = Counter()
    for key, amount, owner in platform["credits"]:
        rt = key.split(":")[1]
        credited[rt] += 1
        t = room_tx.get(rt)
        if t is None or t["to"] != PLATFORM_ACCOUNT:
            v.append(f"credit {key} has no room transfer to the platform behind it")
            continue
        if t["from"] == STRANGER:
            v.append(f"room transfer {rt} from an unknown sender was credited to user {owner}")
        elif owner_of_account.get(t["from"]) != owner or t["amount"] != amount:
            v.append(f"room transfer {rt} ({t['from']}, {t['amount']}) credited as {amount} to user {owner}")
    v += [f"room transfer {rt} credited {n} times" for rt, n in credited.items() if n > 1]

    # Every settled invoice settled once, and only if the provider really has the money.
    settles = Counter(k.rsplit(":", 1)[0] for (k,) in platform["settles"])
    v += [f"{d} settled {n} times" for d, n in settles.items() if n > 1]
    paid = {(p["provider"], p["account"], p["order_id"]): p for p in sandbox["money"]["payments"]}
    for d in platform["deposits"]:
        did, order_id, status, amount, _usd, paid_kopecks, _wr, form_id, *_ = d
        if status in ("settled", "paid"):
            kind, account = world.form_accounts[form_id].split(":", 1)
            payment = paid.get((kind, account, order_id))
            if payment is None or payment["paid_amount"] is None:
                v.append(f"deposit {did} is {status} but {kind} has no paid payment for order {order_id}")
            elif payment["paid_amount"] != paid_kopecks:
                v.append(f"deposit {did} settled with {paid_kopecks} but {kind} was paid {payment['paid_amount']}")
        if status == "settled" and settles.get(f"deposit:{did}", 0) != 1:
            v.append(f"deposit {did} is settled but has {settles.get(f'deposit:{did}', 0)} settlement postings")
        if status not in ("settled", "paid", "disputed", "rejected") and settles.get(f"deposit:{did}"):
            v.append(f"deposit {did} is {status} yet has a settlement posting")

    # No withdrawal request allocated beyond what it escrowed.
    allocated = defaultdict(int)
    for d in platform["deposits"]:
        did, _o, status, _a, usd, _p, wr, _f, hold, *_ = d
        if wr is not None and (status in ("settled", "paid") or (status in ("awaiting_payment", "matching")
                                                                 and hold is not None)):
            allocated[wr] += usd
    for rid, status, amount, _open, credits, debits, pending in platform["requests"]:
        if credits != amount:
            v.append(f"withdrawal {rid}: escrow funded with {credits}, request says {amount}")
        if debits + pending > credits:
            v.append(f"withdrawal {rid} over-allocated: {debits} spent + {pending} held > {credits} escrowed")
        if allocated[rid] > amount:
            v.append(f"withdrawal {rid} over-allocated: invoices take {allocated[rid]} of {amount}")

    # A cash-out marked sent left the room exactly as recorded.
    by_key = {t["key"]: t for t in room_tx.values() if t["from"] == PLATFORM_ACCOUNT and t["key"]}
    for cid, status, amount, send_key, rt, identifier in platform["cash_outs"]:
        if status == "sent":
            t = by_key.get(send_key)
            if t is None or t["amount"] != amount or t["to"] != identifier or t["room_transfer_id"] != rt:
                v.append(f"cash-out {cid} is sent but the room shows {t}")
    return v


def final(platform: dict, sandbox: dict, world, *, expiry_slack_seconds: float = 0) -> tuple[list[str], dict]:
    """Safety plus completeness and agreement of totals; also returns figures for the summary."""
    v = safety(platform, sandbox, world)
    room = sandbox["room"]
    transfers = room["transfers"]
    rows = {r[0]: r for r in platform["room_rows"]}
    credited_keys = {k.split(":")[1] for k, _a, _o in platform["credits"]}

    # Every room transfer to the platform is known to the platform, credited once or parked.
    incoming = [t for t in transfers if t["to"] == PLATFORM_ACCOUNT]
    for t in incoming:
        row = rows.get(t["room_transfer_id"])
        if row is None:
            v.append(f"room transfer {t['room_transfer_id']} to the platform was never recorded")
        elif t["from"] == STRANGER:
            if row[4] != "unmatched":
                v.append(f"stranger's transfer {t['room_transfer_id']} is {row[4]}, expected unmatched")
        elif row[4] != "credited" or t["room_transfer_id"] not in credited_keys:
            v.append(f"room transfer {t['room_transfer_id']} from {t['from']} is {row[4]}, not credited")
    known = {t["room_transfer_id"] for t in transfers}
    v += [f"platform recorded room transfer {rt} the room never made" for rt in rows if rt not in known]

    # Every paid payment is settled (or with ops as a dispute); sellers' takings agree.
    deposits_by_order = {d[1]: d for d in platform["deposits"]}
    form_of = {acc: fid for fid, acc in world.form_accounts.items()}
    sandbox_paid = defaultdict(int)
    platform_paid = defaultdict(int)
    disputed = 0
    for p in sandbox["money"]["payments"]:
        if p["paid_amount"] is None:
            continue
        account = f"{p['provider']}:{p['account']}"
        sandbox_paid[account] += p["paid_amount"]
        d = deposits_by_order.get(p["order_id"])
        if d is None or form_of.get(account) != d[7]:
            v.append(f"{p['provider']} payment {p['id']} (order {p['order_id']}) was paid but no invoice of "
                     "that form has this order id")
            continue
        if d[2] == "disputed":
            disputed += 1
            platform_paid[account] += p["paid_amount"]  # with ops: recorded, not lost
        elif d[2] != "settled":
            v.append(f"deposit {d[0]} is {d[2]} but its {p['provider']} payment {p['id']} was paid")
    for d in platform["deposits"]:
        if d[2] == "settled":
            platform_paid[world.form_accounts[d[7]]] += d[5]
    for account in sorted(set(sandbox_paid) | set(platform_paid)):
        if sandbox_paid[account] != platform_paid[account]:
            v.append(f"seller account {account}: provider says paid {sandbox_paid[account]} kopecks, "
                     f"platform settled {platform_paid[account]}")

    # Each room account's balance is what the platform's records imply.
    received = defaultdict(int)
    sent = defaultdict(int)
    for r in platform["room_rows"]:
        if r[1] == "in":
            sent[r[2]] += r[3]
    for _cid, status, amount, _key, _rt, identifier in platform["cash_outs"]:
        if status == "sent":
            received[identifier] += amount
    for account, opening in world.room_openings.items():
        expected = opening - sent[account] + received[account]
        actual = room["accounts"].get(account)
        if actual != expected:
            v.append(f"room account {account}: room holds {actual}, platform's records imply {expected}")
    omnibus = platform["omnibus"][0][0] if platform["omnibus"] else 0
    if omnibus != room["accounts"][PLATFORM_ACCOUNT]:
        v.append(f"ledger room omnibus {omnibus} != the platform's room balance {room['accounts'][PLATFORM_ACCOUNT]}")
    if room["funded_total"] != room["balance_total"]:
        v.append("the sandbox room itself does not balance")

    # Cash-outs: a failed one never left the room; nothing left the room without a cash-out.
    cash_by_key = {c[3]: c for c in platform["cash_outs"]}
    for t in transfers:
        if t["from"] == PLATFORM_ACCOUNT:
            c = cash_by_key.get(t["key"])
            if c is None:
                v.append(f"room transfer {t['room_transfer_id']} left the platform with no cash-out behind it")
            elif c[1] != "sent":
                v.append(f"cash-out {c[0]} is {c[1]} but the room sent it ({t['room_transfer_id']})")

    # Nothing stuck.
    now = platform["now"][0][0]
    status_count = Counter(d[2] for d in platform["deposits"])
    for d in platform["deposits"]:
        if d[2] in ("matching", "paid"):
            v.append(f"deposit {d[0]} stuck in {d[2]}")
        elif d[2] == "awaiting_payment" and d[9] is not None and (now - d[9]).total_seconds() > expiry_slack_seconds:
            v.append(f"deposit {d[0]} still awaiting payment {(now - d[9]).total_seconds():.0f}s after its expiry")
    v += [f"cash-out {c[0]} stuck in {c[1]}" for c in platform["cash_outs"] if c[1] in ("requested", "sending", "unknown")]
    v += [f"room transfer {r[0]} stuck in new" for r in platform["room_rows"] if r[4] == "new"]
    if platform["events_open"][0][0]:
        v.append(f"{platform['events_open'][0][0]} provider notifications never processed")
    open_deposit_holds = {f"deposit:{d[0]}" for d in platform["deposits"] if d[2] in ("awaiting_payment", "disputed")}
    for hid, key in platform["pending_holds"]:
        owner = ":".join(key.split(":")[:2])
        if owner not in open_deposit_holds and not key.startswith("cashout:"):
            v.append(f"hold {hid} ({key}) still pending though its invoice has ended")
    cash_holds_open = {f"cashout:{c[0]}" for c in platform["cash_outs"] if c[1] in ("requested", "sending", "unknown")}
    for hid, key in platform["pending_holds"]:
        if key.startswith("cashout:") and ":".join(key.split(":")[:2]) not in cash_holds_open:
            v.append(f"hold {hid} ({key}) still pending though its cash-out has ended")
    released = defaultdict(int)
    for account_id, amount in platform["releases"]:
        released[account_id] += amount
    for rid, status, amount, open_invoices, credits, debits, pending in platform["requests"]:
        awaiting = sum(1 for d in platform["deposits"] if d[6] == rid and d[2] == "awaiting_payment")
        if open_invoices != awaiting:
            v.append(f"withdrawal {rid}: open_invoices {open_invoices} but {awaiting} invoices await payment")
        if status in ("cancelled", "completed") and pending == 0 and credits - debits != 0:
            v.append(f"withdrawal {rid} is {status} with {credits - debits} cents left in escrow")
    figures = {
        "deposits": dict(status_count), "disputed_paid": disputed,
        "room_in": len(incoming), "cash_outs": dict(Counter(c[1] for c in platform["cash_outs"])),
        "requests": dict(Counter(r[1] for r in platform["requests"])),
        "dispute_reasons": {reason: n for reason, n in platform["dispute_reasons"]},
        "rubles_paid_kopecks": sum(sandbox_paid.values()),
        "room_omnibus_cents": omnibus,
    }
    return v, figures
