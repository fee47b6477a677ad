"""The ``/metrics`` view: public to the login guard, hidden by :mod:`app.observability.metrics_access`."""
from __future__ import annotations

from flask import Blueprint

from app.extensions import csrf, limiter
from app.observability.metrics import metrics_response
from app.web.access import public

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@limiter.exempt
@csrf.exempt
@public
def metrics():
    """Prometheus exposition, for a bearer token or an allowed network only (404 otherwise)."""
    return metrics_response()


# Prometheus scrapes over the private network in plain HTTP; FORCE_HTTPS would redirect it.
metrics.talisman_view_options = {"force_https": False}
