"""Bad input to every form and every JSON / webhook endpoint: never a 5xx, and a rejected request
writes nothing (every table's row count and checksum is the same before and after).

Each example sends one fuzzed request to every endpoint of ``fuzz_table.ENTRIES`` (and to every
admin-area endpoint), with a valid CSRF token so the input reaches validation.  A request counts
as rejected when it answers 4xx, or re-renders a POSTed form (200).
"""
from __future__ import annotations

import json
import re
from urllib.parse import quote

from hypothesis import given, note, settings
from hypothesis import strategies as st

from app.extensions import db, limiter
from tests.fuzz import fuzz_table as table
from tests.fuzz.snapshot import changed, snapshot
from tests.fuzz.strategies import INVALID_TEXT, NASTY, ODD_UNICODE, OVER_LONG, field, ids, json_values, texts
from tests.fuzz.wire import encoded, open_raw, wire
from tests.helpers import csrf_from
from tests.hypothesis_profiles import examples
from tests.security.conftest import build_world, sign_in


def test_every_route_is_fuzzed_or_skipped_with_a_reason(sec_app):
    """Does every route have a fuzz entry (or a stated reason not to)?"""
    missing = sorted({r.endpoint for r in sec_app.url_map.iter_rules() if not table.covered(r.endpoint)})
    assert not missing, f"add these endpoints to tests/fuzz/fuzz_table.py: {missing}"
    assert all(reason.strip() for reason in table.SKIP.values())
    stale = sorted(set(table.ENTRIES) - {r.endpoint for r in sec_app.url_map.iter_rules()})
    assert not stale, f"entries for endpoints that no longer exist: {stale}"


class _Sender:
    def __init__(self, app, world):
        self.app, self.world, self.clients = app, world, {}

    def client(self, actor):
        if actor == "anonymous":  # a fresh visitor each time: a fuzzed registration may succeed and sign in
            client = self.app.test_client()
            client.environ_base["REMOTE_ADDR"] = "2001:db8::f022"
            return client, csrf_from(client.get("/login").get_data(as_text=True))
        if actor not in self.clients:
            client = self.app.test_client()
            client.environ_base["REMOTE_ADDR"] = "2001:db8::f0"
            sign_in(self.app, client, actor, self.world)
            self.clients[actor] = (client, csrf_from(client.get("/account").get_data(as_text=True)))
        return self.clients[actor]


def _draw_values(data, fields: dict, label: str) -> dict:
    values = {}
    for name, strategy in fields.items():
        value = data.draw(strategy, label=f"{label}.{name}")
        if value is not None:
            values[name] = value
    return values


def _with_ids(rule: str) -> str:
    """A route's URL with 1 for each of its arguments (``/admin/users/<int:user_id>`` → ``/admin/users/1``)."""
    return re.sub(r"<(?:\w+:)?\w+>", "1", rule)


def _send(sender, data, endpoint, method, url, entry_fields, query_fields, actor, allowed):
    client, token = sender.client(actor)
    form = _draw_values(data, entry_fields, endpoint)
    query = _draw_values(data, query_fields, endpoint + "?")
    with sender.app.app_context():
        before = snapshot()
    response = open_raw(client, method, url, query=query, form=None if method == "GET" else {**form, "csrf_token": token})
    response.get_data()  # a streamed answer (the CSV export) runs to its end and releases its context,
    response.close()     # as a server would, before the tables are compared
    with sender.app.app_context():
        after = snapshot()
        db.session.remove()
    note(f"{endpoint}: {method} {url} → {response.status_code}")
    assert response.status_code < 500, f"{endpoint} {method} {url} answered {response.status_code}"
    rejected = response.status_code >= 400 or (method != "GET" and response.status_code == 200) or method == "GET"
    if rejected:
        wrote = set(changed(before, after)) - allowed
        assert not wrote, f"{endpoint} {method} {url} ({response.status_code}) wrote {sorted(wrote)}"


def test_no_5xx_and_no_partial_write(sec_app, providers):
    """Fuzz every entry: no 5xx; a rejected request leaves every table as it was."""
    world = build_world(sec_app, providers)
    sender = _Sender(sec_app, world)
    own_ids = [str(v) for k, v in world.objects.items() if isinstance(v, int)]
    any_id = st.one_of(st.sampled_from(own_ids), ids)
    admin_rules = sorted((r for r in sec_app.url_map.iter_rules()
                          if r.endpoint.startswith("admin.") and r.endpoint not in table.ENTRIES),
                         key=lambda r: r.endpoint)

    # One small Hypothesis run per endpoint rather than one run over all of them: an example that
    # drew for ~150 requests overran Hypothesis' buffer and was retried hundreds of times (minutes).
    def fuzz(draw_request):
        @settings(max_examples=examples(10, 300))
        @given(data=st.data())
        def run(data):
            _send(sender, data, *draw_request(data))
        run()

    for endpoint, entry in sorted(table.ENTRIES.items()):
        def entry_request(data, endpoint=endpoint, entry=entry):
            url = entry.url
            if "{any_id}" in url:
                url = url.replace("{any_id}", data.draw(any_id, label="id") or "x")
            if "{text}" in url:
                url = url.replace("{text}", data.draw(texts, label="path") or "x")
            return (endpoint, entry.method, url, entry.fields, entry.query, entry.actor,
                    entry.writes_on_rejection)
        fuzz(entry_request)
    for rule in admin_rules:
        url = _with_ids(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            def admin_request(data, rule=rule, method=method, url=url):
                fields = data.draw(table.ADMIN_GENERIC_FIELDS, label=rule.endpoint)
                return (rule.endpoint, method, url, {k: st.just(v) for k, v in fields.items()}, {}, "admin",
                        frozenset())
            fuzz(admin_request)


def _admin_field_names(app, client) -> list[str]:
    """Every input name on every admin page: the generic admin fuzz hits these fields, not guesses."""
    names = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and "GET" in rule.methods:
            response = client.get(_with_ids(rule.rule))
            names |= set(re.findall(r'name="([a-z][\w-]*)"', response.get_data(as_text=True)))
            response.close()
    return sorted(names - {"csrf_token"})


#: what the sweep sends on PostgreSQL: the values whose fate differs by engine (NUL and surrogates cannot
#: be stored there, VARCHAR(n) is enforced there), so the second engine costs a fraction of the first
ENGINE_SENSITIVE = INVALID_TEXT + ODD_UNICODE[:4] + OVER_LONG[1::2]
#: on SQLite the classic list (it has NUL) plus what the test client alone could never send
SURROGATES = [v for v in INVALID_TEXT if any("\ud800" <= c <= "\udfff" for c in v)]
#: the guard's 400 (tests/fuzz/test_invalid_text.py checks its text in both languages)
GUARD_REFUSAL = ("cannot be accepted", "невозможно принять")


def test_every_field_takes_every_troublemaker(sec_app, providers, database, monkeypatch):
    """Each classic troublemaker (huge numbers, NaN, Arabic digits, 100 kB, control characters, NUL, lone
    surrogates…) in every field, query argument and path segment of every endpoint at once: never a 5xx,
    and text no column can store is refused by the edge guard with its 400 wherever it was sent.
    Deterministic, so a rare value is not left to chance; on PostgreSQL the engine-sensitive values."""
    monkeypatch.setattr(limiter, "enabled", False)  # ~9,000 requests: the limits would answer 429 first
    world = build_world(sec_app, providers)
    sender = _Sender(sec_app, world)
    admin_fields = _admin_field_names(sec_app, sender.client("admin")[0])
    requests = [(endpoint, e.method, e.url, list(e.fields), list(e.query), e.actor)
                for endpoint, e in sorted(table.ENTRIES.items())]
    requests += [(rule.endpoint, method, rule.rule, admin_fields, [], "admin")
                 for rule in sorted(sec_app.url_map.iter_rules(), key=lambda r: r.endpoint)
                 if rule.endpoint.startswith("admin.") and rule.endpoint not in table.ENTRIES
                 for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    values = NASTY + SURROGATES if database.kind == "sqlite" else ENGINE_SENSITIVE
    refused = 0
    for value in values:
        for endpoint, method, url, fields, query, actor in requests:
            in_path = "{any_id}" in url or "{text}" in url
            url = _with_ids(url).replace("{any_id}", value or "x").replace("{text}", value or "x")
            client, token = sender.client(actor)
            form = None if method == "GET" else {**dict.fromkeys(fields, value), "csrf_token": token}
            response = open_raw(client, method, url, query=dict.fromkeys(query, value), form=form)
            body = response.get_data(as_text=True)
            response.close()
            shown = f"{endpoint} {method} {url[:60]!r} with {value[:40]!r}"
            assert response.status_code < 500, f"{shown} answered {response.status_code}"
            if value in INVALID_TEXT and (in_path or query or (fields and method != "GET")):
                assert response.status_code == 400 and any(t in body for t in GUARD_REFUSAL), \
                    f"{shown} was not refused at the edge ({response.status_code})"
                refused += 1
    # the guard answered for every endpoint that takes input (48 of them when this was written)
    assert refused >= 40 * sum(value in INVALID_TEXT for value in values)


def test_notification_endpoint_takes_any_bytes(sec_app, providers):
    """Does the provider endpoint refuse garbage of every shape (4xx, no event stored, no 5xx)?"""
    world = build_world(sec_app, providers)
    client = sec_app.test_client()
    token = world.objects["hook_token"]
    bodies = st.one_of(
        st.binary(max_size=2048),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(texts, texts, max_size=6).map(lambda d: encoded(d).encode()),
        st.just(b"{" * 5000), st.just(b"A" * (70 * 1024)),
    )

    @settings(max_examples=examples(12, 1000))
    @given(kind=st.one_of(st.sampled_from(["tbank", "yoomoney", "yookassa"]), texts),
           real_token=st.booleans(), body=bodies,
           content_type=field(st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                               "text/plain", "multipart/form-data", "application/json; charset=koi8-r"])),
           address=st.sampled_from(["127.0.0.1", "203.0.113.7", "::1"]))
    def run(kind, real_token, body, content_type, address):
        path = f"/hooks/{quote(wire(kind), safe='') or 'x'}/{token if real_token else 'no-such-token'}"
        with sec_app.app_context():
            before = snapshot()
        response = client.post(path, data=body, content_type=content_type if isinstance(content_type, str) else None,
                               environ_base={"REMOTE_ADDR": address})
        with sec_app.app_context():
            after = snapshot()
            db.session.remove()
        assert response.status_code < 500
        if response.status_code >= 400:
            assert changed(before, after) == []
        else:  # only a YooKassa-shaped body from YooKassa's network is stored (to be re-read with the seller's key)
            assert changed(before, after) in ([], ["provider_event"])

    run()


def test_ids_beyond_bigint_are_not_found(sec_app, providers):
    """Does every route with an id in its path answer a 64-bit-overflowing or maximal id with 404, not 500?"""
    world = build_world(sec_app, providers)
    client, token = _Sender(sec_app, world).client("user")
    checked = 0
    for rule in sec_app.url_map.iter_rules():
        ints = [a for a in rule.arguments if type(rule._converters[a]).__name__.endswith(("IntegerConverter",
                                                                                        "RowIdConverter"))]
        if not ints or rule.endpoint.startswith("admin."):
            continue  # the ops area answers a signed-in user 403 first; tests/admin_money checks its 404s
        for value in (2**63 - 1, 2**63, 10**30):
            url = rule.rule
            for arg in rule.arguments:
                url = url.replace(f"<int:{arg}>", str(value)).replace(f"<{arg}>", "pause")
            method = "GET" if "GET" in rule.methods else "POST"
            response = client.open(url, method=method, data={"csrf_token": token})
            response.close()
            assert response.status_code == 404, (url, response.status_code)
            checked += 1
    assert checked >= 24  # 8 routes × 3 values (more as routes with ids are added)


def test_non_ascii_credentials_are_refused_with_a_message(sec_app, providers):
    """Found by the long fuzz run: Arabic digits in a YooKassa shop id went into the Basic-auth header (500).
    Is a credential that cannot go into a header or signature refused with a form message, writing nothing?"""
    world = build_world(sec_app, providers)
    client, token = _Sender(sec_app, world).client("user")
    fields = {"name": "x", "terminal_key": "١٢٣", "password": "пароль-123", "wallet": "４１００１",
              "notification_secret": "s\u200bcret", "oauth_token": "tök", "shop_id": "١٢٣", "secret_key": "ключ"}
    with sec_app.app_context():
        before = snapshot()
    for kind in ("yookassa", "tbank", "yoomoney"):
        response = client.post(f"/seller/api-forms/new?kind={kind}", data={"csrf_token": token, **fields})
        assert response.status_code == 200, kind
        html = response.get_data(as_text=True)
        assert "латинских букв" in html or "Latin letters" in html  # Russian once the catalogue has it
    with sec_app.app_context():
        assert changed(before, snapshot()) == []


def test_huge_counts_are_a_form_error(sec_app, providers):
    """Found by the long fuzz run: a 400-digit "invoices open at once" crashed WTForms' NumberRange (500)."""
    world = build_world(sec_app, providers)
    client, token = _Sender(sec_app, world).client("user")
    response = client.post("/seller/withdrawals", data={
        "csrf_token": token, "wr-payment_form": str(world.objects["form"]), "wr-amount": "1", "wr-min_invoice": "100",
        "wr-max_invoice": "1000", "wr-max_open_invoices": "9" * 400, "wr-request_key": "0" * 32})
    assert response.status_code == 422
