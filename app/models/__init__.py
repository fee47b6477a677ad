"""Database models.  Import every model module here so Alembic and the app see them all."""
from app.models.audit import AuditEvent  # noqa: F401
from app.models.user import Role, User  # noqa: F401
