"""A tenant's settings row: read (None: every default) and written with its audit event."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.db.events import record_event
from core.db.models import TenantSettings, utcnow

FIELDS = ("display_name", "default_access", "default_language", "pii_redaction")


def settings_of(session: Session, tenant_id: str) -> TenantSettings | None:
    return session.get(TenantSettings, tenant_id)


def update_settings(
    session: Session, tenant_id: str, actor_id: str | None, values: dict[str, Any]
) -> TenantSettings:
    """Set the given fields (the others keep their values); one ``tenant.settings`` event
    names what changed, before and after, when anything did."""
    row = session.get(TenantSettings, tenant_id)
    if row is None:
        row = TenantSettings(tenant_id=tenant_id, default_access="owner")
        session.add(row)
    before = {field: getattr(row, field) for field in FIELDS}
    for field, value in values.items():
        if field in FIELDS:
            setattr(row, field, value)
    changed = {
        field: {"before": before[field], "after": getattr(row, field)}
        for field in FIELDS
        if getattr(row, field) != before[field]
    }
    if changed:
        row.updated_at = utcnow()
        row.updated_by = actor_id
        record_event(
            session, tenant_id, actor_id, "tenant.settings", "tenant", tenant_id, changed=changed
        )
    session.flush()
    return row
