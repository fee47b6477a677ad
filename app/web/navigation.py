"""The navigation bar, by role.  A blueprint's entry shows once its endpoint exists."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object
    staff_only: bool = False


NAV = (
    NavItem("wallet.index", _l("Wallet")),
    NavItem("deposits.new", _l("Buy")),
    NavItem("seller.index", _l("Sell")),
    NavItem("admin.dashboard", _l("Ops"), staff_only=True),
)


def nav_items() -> list[dict]:
    items = []
    for item in NAV:
        if item.endpoint not in current_app.view_functions:
            continue
        if item.staff_only and not current_user.is_staff:
            continue
        url = url_for(item.endpoint)
        items.append({"url": url, "label": item.label, "active": request.path.startswith(url)})
    return items
