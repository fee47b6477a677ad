"""The sandbox PokerOK room: accounts, player-to-player transfers, the platform's API.

The real room has no API (see ``docs/room-contract.md``); this server plays
the feed the platform is assumed to have, so the room connector is exercised
over real HTTP.  It keeps everything in memory behind one lock.

Three faces:

* ``/api/v1/...`` -- the platform's API (Bearer token): paged history of the
  platform account, balance, idempotent sends, reconcile by key.
* ``/_sandbox/room/...`` -- test control (loopback only, no auth): open and
  fund accounts, player-to-player transfers, read an account, snapshot
  everything, and the room-specific fault settings.
* ``/`` -- a small bilingual page where a person plays a seller and sends
  dollars to the platform account.

Faults: the shared :class:`sandbox.faults.Faults` (latency, 503, hangs before
the handler, duplicate and reordered history pages) plus two settings that
only make sense here -- ``fail_after_commit_rate`` and
``hang_after_commit_rate`` -- under which a send *is* made but the client sees
a 503 or a timeout: the "unknown outcome" a client must reconcile.

Run alone with ``python -m sandbox.room --port 5101``.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import logging
import re
import threading
import time
from bisect import bisect_right
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from flask import Blueprint, Flask, abort, jsonify, make_response, redirect, render_template_string, request, url_for

from sandbox.faults import Faults, install
from sandbox.server import serve

log = logging.getLogger(__name__)

#: one transfer above USD 10 million is refused as invalid_amount
MAX_AMOUNT = 1_000_000_000
MAX_PAGE = 500
DEFAULT_PAGE = 100
_ACCOUNT = re.compile(r"[^\x00-\x1f\x7f]{1,254}")
_DOLLARS = re.compile(r"(?P<whole>[0-9]{1,10})(?:[.,](?P<frac>[0-9]{1,2}))?")
_LOOPBACK = ("127.", "::1", "::ffff:127.")


class Refused(Exception):
    """The room definitely did not do it; ``code`` is what the API reports."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Transfer:
    #: position in the room's single transfer log, from 1; the public id is derived from it
    seq: int
    sender: str
    receiver: str
    #: USD cents
    amount: int
    occurred_at: datetime
    note: str | None
    #: the sender's idempotency key (API sends only)
    key: str | None

    @property
    def room_transfer_id(self) -> str:
        return f"rt-{self.seq:06d}"

    def as_dict(self) -> dict:
        """The room's full record (control endpoints and snapshot)."""
        return {
            "room_transfer_id": self.room_transfer_id,
            "from": self.sender,
            "to": self.receiver,
            "amount": self.amount,
            "occurred_at": _iso(self.occurred_at),
            "note": self.note,
            "key": self.key,
        }

    def seen_by(self, account: str) -> dict:
        """The row as ``account``'s own history shows it (what the API returns)."""
        incoming = self.receiver == account
        return {
            "room_transfer_id": self.room_transfer_id,
            "direction": "in" if incoming else "out",
            "counterparty": self.sender if incoming else self.receiver,
            "amount": self.amount,
            "occurred_at": _iso(self.occurred_at),
            "note": self.note,
        }


def room_key(account: str) -> str:
    """How the room tells accounts apart: an e-mail in any letter case is one account; a nickname only exactly.

    So ``Seller@Mail.example`` and ``seller@mail.example`` are one account, while
    ``Name`` and ``name`` are two (the case the platform must not confuse).
    """
    return account.lower() if "@" in account else account


class Room:
    """The room's books.  Every method holds the one lock, so each is atomic.

    Accounts are kept under the spelling they were opened with; an e-mail typed
    in another case finds the same account (:func:`room_key`).
    """

    def __init__(self, platform_account: str) -> None:
        self.platform_account = _valid_account(platform_account)
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {self.platform_account: 0}
        #: room_key(name) -> the account's own spelling
        self._names: dict[str, str] = {room_key(self.platform_account): self.platform_account}
        self._log: list[Transfer] = []
        self._seqs: dict[str, list[int]] = {self.platform_account: []}
        self._by_key: dict[tuple[str, str], Transfer] = {}
        #: money that entered the room from outside (the sum of all balances equals it)
        self._funded = 0
        self._clock = datetime.fromtimestamp(0, UTC)

    def open_or_fund(self, account: str, amount: int = 0) -> tuple[int, bool]:
        """Create ``account`` or add ``amount`` to it; (new balance, created)."""
        account = _valid_account(account)
        if type(amount) is not int or not 0 <= amount <= MAX_AMOUNT:
            raise Refused("invalid_amount")
        with self._lock:
            account = self._names.setdefault(room_key(account), account)
            created = account not in self._balances
            if created:
                self._balances[account] = 0
                self._seqs[account] = []
            self._balances[account] += amount
            self._funded += amount
            return self._balances[account], created

    def transfer(self, sender: str, receiver: str, amount: int,
                 note: str | None = None, key: str | None = None) -> tuple[Transfer, bool]:
        """Move ``amount`` cents; (transfer, replayed).  A known ``key`` replays the first transfer."""
        if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
            raise Refused("invalid_amount")
        with self._lock:
            sender, receiver = self._name(sender), self._name(receiver)
            if key is not None and (sender, key) in self._by_key:
                earlier = self._by_key[(sender, key)]
                if (earlier.receiver, earlier.amount, earlier.note) != (receiver, amount, note):
                    raise Refused("key_conflict")
                return earlier, True
            if sender not in self._balances or receiver not in self._balances:
                raise Refused("unknown_account")
            if sender == receiver:
                raise Refused("same_account")
            if self._balances[sender] < amount:
                raise Refused("insufficient_funds")
            # Times never go backwards in the log, even if the system clock does.
            self._clock = max(self._clock, datetime.now(UTC))
            made = Transfer(len(self._log) + 1, sender, receiver, amount, self._clock, note, key)
            self._log.append(made)
            self._balances[sender] -= amount
            self._balances[receiver] += amount
            self._seqs[sender].append(made.seq)
            self._seqs[receiver].append(made.seq)
            if key is not None:
                self._by_key[(sender, key)] = made
            return made, False

    def history(self, account: str, after: int, limit: int, overlap: int = 0
                ) -> tuple[list[Transfer], list[Transfer], int, bool]:
        """(new rows after seq ``after``, up to ``overlap`` rows before it, next cursor seq, has_more)."""
        with self._lock:
            seqs = self._seqs[account]
            start = bisect_right(seqs, after)
            new = [self._log[seq - 1] for seq in seqs[start:start + limit]]
            repeated = [self._log[seq - 1] for seq in seqs[max(0, start - overlap):start]]
            next_seq = new[-1].seq if new else after
            return new, repeated, next_seq, start + limit < len(seqs)

    def _name(self, account: str) -> str:
        """The account's own spelling (caller holds the lock); unknown names come back as given."""
        return self._names.get(room_key(account), account)

    def spelling(self, account: str) -> str | None:
        """The room's own spelling of ``account``, or None if there is no such account."""
        with self._lock:
            name = self._name(account)
            return name if name in self._balances else None

    def sent_with_key(self, sender: str, key: str) -> Transfer | None:
        with self._lock:
            return self._by_key.get((self._name(sender), key))

    def balance(self, account: str) -> int | None:
        with self._lock:
            return self._balances.get(self._name(account))

    def statement(self, account: str) -> tuple[int, list[Transfer]] | None:
        """(balance, every transfer of ``account`` oldest first), or None if there is no such account."""
        with self._lock:
            account = self._name(account)
            if account not in self._balances:
                return None
            return self._balances[account], [self._log[seq - 1] for seq in self._seqs[account]]

    def accounts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._balances)

    def snapshot(self) -> dict:
        """Everything, consistent at one instant (the chaos test compares it with the platform's books)."""
        with self._lock:
            return {
                "platform_account": self.platform_account,
                "accounts": dict(self._balances),
                "transfers": [t.as_dict() for t in self._log],
                "funded_total": self._funded,
                "balance_total": sum(self._balances.values()),
            }


@dataclass
class RoomSettings:
    """Room-only faults; the shared :class:`Faults` cannot grow fields."""

    #: probability that an API send is made and then answered with 503
    fail_after_commit_rate: float = 0.0
    #: probability that an API send is made and then answered only after ``Faults.hang_seconds``
    hang_after_commit_rate: float = 0.0

    def update(self, values: dict) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown room settings: {sorted(unknown)}")
        checked = {}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number between 0 and 1")
            checked[name] = float(value)
        for name, value in checked.items():
            setattr(self, name, value)


# -- helpers ---------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _valid_account(account) -> str:
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account.strip()):
        raise Refused("invalid_account")
    return account.strip()


def encode_cursor(seq: int) -> str:
    """Opaque to clients; inside it is "the last seq delivered"."""
    return base64.urlsafe_b64encode(f"h1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor") from None
    match = re.fullmatch(r"h1:([0-9]{1,12})", raw)
    if not match:
        raise ValueError("invalid cursor")
    return int(match[1])


def parse_dollars(text: str) -> int:
    """ "12.50" / "12,5" / "12" -> cents, by string arithmetic (never float)."""
    match = _DOLLARS.fullmatch((text or "").strip().replace(" ", "").replace("\u00a0", ""))
    if not match:
        raise Refused("invalid_amount")
    return int(match["whole"]) * 100 + int((match["frac"] or "").ljust(2, "0"))


def format_dollars(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{frac:02d}".replace(",", "\u00a0")


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(make_response(jsonify(error="invalid_json"), 400))
    return body


# -- the platform's API ----------------------------------------------------------


def _api_blueprint(room: Room, faults: Faults, settings: RoomSettings, api_token: str) -> Blueprint:
    bp = Blueprint("room_api", __name__, url_prefix="/api/v1")
    expected = f"Bearer {api_token}".encode()

    @bp.before_request
    def _authenticate():
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            response = jsonify(error="unauthorized")
            response.headers["WWW-Authenticate"] = 'Bearer realm="sandbox-room"'
            return response, 401
        return None

    @bp.get("/history")
    def history():
        """The platform account's transfers after the cursor, oldest first (unless faults shuffle)."""
        try:
            after = decode_cursor(request.args["since"]) if request.args.get("since") else 0
        except ValueError:
            return jsonify(error="invalid_cursor"), 400
        limit_text = request.args.get("limit", str(DEFAULT_PAGE))
        if not re.fullmatch(r"[0-9]{1,4}", limit_text) or not 1 <= int(limit_text) <= MAX_PAGE:
            return jsonify(error="invalid_limit"), 400
        limit = int(limit_text)
        # The cursor only ever covers the new rows, so repeats and shuffles cannot make it skip any.
        overlap = max(1, limit // 2) if faults.roll(faults.duplicate_rate) else 0
        new, repeated, next_seq, has_more = room.history(room.platform_account, after, limit, overlap)
        page = repeated + new
        if faults.roll(faults.reorder_rate):
            faults.shuffle(page)
        return jsonify(
            transfers=[t.seen_by(room.platform_account) for t in page],
            next_cursor=encode_cursor(next_seq),
            has_more=has_more,
        )

    @bp.get("/balance")
    def balance():
        """The platform account's balance in cents."""
        return jsonify(account=room.platform_account, balance=room.balance(room.platform_account))

    @bp.post("/transfers")
    def send():
        """Send from the platform account, once per idempotency key."""
        body = _json_body()
        key, note, to = body.get("key"), body.get("note"), body.get("to")
        if not isinstance(key, str) or not 1 <= len(key) <= 200:
            return jsonify(error="invalid_key"), 400
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            return jsonify(error="invalid_note"), 400
        if not isinstance(to, str):
            return jsonify(error="unknown_account"), 422
        try:
            made, replayed = room.transfer(room.platform_account, to.strip(), body.get("amount"), note, key)
        except Refused as refusal:
            status = 409 if refusal.code == "key_conflict" else 422
            return jsonify(error=refusal.code), status
        if not replayed:
            log.info("room: platform sent %s (%d cents, key %s)", made.room_transfer_id, made.amount, key)
            if faults.roll(settings.fail_after_commit_rate):
                return jsonify(error="unavailable"), 503
            if faults.roll(settings.hang_after_commit_rate):
                time.sleep(faults.hang_seconds)
        return jsonify(made.seen_by(room.platform_account))

    @bp.get("/transfers/by-key/<path:key>")
    def by_key(key: str):
        """The platform's outgoing transfer made with ``key`` -- to reconcile an unknown outcome."""
        made = room.sent_with_key(room.platform_account, key)
        if made is None:
            return jsonify(error="not_found"), 404
        return jsonify(made.seen_by(room.platform_account))

    return bp


# -- test control ----------------------------------------------------------------


def _control_blueprint(room: Room, settings: RoomSettings) -> Blueprint:
    bp = Blueprint("room_control", __name__, url_prefix="/_sandbox/room")

    @bp.before_request
    def _loopback_only():
        if not (request.remote_addr or "").startswith(_LOOPBACK):
            return jsonify(error="forbidden"), 403
        return None

    @bp.post("/accounts")
    def open_or_fund():
        """Create an account with an opening balance, or add to an existing one."""
        body = _json_body()
        try:
            balance, created = room.open_or_fund(body.get("account"), body.get("balance", 0))
        except Refused as refusal:
            return jsonify(error=refusal.code), 422
        return jsonify(account=room.spelling(body["account"]), balance=balance), 201 if created else 200

    @bp.get("/accounts")
    def list_accounts():
        """Every account and its balance."""
        return jsonify(accounts=room.accounts())

    @bp.get("/accounts/<path:account>")
    def show_account(account: str):
        """One account: balance and all its transfers, oldest first."""
        found = room.statement(account)
        if found is None:
            return jsonify(error="unknown_account"), 404
        balance, transfers = found
        return jsonify(account=room.spelling(account), balance=balance, transfers=[t.as_dict() for t in transfers])

    @bp.post("/transfers")
    def player_transfer():
        """A player-to-player transfer (how a seller sends dollars to the platform)."""
        body = _json_body()
        note = body.get("note")
        if note is not None and not isinstance(note, str):
            return jsonify(error="invalid_note"), 400
        try:
            made, _ = room.transfer(_valid_account(body.get("from")), _valid_account(body.get("to")),
                                    body.get("amount"), note)
        except Refused as refusal:
            return jsonify(error=refusal.code), 422
        return jsonify(made.as_dict())

    @bp.get("/snapshot")
    def snapshot():
        """All balances and transfers at one instant."""
        return jsonify(room.snapshot())

    @bp.get("/settings")
    def show_settings():
        """The room-only fault settings."""
        return jsonify(asdict(settings))

    @bp.post("/settings")
    def change_settings():
        """Change room-only fault settings, e.g. ``{"fail_after_commit_rate": 0.5}``."""
        try:
            settings.update(_json_body())
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(asdict(settings))

    @bp.post("/settings/reset")
    def reset_settings():
        """Back to a well-behaved room."""
        settings.update({f.name: f.default for f in fields(settings)})
        return jsonify(asdict(settings))

    return bp


# -- the seller's page -----------------------------------------------------------

_MESSAGES = {
    "created": ("ok", "Счёт открыт / Account opened"),
    "funded": ("ok", "Счёт пополнен / Account topped up"),
    "sent": ("ok", "Перевод выполнен / Transfer done"),
    "insufficient_funds": ("error", "Недостаточно средств / Insufficient funds"),
    "unknown_account": ("error", "Нет такого счёта / No such account"),
    "invalid_account": ("error", "Неверное имя счёта / Invalid account name"),
    "invalid_amount": ("error", "Неверная сумма: например 12.50 / Invalid amount: e.g. 12.50"),
    "same_account": ("error", "Нельзя перевести самому себе / Cannot transfer to yourself"),
}

_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8">
<title>PokerOK sandbox</title>
<style>
body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;color:#222}
form{margin:.75rem 0}label{margin-right:.75rem}input,select,button{font:inherit;padding:.2rem .4rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}
td.amount{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#075e07}.error{color:#a00}
</style></head>
<body>
<h1>Песочница PokerOK / PokerOK sandbox</h1>
<p>Счёт платформы / Platform account: <code>{{ platform }}</code></p>
{% if message %}<p class="{{ message[0] }}" role="status">{{ message[1] }}{% if rt %} — {{ rt }}{% endif %}</p>{% endif %}

<h2>Игрок / Player</h2>
{% if players %}
<form method="get" action="{{ url_for('room_page.index') }}">
  <label>Счёт / Account
    <select name="account">{% for name in players %}
      <option{% if name == account %} selected{% endif %}>{{ name }}</option>{% endfor %}
    </select></label>
  <button>Открыть / Open</button>
</form>
{% endif %}
<form method="post" action="{{ url_for('room_page.open_or_fund') }}">
  <label>Новый счёт или пополнение / New account or top-up
    <input name="account" required maxlength="254" placeholder="seller@example.com" value="{{ account or '' }}"></label>
  <label>Сумма / Amount, $ <input name="amount" inputmode="decimal" placeholder="100.00" size="10"></label>
  <button>Сохранить / Save</button>
</form>

{% if account %}
<h2>{{ account }}</h2>
<p>Баланс / Balance: <strong>${{ balance|dollars }}</strong></p>
<form method="post" action="{{ url_for('room_page.send') }}">
  <input type="hidden" name="from" value="{{ account }}">
  <label>Кому / To <input name="to" required value="{{ platform }}"></label>
  <label>Сумма / Amount, $ <input name="amount" required inputmode="decimal" placeholder="12.50" size="10"></label>
  <label>Комментарий / Note <input name="note" maxlength="200"></label>
  <button>Перевести / Transfer</button>
</form>
<h3>Последние переводы / Recent transfers</h3>
{% if transfers %}
<table>
  <tr><th>ID</th><th>Время / Time (UTC)</th><th></th><th>Кто / Who</th><th>Сумма / Amount, $</th><th>Комментарий / Note</th></tr>
  {% for t in transfers %}
  <tr><td>{{ t.room_transfer_id }}</td><td>{{ t.occurred_at.strftime('%Y-%m-%d %H:%M:%S') }}</td>
    {% if t.receiver == account %}<td>← от / from</td><td>{{ t.sender }}</td><td class="amount">+{{ t.amount|dollars }}</td>
    {% else %}<td>→ кому / to</td><td>{{ t.receiver }}</td><td class="amount">−{{ t.amount|dollars }}</td>{% endif %}
    <td>{{ t.note or '' }}</td></tr>
  {% endfor %}
</table>
{% else %}<p>Переводов нет / No transfers yet</p>{% endif %}
{% endif %}
</body></html>
"""


def _page_blueprint(room: Room) -> Blueprint:
    bp = Blueprint("room_page", __name__)

    def back(account: str | None, outcome: str, rt: str | None = None):
        return redirect(url_for("room_page.index", account=account or None, m=outcome, rt=rt), 303)

    @bp.get("/")
    def index():
        """The seller's view: pick or open an account, see its balance, send dollars."""
        account = request.args.get("account", "").strip() or None
        outcome = request.args.get("m")
        found = room.statement(account) if account else None
        if account and found is None:
            account, outcome = None, "unknown_account"
        elif account:
            account = room.spelling(account)
        balance, transfers = found or (0, [])
        players = sorted(name for name in room.accounts() if name != room.platform_account)
        return render_template_string(
            _PAGE, platform=room.platform_account, players=players, account=account, balance=balance,
            transfers=list(reversed(transfers))[:20], message=_MESSAGES.get(outcome),
            rt=request.args.get("rt") if outcome == "sent" else None)

    @bp.post("/seller/accounts")
    def open_or_fund():
        """Open an account (with an optional opening balance) or top one up."""
        account = request.form.get("account", "").strip()
        try:
            amount = parse_dollars(request.form["amount"]) if request.form.get("amount", "").strip() else 0
            _, created = room.open_or_fund(account, amount)
        except Refused as refusal:
            return back(account if room.balance(account) is not None else None, refusal.code)
        return back(account, "created" if created else "funded")

    @bp.post("/seller/transfers")
    def send():
        """Send dollars from the chosen account (to the platform unless another receiver is typed)."""
        sender = request.form.get("from", "").strip()
        try:
            made, _ = room.transfer(sender, request.form.get("to", "").strip(),
                                    parse_dollars(request.form.get("amount", "")),
                                    request.form.get("note", "").strip()[:200] or None)
        except Refused as refusal:
            return back(sender, refusal.code)
        return back(sender, "sent", made.room_transfer_id)

    return bp


# -- the factory -----------------------------------------------------------------


def create_room_app(platform_account: str = "pokerpay@pokerok.example",
                    api_token: str = "sandbox-room-token", seed: int = 0) -> Flask:
    """A fresh, empty room whose platform account holds nothing; faults start off, seeded by ``seed``."""
    if not api_token:
        raise ValueError("the sandbox room needs an API token")
    app = Flask(__name__)
    room = Room(platform_account)
    faults = Faults(seed=seed)
    settings = RoomSettings()
    app.extensions["sandbox_room"] = room
    app.extensions["sandbox_room_settings"] = settings
    install(app, faults)
    app.add_template_filter(format_dollars, "dollars")
    app.register_blueprint(_api_blueprint(room, faults, settings, api_token))
    app.register_blueprint(_control_blueprint(room, settings))
    app.register_blueprint(_page_blueprint(room))
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the sandbox PokerOK room.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5101)
    parser.add_argument("--platform-account", default="pokerpay@pokerok.example")
    parser.add_argument("--api-token", default="sandbox-room-token")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--account", action="append", default=[], metavar="NAME=DOLLARS",
                        help="open a player account with a balance, e.g. seller@example.com=100.00")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    app = create_room_app(args.platform_account, args.api_token, args.seed)
    for spec in args.account:
        name, _, dollars = spec.rpartition("=")
        try:
            app.extensions["sandbox_room"].open_or_fund(name, parse_dollars(dollars))
        except Refused:
            parser.error(f"--account {spec!r}: expected NAME=DOLLARS, e.g. seller@example.com=100.00")
    running = serve(app, args.host, args.port)
    log.info("sandbox room on %s (platform account %s)", running.url, args.platform_account)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        running.stop()


if __name__ == "__main__":
    main()
