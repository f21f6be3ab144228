"""What ``zhiku admin`` does, as functions (tests call them directly).

The command line is the operator's: whoever runs it holds the database and the secret key
already, so it acts on any tenant and is the one place the auditor role is granted. Its
changes are audit events like any other, with no actor (``actor_id`` None).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from core.db import identity
from core.db.models import ApiKey, User, utcnow
from core.db.session import transaction
from core.settings import Settings
from zhiku.database import build_sessions


def create_tenant(settings: Settings, name: str) -> str:
    with transaction(build_sessions(settings, migrate=True)) as session:
        return identity.create_tenant(session, name).id


def create_user(
    settings: Settings,
    tenant: str,
    name: str,
    email: str | None = None,
    is_admin: bool = False,
    is_auditor: bool = False,
) -> str:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        user = identity.create_user(
            session, tenant_id, name, email=email, is_admin=is_admin, is_auditor=is_auditor
        )
        return user.id


def create_group(settings: Settings, tenant: str, name: str) -> str:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        return identity.create_group(session, tenant_id, name).id


def add_member(settings: Settings, tenant: str, user: str, group: str) -> None:
    _membership(settings, tenant, user, group, member=True)


def remove_member(settings: Settings, tenant: str, user: str, group: str) -> None:
    _membership(settings, tenant, user, group, member=False)


def _membership(settings: Settings, tenant: str, user: str, group: str, member: bool) -> None:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        change = identity.add_member if member else identity.remove_member
        change(
            session,
            identity.get_user_by_name(session, tenant_id, user),
            identity.get_group_by_name(session, tenant_id, group),
        )


def set_disabled(settings: Settings, tenant: str, user: str, disabled: bool) -> None:
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = _user(session, tenant, user)
        identity.set_disabled(session, row, disabled, actor_id=None)


def set_roles(
    settings: Settings, tenant: str, user: str, is_admin: bool | None, is_auditor: bool | None
) -> tuple[bool, bool]:
    """Set the roles given (None: unchanged); returns (is_admin, is_auditor) after."""
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = _user(session, tenant, user)
        admin = row.is_admin if is_admin is None else is_admin
        auditor = row.is_auditor if is_auditor is None else is_auditor
        identity.set_roles(session, row, is_admin=admin, is_auditor=auditor, actor_id=None)
        return admin, auditor


def create_key(
    settings: Settings,
    tenant: str,
    user: str,
    name: str = "",
    expires_in_days: int | None = None,
) -> identity.IssuedKey:
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = _user(session, tenant, user)
        return identity.issue_api_key(
            session, row, settings.secret_key, name, expires_at=expires_at
        )


def list_keys(settings: Settings, tenant: str, user: str) -> list[ApiKey]:
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = _user(session, tenant, user)
        return identity.list_keys(session, row.tenant_id, row.id)


def revoke_key(settings: Settings, key_id: str) -> None:
    with transaction(build_sessions(settings, migrate=True)) as session:
        identity.revoke_api_key(session, key_id)


def rotate_key(settings: Settings, key_id: str, grace_seconds: int = 0) -> identity.IssuedKey:
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = identity.get_key(session, None, key_id)
        owner = identity.get_user(session, row.tenant_id, row.user_id)
        return identity.rotate_key(
            session, row, owner, settings.secret_key, grace=timedelta(seconds=grace_seconds)
        )


def _user(session: Session, tenant: str, name: str) -> User:
    tenant_id = identity.get_tenant_by_name(session, tenant).id
    return identity.get_user_by_name(session, tenant_id, name)


def set_password(settings: Settings, tenant: str, user: str, password: str) -> None:
    """A user's web sign-in password (policy: ``services.passwords``); their browser
    sessions end, so whoever knew the old one is signed out."""
    from core.db import web_sessions
    from services import passwords

    with transaction(build_sessions(settings, migrate=True)) as session:
        row = _user(session, tenant, user)
        text = passwords.check_policy(password, row.name)
        now = utcnow()
        web_sessions.set_password_hash(
            session, row, passwords.hash_password(text), now=now, actor_id=None
        )
        web_sessions.revoke_user_sessions(session, row.id, now=now)
