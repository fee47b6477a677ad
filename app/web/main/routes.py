"""Views of the main blueprint."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.core import settings as settings_service
from app.extensions import db, limiter
from app.i18n import SESSION_KEY, supported_locales
from app.market.payment_forms import KIND_LABELS
from app.models.settings import PROVIDER_KINDS
from app.redis_client import get_redis
from app.web.access import public
from app.web.main.blueprint import bp


@bp.app_context_processor
def _support_contact():
    # a function, not a value: only pages that show the contact (the footer) read it
    return {"support_contact": settings_service.support_contact}


@bp.get("/")
@public
def index():
    """Home: what the service is and how it works, then the way in (or, signed in, where to go next)."""
    return render_template("main/index.html", terms=_terms())


@bp.get("/help")
@public
def help():  # noqa: A001 - the endpoint's name is the page's
    """How buying, selling and disputes work, and how to reach support."""
    return render_template("main/help.html", terms=_terms())


def _terms() -> dict:
    """The rates and limits in force, as the home and help pages state them."""
    settings = settings_service.current_settings()
    return {
        "rates": [(KIND_LABELS[kind], settings.rate_for(kind)) for kind in PROVIDER_KINDS],
        "invoice_min": settings.invoice_min_kopecks, "invoice_max": settings.invoice_max_kopecks,
        "invoice_minutes": settings.invoice_lifetime_seconds // 60,
        "cashout_min": settings.cashout_min_cents, "cashout_daily": settings.cashout_daily_limit_cents,
        "buyer_fee_bps": settings.buyer_fee_bps, "commission_bps": settings.commission_bps,
    }


@bp.post("/lang/<code>")
@public
def set_language(code: str):
    """Switch the interface language (saved on the account when signed in)."""
    if code not in supported_locales():
        return render_template("errors/error.html", status=400, title="400", message="unsupported language"), 400
    session[SESSION_KEY] = code
    if current_user.is_authenticated:
        current_user.locale = code
        db.session.commit()
    target = request.referrer or url_for("main.index")
    if not target.startswith(request.host_url):
        target = url_for("main.index")
    return redirect(target)


@bp.get("/healthz")
@limiter.exempt
@public
def healthz():
    """Liveness: the process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
@limiter.exempt
@public
def readyz():
    """Readiness: the database and Redis both answer."""
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means not ready
        db.session.rollback()
        current_app.logger.warning("readyz: database unreachable")
        checks["database"] = "unreachable"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception:  # noqa: BLE001
        current_app.logger.warning("readyz: redis unreachable")
        checks["redis"] = "unreachable"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
