"""Views of the main blueprint."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.access import public
from app.extensions import db, limiter
from app.i18n import SESSION_KEY, supported_locales
from app.main import bp
from app.redis_client import get_redis


@bp.get("/")
@public
def index():
    """Home: the signed-in user's overview, or the way to sign in."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("main/index.html")


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
