"""First start of a fresh installation: a tenant, an admin and a key, so one command is enough."""

from __future__ import annotations

import os

from core.db import identity
from core.db.session import transaction
from core.errors import NotFound
from core.settings import Settings
from zhiku.database import build_sessions

DEFAULT_TENANT = "default"
DEFAULT_ADMIN = "admin"


def ensure_first_admin(settings: Settings) -> str | None:
    """Create tenant ``default`` and user ``admin`` with a key when the database has no tenant.

    The key is printed once and written to ``<data_dir>/admin-api-key`` (mode 600)."""
    with transaction(build_sessions(settings, migrate=True)) as session:
        try:
            identity.get_tenant_by_name(session, DEFAULT_TENANT)
            return None
        except NotFound:
            pass
        tenant = identity.create_tenant(session, DEFAULT_TENANT)
        user = identity.create_user(session, tenant.id, DEFAULT_ADMIN, is_admin=True)
        key = identity.issue_api_key(session, user, settings.secret_key, "first admin").plaintext
    path = settings.data_dir / "admin-api-key"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    print(f"Created tenant '{DEFAULT_TENANT}' and admin user '{DEFAULT_ADMIN}'.")
    print(f"Admin API key (also in {path}): {key}")
    return key
