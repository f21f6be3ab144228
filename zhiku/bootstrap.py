"""First start of a fresh installation: a tenant, an admin with a key and a password, so one
command is enough."""

from __future__ import annotations

import os
from pathlib import Path

from core.db import identity, web_sessions
from core.db import keys as key_queries
from core.db.models import utcnow
from core.db.session import transaction
from core.errors import NotFound
from core.settings import Settings
from core.settings_secret import owner_only
from services import passwords
from zhiku.database import build_sessions

DEFAULT_TENANT = "default"
DEFAULT_ADMIN = "admin"
ADMIN_KEY_FILE = "admin-api-key"
# The first admin's web sign-in password (the portal); change it after the first sign-in.
ADMIN_PASSWORD_FILE = "admin-password"


def ensure_first_admin(settings: Settings) -> Path | None:
    """Create tenant ``default`` and user ``admin`` with a key when the database has no tenant.

    The key goes to ``<data_dir>/admin-api-key`` (mode 600, forced on a file that already
    existed) and nowhere else: the console says where it is, never what it is, because the
    console of a service is a log (journald, docker logs) that others read. Returns the
    file's path, or None when the installation already had its tenant."""
    with transaction(build_sessions(settings, migrate=True)) as session:
        try:
            identity.get_tenant_by_name(session, DEFAULT_TENANT)
            return None
        except NotFound:
            pass
        tenant = identity.create_tenant(session, DEFAULT_TENANT)
        user = identity.create_user(session, tenant.id, DEFAULT_ADMIN, is_admin=True)
        key = key_queries.issue_api_key(session, user, settings.secret_key, "first admin").plaintext
        password = passwords.generate_password()
        web_sessions.set_password_hash(
            session, user, passwords.hash_password(password), now=utcnow(), actor_id=None
        )
        # Written inside the transaction: if a file cannot be written, no key or password
        # exists that nobody holds, and the next start tries again.
        path = write_secret_file(settings.data_dir / ADMIN_KEY_FILE, key)
        password_path = write_secret_file(settings.data_dir / ADMIN_PASSWORD_FILE, password)
    print(f"Created tenant '{DEFAULT_TENANT}' and admin user '{DEFAULT_ADMIN}'.")
    print(f"The admin API key is in {path} (readable by this user only).")
    print(f"The admin's sign-in password is in {password_path} (readable by this user only).")
    return path


def write_secret_file(path: Path, secret: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        # os.open's mode applies only to a new file: an existing one keeps its own until
        # forced, before the secret is written into it.
        owner_only(path)
        fh.write(secret + "\n")
    return path
