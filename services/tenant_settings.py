"""The organisation's settings, chosen by its admins in the console and honoured by the product.

- ``display_name``: the portal's header shows it instead of the sign-in name (which stays the
  identifier people type to sign in);
- ``default_access``: who reads a new upload that names no access list: ``owner`` (the
  uploader, and admins) or ``everyone`` in the organisation. The upload API and the documents
  page both follow it;
- ``default_language``: the portal's language for a member who has not picked one (``?lang=``
  or the remembered switch): ``zh-CN`` or ``en``; none follows the browser;
- ``pii_redaction``: personal data masked at ingestion, in what is served, in both, or off
  (``core.settings_pii``); none follows the deployment's ``ZHIKU_PII__DEFAULT_MODE``.

Admins read and change them (``/v1/admin/tenant/settings``, audited as ``tenant.settings``);
every member's pages and uploads read them.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from core.db import tenant_settings as store
from core.db.session import SessionFactory, transaction
from core.settings_pii import Mode

MAX_DISPLAY_NAME_CHARS = 200
DefaultAccess = Literal["owner", "everyone"]
Language = Literal["zh-CN", "en"]


def _printable(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value):
        raise ValueError("must not contain control or format characters")
    return value


DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MAX_DISPLAY_NAME_CHARS),
    AfterValidator(_printable),
]


class TenantSettingsPublic(BaseModel):
    """The organisation's settings as they are in force (defaults where none was chosen)."""

    display_name: str | None = None
    default_access: DefaultAccess = "owner"
    default_language: Language | None = None
    pii_redaction: Mode | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


class TenantSettingsUpdate(BaseModel):
    """The fields to change; a field left out keeps its value. An empty ``display_name``, a
    null ``default_language`` or ``pii_redaction`` goes back to the default."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    default_access: DefaultAccess | None = None
    default_language: Language | None = None
    pii_redaction: Mode | None = None


DEFAULTS = TenantSettingsPublic()


def read(sessions: SessionFactory, tenant_id: str) -> TenantSettingsPublic:
    with transaction(sessions) as session:
        row = store.settings_of(session, tenant_id)
        if row is None:
            return DEFAULTS
        return TenantSettingsPublic(
            display_name=row.display_name,
            default_access=row.default_access,  # type: ignore[arg-type]
            default_language=row.default_language,  # type: ignore[arg-type]
            pii_redaction=row.pii_redaction,  # type: ignore[arg-type]
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )


def update(
    sessions: SessionFactory, tenant_id: str, actor_id: str, change: TenantSettingsUpdate
) -> TenantSettingsPublic:
    values = change.model_dump(exclude_unset=True)
    if "display_name" in values:
        values["display_name"] = values["display_name"] or None  # "" or null: the default
    if values.get("default_access", "") is None:
        values["default_access"] = "owner"
    with transaction(sessions) as session:
        store.update_settings(session, tenant_id, actor_id, values)
    with _changes_lock:
        _changes[tenant_id] = time.monotonic()
    return read(sessions, tenant_id)


# When each tenant's settings were last changed through this process: a cache of them
# (services.pii) older than that is read again at once.
_changes: dict[str, float] = {}
_changes_lock = threading.Lock()


def changed_at(tenant_id: str) -> float:
    with _changes_lock:
        return _changes.get(tenant_id, float("-inf"))
