"""The Telegram bot's webhook: ``POST /telegram/webhook`` (when ``TELEGRAM_UPDATES=webhook``).

Machine-to-machine like the providers' notifications (app/web/webhooks/): no session, no CSRF token (the
blueprint is exempt), a per-address rate limit.  Trust comes from the secret Telegram repeats in the
``X-Telegram-Bot-Api-Secret-Token`` header (set with ``flask telegram set-webhook``), compared in
constant time.  Without webhook mode, or without a secret configured, the endpoint does not exist (404).
"""
from app.web.telegram_webhook import routes  # noqa: F401
from app.web.telegram_webhook.blueprint import bp  # noqa: F401  (registered by create_app)
