"""The webhook: verify the secret, accept the update once, commit, queue the bot's answer, answer 200."""
from __future__ import annotations

import hmac
import logging

from flask import current_app, jsonify, request

from app.core.after_commit import after_commit
from app.extensions import csrf, db, limiter
from app.notifications import telegram_updates
from app.web.access import public
from app.web.telegram_webhook.blueprint import bp

log = logging.getLogger(__name__)

#: a message update is a few kilobytes
MAX_BODY = 64 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret

csrf.exempt(bp)


def _rate_limit() -> str:
    return current_app.config.get("HOOK_RATE_LIMIT", "1200 per minute")


def _refusal(status: int, reason: str):
    return jsonify(ok=False, description=reason), status


def _secret_ok() -> bool:
    expected = current_app.config.get("TELEGRAM_WEBHOOK_SECRET") or ""
    given = request.headers.get(SECRET_HEADER, "")
    # compare_digest on bytes: constant time whatever the header holds.  "replace": a header can carry
    # anything (even a lone surrogate from a WSGI server); the secret is plain ASCII, so a "?" never matches.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


@bp.post("/webhook")
@limiter.limit(_rate_limit)
@public
def webhook():
    """One update from Telegram."""
    config = current_app.config
    if (config.get("TELEGRAM_UPDATES") != "webhook" or not config.get("TELEGRAM_WEBHOOK_SECRET")
            or not config.get("TELEGRAM_BOT_TOKEN")):
        return _refusal(404, "not found")
    if not _secret_ok():
        log.warning("telegram webhook call with a wrong secret from %s", request.remote_addr)
        return _refusal(401, "wrong secret token")
    request.max_content_length = MAX_BODY
    update = request.get_json(silent=True)
    try:
        accepted = telegram_updates.accept(update, "webhook")
    except telegram_updates.MalformedUpdate as exc:
        db.session.rollback()
        return _refusal(400, str(exc))
    if accepted.reply_id is not None:
        after_commit("telegram.reply", accepted.reply_id, job_id=f"telegram-reply-{accepted.reply_id}")
    db.session.commit()
    return jsonify(ok=True)
