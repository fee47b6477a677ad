"""The ``bp`` blueprint object of :mod:`app.web.admin` and what its routes share, apart from the route modules
so they can import it (see the package docstring)."""
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
