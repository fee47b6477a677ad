"""Payment providers' notifications: ``POST /hooks/<kind>/<token>``.

Machine-to-machine: no session, no CSRF token (the blueprint is exempt), a
generous per-IP rate limit.  Trust comes from verifying each notification
with the seller's own credentials (:mod:`app.market.provider_events`).

The sender's address is ``request.remote_addr``.  YooKassa notifications are
accepted only from YooKassa's networks, so behind a reverse proxy the
deployment must set the real client address (e.g. Werkzeug's ``ProxyFix``
with the exact number of trusted proxies) — and never trust an
``X-Forwarded-For`` a client could write itself.
"""
from app.web.webhooks import routes  # noqa: F401
from app.web.webhooks.blueprint import bp  # noqa: F401  (registered by create_app)
