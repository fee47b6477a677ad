"""The platform settings in force, and changing them (a new version each time)."""
from __future__ import annotations

import sqlalchemy as sa

from app.errors import ValidationFailed
from app.extensions import db
from app.models.settings import PlatformSettings
from app.services import audit


def current_settings() -> PlatformSettings:
    """The newest settings version; the defaults are written on first use."""
    settings = db.session.scalar(sa.select(PlatformSettings).order_by(PlatformSettings.id.desc()).limit(1))
    if settings is None:
        settings = PlatformSettings()
        db.session.add(settings)
        db.session.flush()
    return settings


def change_settings(*, actor, reason: str, **values) -> PlatformSettings:
    """Write a new settings version with ``values`` changed; it applies to new quotes only."""
    unknown = set(values) - set(PlatformSettings.EDITABLE)
    if unknown:
        raise ValidationFailed(f"unknown settings: {sorted(unknown)}")
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required")
    previous = current_settings()
    data = {name: getattr(previous, name) for name in PlatformSettings.EDITABLE}
    changed = {k: v for k, v in values.items() if data[k] != v}
    data.update(values)
    new = PlatformSettings(**data, created_by_id=getattr(actor, "id", None), reason=reason.strip())
    db.session.add(new)
    db.session.flush()
    audit.record("settings.changed", actor=actor, target=new, reason=reason, changed=changed)
    return new
