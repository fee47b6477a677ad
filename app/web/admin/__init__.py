"""The ops area.  One guard for the whole blueprint: ops or admin role with the second factor.

Each part of the area lives in its own ``*_routes`` module and adds itself to
the area's sub-navigation with :func:`section`.  Settings and approvals also
need the admin role (``roles_required(Role.ADMIN, mfa=True)`` on those views).
"""
from app.web.admin.blueprint import bp  # noqa: F401  (registered by create_app)

# Route modules register themselves below, one import per part of the area.
# The order is the sub-navigation's order, so these imports are not sorted.
# isort: off
from app.web.admin import two_factor  # noqa: F401
from app.web.admin import dashboard_routes  # noqa: F401
from app.web.admin import users_routes  # noqa: F401
from app.web.admin import queue_routes  # noqa: F401
from app.web.admin import disputes_routes  # noqa: F401
from app.web.admin import payment_exceptions_routes  # noqa: F401
from app.web.admin import room_routes  # noqa: F401
from app.web.admin import ledger_routes  # noqa: F401
from app.web.admin import jobs_routes  # noqa: F401
from app.web.admin import settings_routes  # noqa: F401
# isort: on
