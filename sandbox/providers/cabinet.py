"""The sandbox "cabinet" under ``/_sandbox/providers/``: accounts, payments, the payer, notifications.

Everything a test or the demo needs that a real provider does in its own
dashboard or in the buyer's browser.  These routes are exempt from the faults.
"""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template_string, request
from markupsafe import Markup

from .common import now, rubles
from .glitches import Glitch, Glitches
from .notifier import Notifier
from .pages import OVERVIEW, PAY_PAGE
from .state import Conflict, ProviderSandbox

#: friendlier aliases for creating accounts
ACCOUNT_ALIASES = {"wallets": "yoomoney", "shops": "yookassa", "terminals": "tbank"}


def blueprint(providers: dict[str, ProviderSandbox], notifier: Notifier, glitches: Glitches) -> Blueprint:
    bp = Blueprint("sandbox_cabinet", __name__, url_prefix="/_sandbox/providers")

    def provider_or_404(name: str) -> ProviderSandbox:
        if name not in providers:
            abort(404)
        return providers[name]

    def payment_or_404(provider: ProviderSandbox, payment_id: str):
        payment = provider.load(payment_id)
        if payment is None:
            abort(404)
        return payment

    # --- accounts ---------------------------------------------------------------------------

    def _upsert(provider: ProviderSandbox):
        values = request.get_json(silent=True) or {}
        if not isinstance(values, dict):
            return jsonify(error="expected a JSON object"), 400
        return jsonify(provider.account_json(provider.upsert_account(values))), 201

    @bp.post("/<name>/accounts")
    def create_account(name: str):
        """Create a wallet / shop / terminal (or update the one whose key is given)."""
        return _upsert(provider_or_404(name))

    for alias, name in ACCOUNT_ALIASES.items():
        bp.add_url_rule(f"/{name}/{alias}", f"create_{alias}",
                        lambda name=name: _upsert(provider_or_404(name)), methods=["POST"])

    @bp.get("/<name>/accounts")
    def list_accounts(name: str):
        """The provider's accounts with their credentials."""
        provider = provider_or_404(name)
        accounts = [a for a in provider.store.accounts.values() if a.provider == name]
        return jsonify([provider.account_json(a) for a in accounts])

    # --- payments and the payer -------------------------------------------------------------

    @bp.get("/<name>/payments")
    def list_payments(name: str):
        """Payments, filtered by ``order_id`` and/or ``account``."""
        provider = provider_or_404(name)
        found = provider.store.find(name, order_id=request.args.get("order_id"),
                                    account=request.args.get("account"))
        return jsonify([provider.payment_json(provider.load(p.id)) for p in found])

    @bp.get("/<name>/payments/<payment_id>")
    def show_payment(name: str, payment_id: str):
        """One payment as the sandbox sees it."""
        provider = provider_or_404(name)
        return jsonify(provider.payment_json(payment_or_404(provider, payment_id)))

    @bp.post("/<name>/payments/<payment_id>/pay")
    def act_as_payer(name: str, payment_id: str):
        """``{"action": "pay"|"decline", "amount": kopecks?}`` — what the buyer's click would do."""
        provider = provider_or_404(name)
        payment = payment_or_404(provider, payment_id)
        values = request.get_json(silent=True) or {}
        action, amount = values.get("action", "pay"), values.get("amount")
        if action not in ("pay", "decline"):
            return jsonify(error="action must be pay or decline"), 400
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0):
            return jsonify(error="amount must be a positive integer number of kopecks"), 400
        try:
            provider.settle(payment, action, amount)
        except Conflict as exc:
            return jsonify(error=str(exc)), 409
        return jsonify(provider.payment_json(payment))

    @bp.post("/<name>/payments/<payment_id>/expire")
    def expire_now(name: str, payment_id: str):
        """Move the payment's expiry to now (time travel for expiry tests)."""
        provider = provider_or_404(name)
        payment = payment_or_404(provider, payment_id)
        with provider.store.lock:
            payment.expires_at = now()
        return jsonify(provider.payment_json(provider.load(payment_id)))

    @bp.get("/money")
    def money():
        """Read-only: every payment and what each account (wallet / shop / terminal) was paid.

        The chaos test compares this, the providers' own record of the sellers'
        rubles, with the platform's books.  Nothing is changed (no lazy expiry).
        """
        store = next(iter(providers.values())).store
        paid: dict[str, int] = {}
        with store.lock:
            payments = [
                {"provider": p.provider, "id": p.id, "account": p.account, "order_id": p.order_id,
                 "amount": p.amount, "paid_amount": p.paid_amount, "status": p.status}
                for p in store.payments.values()
            ]
        for p in payments:
            if p["paid_amount"] is not None:
                key = f"{p['provider']}:{p['account']}"
                paid[key] = paid.get(key, 0) + p["paid_amount"]
        return jsonify(payments=payments, paid_by_account=paid)

    # --- the hosted pay page ----------------------------------------------------------------

    @bp.route("/pay/<name>/<payment_id>", methods=["GET", "POST"])
    def pay_page(name: str, payment_id: str):
        """The provider's hosted page: amount, description, Pay / Decline."""
        provider = provider_or_404(name)
        payment = payment_or_404(provider, payment_id)
        if request.method == "POST":
            action = request.form.get("action")
            if action not in ("pay", "decline"):
                abort(400)
            try:
                provider.settle(payment, action, None)
            except Conflict:
                return redirect(request.path, 303)
            target = provider.return_url(payment, paid=action == "pay")
            return redirect(target or request.path, 303)
        provider.page_shown(payment)
        qr_svg = None
        if name == "tbank" and payment.status in provider.open_statuses and payment.amount >= 1000:
            import segno

            qr_svg = Markup(segno.make(provider.sbp_payload(payment), error="m").svg_inline(scale=3))
        return render_template_string(
            PAY_PAGE, title=provider.title, amount=payment.amount, amount_text=rubles(payment.amount),
            description=payment.description, status=payment.status,
            is_open=payment.status in provider.open_statuses, qr_svg=qr_svg,
        )

    @bp.get("/")
    def overview():
        """Accounts and payments at a glance, with links to the pay pages."""
        store = next(iter(providers.values())).store
        with store.lock:
            accounts = list(store.accounts.values())
            payments = [
                {"provider": p.provider, "id": p.id, "order_id": p.order_id, "amount_text": rubles(p.amount),
                 "status": p.status, "url": f"/_sandbox/providers/pay/{p.provider}/{p.id}"}
                for p in sorted(store.payments.values(), key=lambda p: p.created_at, reverse=True)
            ]
        return render_template_string(OVERVIEW, accounts=accounts, payments=payments)

    # --- notifications and glitches ---------------------------------------------------------

    @bp.post("/notifications/resend/<name>/<payment_id>")
    def resend(name: str, payment_id: str):
        """Replay the payment's last notification(s), for replay tests."""
        provider_or_404(name)
        count = notifier.resend(name, payment_id)
        if not count:
            return jsonify(error="no notification was sent for this payment"), 404
        return jsonify(resent=count)

    @bp.get("/notifications")
    def notification_log():
        """Delivery attempts, oldest first (``?provider=…&payment_id=…`` to filter)."""
        entries = [e for e in list(notifier.log)
                   if all(e[k] == request.args[k] for k in ("provider", "payment_id") if k in request.args)]
        return jsonify(entries)

    @bp.post("/notifications/wait")
    def wait_for_notifications():
        """Block until no delivery is in flight (``{"timeout": seconds}``)."""
        timeout = float((request.get_json(silent=True) or {}).get("timeout", 5))
        return jsonify(idle=notifier.wait_idle(min(timeout, 30)))

    @bp.post("/glitches")
    def add_glitch():
        """Arm a one-shot fault on one path (see :mod:`sandbox.providers.glitches`)."""
        try:
            glitch = Glitch(**(request.get_json(silent=True) or {}))
        except (TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        glitches.add(glitch)
        return jsonify(glitches.pending()), 201

    @bp.delete("/glitches")
    def clear_glitches():
        glitches.clear()
        return jsonify([])

    @bp.get("/glitches")
    def list_glitches():
        return jsonify(glitches.pending())

    return bp
