"""Who may open what: the expected outcome of every route for every kind of visitor.

One row per endpoint (``ROUTES``), one column per actor (``ACTORS``).  The matrix test
(test_access_matrix.py) enumerates ``app.url_map`` and fails for a route with no row, so a
new view cannot ship without someone deciding here who may reach it.

Adding a route is one line: ``"blueprint.endpoint": Route("GET", "/path/{object}", RULE),``
(URL placeholders name objects of the test world: {deposit} {request} {form} {spare_form}
{hook_token} {notification} {reserve_leaf} {split} {dispute} {dispute_file} — all owned by ``user``).

The admin area (blueprint ``admin``) needs no row per endpoint: ``ADMIN_AREA`` applies to
every ``admin.*`` endpoint; the ones only an admin may use are listed in ``ADMIN_ONLY``.
Endpoints with URL arguments in the admin area get their sample URL from ``ADMIN_URLS``
(else every argument is ``1``: the guard answers before any lookup).
"""
from __future__ import annotations

from dataclasses import dataclass

#: the columns, in the order the test runs them (the owner last: its POSTs may change things)
ACTORS = ("anonymous", "other", "ops_no_totp", "ops", "admin", "user")

# Outcomes (see tests/security/test_access_matrix.py::classify)
OK = "ok"                  # the view ran: 2xx, a redirect elsewhere than sign-in, or 422 (form errors)
LOGIN = "login"            # sent to sign in: 302 → /login, or 401 (HTMX)
FORBIDDEN = "forbidden"    # 403
DENIED_2FA = "denied-2fa"  # staff without the second factor (admin area): 403 or sent to /account/2fa
NOT_FOUND = "not-found"    # 404: another user's object looks like a missing one
REJECTED = "rejected"      # 400: a provider notification that does not verify


@dataclass(frozen=True)
class Rule:
    anonymous: str
    user: str
    other: str
    ops_no_totp: str
    ops: str
    admin: str

    def expect(self, actor: str) -> str:
        return getattr(self, actor)


def _all(outcome: str) -> Rule:
    return Rule(outcome, outcome, outcome, outcome, outcome, outcome)


#: reachable by anyone
PUBLIC = _all(OK)
#: any signed-in account, nothing object-level
SIGNED_IN = Rule(anonymous=LOGIN, user=OK, other=OK, ops_no_totp=OK, ops=OK, admin=OK)
#: an object of ``user``'s: everyone else gets 404 (staff use the admin area, not the owner's pages)
OWN = Rule(anonymous=LOGIN, user=OK, other=NOT_FOUND, ops_no_totp=NOT_FOUND, ops=NOT_FOUND, admin=NOT_FOUND)
#: public pages that send a signed-out visitor to sign in (the home page, the 2FA step without a pending login)
TO_LOGIN_WHEN_ANONYMOUS = SIGNED_IN
#: the whole admin area: ops or admin, with the second factor in this session
ADMIN_AREA = Rule(anonymous=LOGIN, user=FORBIDDEN, other=FORBIDDEN, ops_no_totp=DENIED_2FA, ops=OK, admin=OK)
#: admin-only parts of the admin area
ADMIN_ONLY_RULE = Rule(anonymous=LOGIN, user=FORBIDDEN, other=FORBIDDEN, ops_no_totp=DENIED_2FA, ops=FORBIDDEN,
                       admin=OK)

#: admin-area endpoints only an admin may use (settings, approvals, role changes): one line each
ADMIN_ONLY: set[str] = {
    "admin.settings",                       # platform settings (branch admin-core)
    "admin.support_contact",                # the support contact, a platform setting (task ux)
    "admin.ledger_adjustment_approve",      # approvals of manual ledger adjustments (branch admin-money)
    "admin.ledger_adjustment_reject",
    "admin.user_setup_link",                # staff 2FA setup links (branch accounts)
}

#: sample URLs for admin endpoints whose arguments must be real (one line each); others get 1 per argument
ADMIN_URLS: dict[str, str] = {
    # "admin.user": "/admin/users/{user_id}",
    # payment exceptions (branch pay): ops and admins resolve them; the list and the action are ADMIN_AREA
    "admin.payment_exception_resolve": "/admin/payment-exceptions/1/resolve",
}


@dataclass(frozen=True)
class Route:
    method: str
    url: str
    rule: Rule


ROUTES: dict[str, Route] = {
    # --- public ---------------------------------------------------------------------------
    "static": Route("GET", "/static/css/app.css", PUBLIC),
    "favicon": Route("GET", "/favicon.ico", PUBLIC),
    "main.index": Route("GET", "/", PUBLIC),  # what the service is and how it works, before signing in
    "main.help": Route("GET", "/help", PUBLIC),
    "main.healthz": Route("GET", "/healthz", PUBLIC),
    "main.readyz": Route("GET", "/readyz", PUBLIC),
    "main.set_language": Route("POST", "/lang/en", PUBLIC),
    "reserves.index": Route("GET", "/reserves/", PUBLIC),  # proof of reserves: anyone may check it
    # the actors come from outside the allowed networks and show no token: hidden (tests/ops/test_metrics.py)
    "metrics.metrics": Route("GET", "/metrics", _all(NOT_FOUND)),
    "auth.login": Route("POST", "/login", PUBLIC),
    # without a password step pending, the 2FA step sends everyone back to sign in
    "auth.login_2fa": Route("GET", "/login/2fa", _all(LOGIN)),
    "auth.register": Route("POST", "/register", PUBLIC),
    "auth.forgot_password": Route("POST", "/password/forgot", PUBLIC),
    # a link that does not verify is refused with a page that says so, whoever opens it
    "auth.reset_password": Route("GET", "/password/reset/not-a-valid-link", _all(REJECTED)),
    # provider notifications: public, CSRF-exempt, verified by signature (an empty body does not verify)
    "hooks.notify": Route("POST", "/hooks/tbank/{hook_token}", _all(REJECTED)),
    # the Telegram webhook exists only in webhook mode with a secret set (the test app polls): hidden
    "telegram_hook.webhook": Route("POST", "/telegram/webhook", _all(NOT_FOUND)),
    # --- any signed-in account -------------------------------------------------------------
    "auth.account": Route("POST", "/account", SIGNED_IN),
    # staff without 2FA see the enrolment page only after opening a one-time setup link
    "auth.two_factor": Route("GET", "/account/2fa", Rule(anonymous=LOGIN, user=OK, other=OK, ops_no_totp=FORBIDDEN,
                                                        ops=OK, admin=OK)),
    "auth.staff_setup": Route("GET", "/account/2fa/setup/not-a-valid-link",
                              Rule(anonymous=LOGIN, user=REJECTED, other=REJECTED, ops_no_totp=REJECTED,
                                   ops=REJECTED, admin=REJECTED)),
    "auth.disable_two_factor": Route("POST", "/account/2fa/disable", SIGNED_IN),
    "auth.logout": Route("POST", "/logout", _all(LOGIN)),  # signed out, then at the sign-in page
    "deposits.new": Route("POST", "/buy/", SIGNED_IN),
    "deposits.history": Route("GET", "/buy/history", SIGNED_IN),
    "deposits.quote_preview": Route("GET", "/buy/quote?dep-kind=tbank&dep-amount=1000", SIGNED_IN),
    "deposits.accept_split": Route("POST", "/buy/split", SIGNED_IN),
    "seller.index": Route("GET", "/seller/", SIGNED_IN),
    "seller.dashboard_live": Route("GET", "/seller/live", SIGNED_IN),
    "seller.api_forms": Route("GET", "/seller/api-forms", SIGNED_IN),
    "seller.new_api_form": Route("POST", "/seller/api-forms/new?kind=tbank", SIGNED_IN),
    "seller.withdrawals_index": Route("POST", "/seller/withdrawals", SIGNED_IN),
    "seller.withdrawal_quote": Route("GET", "/seller/withdrawals/quote?wr-payment_form={form}&wr-amount=10", SIGNED_IN),
    "wallet.index": Route("GET", "/wallet/", SIGNED_IN),
    "wallet.live": Route("GET", "/wallet/live", SIGNED_IN),
    "wallet.history_page": Route("GET", "/wallet/history", SIGNED_IN),
    "wallet.history_csv": Route("GET", "/wallet/history.csv", SIGNED_IN),
    "wallet.expect_deposit": Route("POST", "/wallet/expect-deposit", SIGNED_IN),
    "wallet.add_room_account": Route("POST", "/wallet/room-accounts", SIGNED_IN),
    "wallet.room_accounts_live": Route("GET", "/wallet/room-accounts", SIGNED_IN),
    "wallet.remove_room_account": Route("POST", "/wallet/room-accounts/{room_account}/remove", OWN),
    "wallet.cash_out": Route("POST", "/wallet/cash-outs", SIGNED_IN),
    "reserves.mine": Route("GET", "/reserves/mine", SIGNED_IN),
    # --- objects of one user ---------------------------------------------------------------
    "deposits.show": Route("GET", "/buy/{deposit}", OWN),
    "deposits.claim_paid": Route("POST", "/buy/{deposit}/paid", OWN),
    "deposits.dispute": Route("POST", "/buy/{deposit}/dispute", OWN),
    "deposits.cancel": Route("POST", "/buy/{deposit}/cancel", OWN),
    "deposits.show_split": Route("GET", "/buy/split/{split}", OWN),
    # a dispute of the owner's (as its buyer): its parties only; ops work it in the admin area
    "disputes.show": Route("GET", "/disputes/{dispute}", OWN),
    "disputes.thread": Route("GET", "/disputes/{dispute}/thread", OWN),
    "disputes.post_message": Route("POST", "/disputes/{dispute}/messages", OWN),
    "disputes.download": Route("GET", "/disputes/{dispute}/files/{dispute_file}", OWN),
    "seller.api_form": Route("GET", "/seller/api-forms/{form}", OWN),
    "seller.disable_api_form": Route("POST", "/seller/api-forms/{form}/disable", OWN),
    "seller.enable_api_form": Route("POST", "/seller/api-forms/{form}/enable", OWN),
    "seller.delete_api_form": Route("POST", "/seller/api-forms/{spare_form}/delete", OWN),
    "seller.api_form_limits": Route("POST", "/seller/api-forms/{form}/limits", OWN),
    "seller.withdrawal_action": Route("POST", "/seller/withdrawals/{request}/pause", OWN),
    "reserves.proof": Route("GET", "/reserves/proofs/{reserve_leaf}.json", OWN),  # a user's inclusion proof
    # --- the notification centre (branch notifications; rows for absent endpoints are simply unused) ---
    "notifications.index": Route("GET", "/notifications/", SIGNED_IN),
    "notifications.bell": Route("GET", "/notifications/bell", SIGNED_IN),
    "notifications.mark_read": Route("POST", "/notifications/{notification}/read", OWN),
    "notifications.mark_all_read": Route("POST", "/notifications/read-all", SIGNED_IN),
    "notifications.settings": Route("POST", "/notifications/settings", SIGNED_IN),
    # linking Telegram: only ever the signed-in user's own link (no ids in the URL)
    "notifications.connect_telegram": Route("POST", "/notifications/telegram/connect", SIGNED_IN),
    "notifications.telegram_status": Route("GET", "/notifications/telegram/status", SIGNED_IN),
    "notifications.disconnect_telegram": Route("POST", "/notifications/telegram/disconnect", SIGNED_IN),
}

#: object-level checks of ids sent in a form body rather than the URL:
#: (endpoint, path, form fields; "{…}" names an object of ``user``) — another user is refused with 422
BODY_OBJECT_CHECKS: list[tuple[str, str, dict[str, str]]] = [
    ("wallet.cash_out", "/wallet/cash-outs",
     {"co-room_account": "{room_account}", "co-amount": "1.00", "co-request_key": "{key}"}),
    ("seller.withdrawals_index", "/seller/withdrawals",
     {"wr-payment_form": "{form}", "wr-amount": "1.00", "wr-min_invoice": "100", "wr-max_invoice": "1000",
      "wr-max_open_invoices": "1", "wr-request_key": "{key}"}),
]


def rule_for(endpoint: str) -> Rule | None:
    if endpoint.startswith("admin."):
        return ADMIN_ONLY_RULE if endpoint in ADMIN_ONLY else ADMIN_AREA
    route = ROUTES.get(endpoint)
    return route.rule if route else None
