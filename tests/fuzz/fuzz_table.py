"""What the fuzzer sends to each endpoint.  Every route of ``app.url_map`` must be here, in
``NO_INPUT`` or in ``SKIP`` (with the reason); test_endpoints.py fails otherwise.

Adding an endpoint is one line: ``"bp.endpoint": Entry("POST", "/path/{object}", {"field": field()}),``.
URL placeholders name objects of the owner (see tests/security/conftest.py) or ``{any_id}``
(a real id, someone else's, or garbage).  Admin-area endpoints (blueprint ``admin``) without an
entry are fuzzed by ``ADMIN_GENERIC``: random fields, as an admin with the second factor.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

from hypothesis import strategies as st

from tests.fuzz.strategies import amounts, field, ids, texts

request_keys = st.one_of(st.uuids().map(lambda u: u.hex), texts)
kinds = st.one_of(st.sampled_from(["tbank", "yoomoney", "yookassa"]), texts)


@dataclass(frozen=True)
class Entry:
    method: str
    url: str
    fields: dict = dc_field(default_factory=dict)
    #: who sends it
    actor: str = "user"
    #: tables a *rejected* request may still write, each for a stated reason
    writes_on_rejection: frozenset[str] = frozenset()
    #: query-string fields (GET forms)
    query: dict = dc_field(default_factory=dict)


ENTRIES: dict[str, Entry] = {
    # --- auth --------------------------------------------------------------------------------
    "auth.login": Entry("POST", "/login", {"email": field(), "password": field(), "remember": field()},
                        actor="anonymous",
                        # failed sign-ins are audited and counted for the account's slow-down on purpose
                        writes_on_rejection=frozenset({"audit_event", "login_throttle"}),
                        query={"next": field()}),
    "auth.register": Entry("POST", "/register", {"email": field(), "password": field(), "confirm": field(),
                                                 "locale": field()}, actor="anonymous"),
    "auth.login_2fa": Entry("POST", "/login/2fa", {"code": field()}, actor="anonymous"),
    # a request is audited whatever the address (the same work whether or not it has an account)
    "auth.forgot_password": Entry("POST", "/password/forgot", {"email": field()}, actor="anonymous",
                                  writes_on_rejection=frozenset({"audit_event"})),
    "auth.reset_password": Entry("POST", "/password/reset/{text}", {"password": field(), "confirm": field()},
                                 actor="anonymous"),
    "auth.account": Entry("POST", "/account", {
        "lang-locale": field(), "lang-submit": field(), "pw-current": field(), "pw-password": field(),
        "pw-confirm": field(), "pw-submit": field()}),
    # an unconfirmed enrolment stores a fresh (encrypted) seed when none is stored yet: that is the page's job
    "auth.two_factor": Entry("POST", "/account/2fa", {"code": field()}, writes_on_rejection=frozenset({"user"})),
    "auth.disable_two_factor": Entry("POST", "/account/2fa/disable", {"off-password": field()}),
    # a link that does not verify is audited (staff_setup_refused): someone is probing setup links
    "auth.staff_setup": Entry("GET", "/account/2fa/setup/{text}", writes_on_rejection=frozenset({"audit_event"})),
    "main.set_language": Entry("POST", "/lang/{text}"),
    # --- deposits ----------------------------------------------------------------------------
    "deposits.new": Entry("POST", "/buy/", {"dep-kind": field(kinds), "dep-amount": field(amounts),
                                            "dep-request_key": field(request_keys)},
                          query={"kind": field(kinds), "amount": field(amounts)}),
    "deposits.quote_preview": Entry("GET", "/buy/quote", query={"dep-kind": field(kinds), "dep-amount": field(amounts)}),
    "deposits.show": Entry("GET", "/buy/{any_id}"),
    "deposits.accept_split": Entry("POST", "/buy/split", {"spl-kind": field(kinds), "spl-amount": field(amounts),
                                                          "spl-parts": field(), "spl-request_key": field(request_keys)}),
    "deposits.show_split": Entry("GET", "/buy/split/{any_id}", query={"v": field()}),
    "deposits.claim_paid": Entry("POST", "/buy/{any_id}/paid"),
    "deposits.dispute": Entry("POST", "/buy/{any_id}/dispute", {"dsp-note": field()}),
    # --- disputes ----------------------------------------------------------------------------
    "disputes.show": Entry("GET", "/disputes/{any_id}"),
    "disputes.thread": Entry("GET", "/disputes/{any_id}/thread", query={"v": field()}),
    "disputes.post_message": Entry("POST", "/disputes/{any_id}/messages", {
        "msg-body": field(), "msg-file": field(), "msg-request_key": field(request_keys)}),
    "disputes.download": Entry("GET", "/disputes/{any_id}/files/{text}"),
    # --- seller ------------------------------------------------------------------------------
    "seller.new_api_form": Entry("POST", "/seller/api-forms/new", {
        "name": field(), "terminal_key": field(), "password": field(), "wallet": field(),
        "notification_secret": field(), "oauth_token": field(), "shop_id": field(), "secret_key": field()},
        query={"kind": field(kinds)}),
    "seller.api_form": Entry("POST", "/seller/api-forms/{any_id}", {
        "name": field(), "terminal_key": field(), "password": field(), "wallet": field()}),
    "seller.enable_api_form": Entry("POST", "/seller/api-forms/{any_id}/enable"),
    "seller.disable_api_form": Entry("POST", "/seller/api-forms/{any_id}/disable"),
    "seller.delete_api_form": Entry("POST", "/seller/api-forms/{any_id}/delete"),
    "seller.api_form_limits": Entry("POST", "/seller/api-forms/{any_id}/limits", {
        "limit_day_rubles": field(amounts), "limit_day_invoices": field(amounts), "limit_gap_minutes": field(amounts),
        "hours_start": field(), "hours_end": field(), "limits_timezone": field()}),
    "seller.withdrawals_index": Entry("POST", "/seller/withdrawals", {
        "wr-payment_form": field(ids), "wr-amount": field(amounts), "wr-min_invoice": field(amounts),
        "wr-max_invoice": field(amounts), "wr-max_open_invoices": field(amounts),
        "wr-request_key": field(request_keys)}),
    "seller.withdrawal_action": Entry("POST", "/seller/withdrawals/{any_id}/{text}"),
    "seller.withdrawal_quote": Entry("GET", "/seller/withdrawals/quote", query={
        "wr-payment_form": field(ids), "wr-amount": field(amounts)}),
    # --- wallet ------------------------------------------------------------------------------
    "deposits.cancel": Entry("POST", "/buy/{any_id}/cancel"),
    "wallet.history_page": Entry("GET", "/wallet/history", query={"kind": field(), "date_from": field(),
                                                                  "date_to": field(), "before": field()}),
    "wallet.history_csv": Entry("GET", "/wallet/history.csv", query={"kind": field(), "date_from": field(),
                                                                     "date_to": field()}),
    "notifications.index": Entry("GET", "/notifications/", query={"before": field()}),
    "notifications.mark_read": Entry("POST", "/notifications/{any_id}/read", {"go": field()}),
    "notifications.mark_all_read": Entry("POST", "/notifications/read-all"),
    "notifications.settings": Entry("POST", "/notifications/settings", {"email": field(), "telegram": field()}),
    # a made link is answered 200 with the page showing it (the token is shown once, never stored in plain),
    # so a 200 here is the success, not a rejection: its token row and audit event are the point
    "notifications.connect_telegram": Entry("POST", "/notifications/telegram/connect", {"submit": field()},
                                            writes_on_rejection=frozenset({"telegram_link_token", "audit_event"})),
    "notifications.disconnect_telegram": Entry("POST", "/notifications/telegram/disconnect", {"submit": field()}),
    "wallet.add_room_account": Entry("POST", "/wallet/room-accounts", {"ra-identifier": field()}),
    "wallet.remove_room_account": Entry("POST", "/wallet/room-accounts/{any_id}/remove"),
    "wallet.cash_out": Entry("POST", "/wallet/cash-outs", {
        "co-room_account": field(ids), "co-amount": field(amounts), "co-request_key": field(request_keys)}),
    # a leaf id: the owner's, someone else's (404) or garbage (404)
    "reserves.proof": Entry("GET", "/reserves/proofs/{any_id}.json"),
}

#: the notification endpoint has its own fuzz test (raw bodies, content types, addresses)
WEBHOOKS = {"hooks.notify", "telegram_hook.webhook"}

#: GET pages that read no input besides the signed-in user (the access and page tests open them)
NO_INPUT = {
    "static", "favicon", "main.index", "main.help", "main.healthz", "main.readyz", "metrics.metrics", "deposits.history",
    "seller.index", "seller.api_forms", "wallet.index", "wallet.live", "wallet.room_accounts_live",
    "seller.dashboard_live",
    "notifications.bell", "notifications.telegram_status", "reserves.index", "reserves.mine",
}

#: endpoints not fuzzed, and why
SKIP = {
    "auth.logout": "no input; it signs the fuzzing client out (tests/security/test_sessions.py covers it)",
    "wallet.expect_deposit": "no input; it only sets a session flag",
}

#: admin-area endpoints without an entry of their own
ADMIN_GENERIC_FIELDS = st.dictionaries(st.sampled_from(["reason", "amount", "note", "user_id", "status", "value",
                                                        "confirm", "room_transfer_id", "q", "page"]),
                                       field(st.one_of(texts, amounts)), max_size=5)


def covered(endpoint: str) -> bool:
    return (endpoint in ENTRIES or endpoint in WEBHOOKS or endpoint in NO_INPUT or endpoint in SKIP
            or endpoint.startswith("admin."))
