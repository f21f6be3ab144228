"""What ``zhiku admin`` does, as functions (tests call them directly)."""

from __future__ import annotations

from core.db import identity
from core.db.session import transaction
from core.settings import Settings
from zhiku.database import build_sessions


def create_tenant(settings: Settings, name: str) -> str:
    with transaction(build_sessions(settings, migrate=True)) as session:
        return identity.create_tenant(session, name).id


def create_user(
    settings: Settings, tenant: str, name: str, email: str | None = None, is_admin: bool = False
) -> str:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        return identity.create_user(session, tenant_id, name, email=email, is_admin=is_admin).id


def create_group(settings: Settings, tenant: str, name: str) -> str:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        return identity.create_group(session, tenant_id, name).id


def add_member(settings: Settings, tenant: str, user: str, group: str) -> None:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        identity.add_member(
            session,
            identity.get_user_by_name(session, tenant_id, user),
            identity.get_group_by_name(session, tenant_id, group),
        )


def create_key(settings: Settings, tenant: str, user: str, name: str = "") -> identity.IssuedKey:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        row = identity.get_user_by_name(session, tenant_id, user)
        return identity.issue_api_key(session, row, settings.secret_key, name)


def revoke_key(settings: Settings, key_id: str) -> None:
    with transaction(build_sessions(settings, migrate=True)) as session:
        identity.revoke_api_key(session, key_id)
