"""The ops area.  One guard for the whole blueprint: ops or admin role with the second factor.

Each part of the area lives in its own ``*_routes`` module and adds itself to
the area's sub-navigation with :func:`section`.  Settings and approvals also
need the admin role (``roles_required(Role.ADMIN, mfa=True)`` on those views).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, request, url_for
from flask_login import current_user

from app.models import Role
from app.web.access import guard_blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard_blueprint(bp, Role.OPS, Role.ADMIN, mfa=True)


@dataclass(frozen=True)
class Section:
    endpoint: str
    label: object
    admin_only: bool = False


SECTIONS: list[Section] = []


def section(endpoint: str, label, *, admin_only: bool = False) -> None:
    """Add an entry to the ops area's sub-navigation (in import order)."""
    SECTIONS.append(Section(f"admin.{endpoint}", label, admin_only))


@bp.app_context_processor
def _admin_sections():
    def admin_sections() -> list[dict]:
        items = []
        for entry in SECTIONS:
            if entry.endpoint not in current_app.view_functions:
                continue
            if entry.admin_only and not current_user.is_admin:
                continue
            url = url_for(entry.endpoint)
            items.append({"url": url, "label": entry.label, "active": False})
        # The longest matching prefix is the current section (the dashboard's "/admin/" prefixes them all).
        matching = [item for item in items if request.path.startswith(item["url"])]
        if matching:
            max(matching, key=lambda item: len(item["url"]))["active"] = True
        return items

    return {"admin_sections": admin_sections}


# Route modules register themselves below, one import per part of the area.
# The order is the sub-navigation's order, so these imports are not sorted.
# isort: off
from app.web.admin import two_factor  # noqa: E402,F401
from app.web.admin import dashboard_routes  # noqa: E402,F401
from app.web.admin import users_routes  # noqa: E402,F401
from app.web.admin import queue_routes  # noqa: E402,F401
from app.web.admin import disputes_routes  # noqa: E402,F401
from app.web.admin import payment_exceptions_routes  # noqa: E402,F401
from app.web.admin import room_routes  # noqa: E402,F401
from app.web.admin import ledger_routes  # noqa: E402,F401
from app.web.admin import jobs_routes  # noqa: E402,F401
from app.web.admin import settings_routes  # noqa: E402,F401
# isort: on
