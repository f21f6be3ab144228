"""Tenants, users, groups, memberships and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access import Principal
from core.db.models import ApiKey, Group, Membership, Tenant, User, utcnow
from core.errors import Conflict, NotFound, Unauthenticated

KEY_PREFIX = "zk"
# Stands in for a missing key's hash so a wrong prefix costs the same time as a wrong secret.
_DUMMY_HASH = "0" * 64
# How precisely a key's last use is kept.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_tenant(session: Session, name: str) -> Tenant:
    tenant = Tenant(name=name)
    session.add(tenant)
    _flush_or_conflict(session, f"tenant {name!r} already exists")
    return tenant


def get_tenant_by_name(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant


def create_user(
    session: Session, tenant_id: str, name: str, *, email: str | None = None, is_admin: bool = False
) -> User:
    user = User(tenant_id=tenant_id, name=name, email=email, is_admin=is_admin)
    session.add(user)
    _flush_or_conflict(session, f"user {name!r} already exists in this tenant")
    return user


def get_user_by_name(session: Session, tenant_id: str, name: str) -> User:
    user = session.scalar(select(User).where(User.tenant_id == tenant_id, User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def create_group(session: Session, tenant_id: str, name: str) -> Group:
    group = Group(tenant_id=tenant_id, name=name)
    session.add(group)
    _flush_or_conflict(session, f"group {name!r} already exists in this tenant")
    return group


def get_group_by_name(session: Session, tenant_id: str, name: str) -> Group:
    group = session.scalar(select(Group).where(Group.tenant_id == tenant_id, Group.name == name))
    if group is None:
        raise NotFound(f"no group named {name!r}")
    return group


def add_member(session: Session, user: User, group: Group) -> None:
    if user.tenant_id != group.tenant_id:
        raise Conflict("a user can only join groups of their own tenant")
    if session.get(Membership, (user.id, group.id)) is None:
        session.add(Membership(user_id=user.id, group_id=group.id))
        session.flush()
        session.expire(user, ["groups"])


def existing_ids(session: Session, tenant_id: str, users: set[str], groups: set[str]) -> None:
    """Refuse access lists naming users or groups that are not in the tenant."""
    if users:
        found = set(
            session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(users)))
        )
        if missing := users - found:
            raise NotFound(f"unknown users in access list: {sorted(missing)}")
    if groups:
        found = set(
            session.scalars(
                select(Group.id).where(Group.tenant_id == tenant_id, Group.id.in_(groups))
            )
        )
        if missing := groups - found:
            raise NotFound(f"unknown groups in access list: {sorted(missing)}")


@dataclass(frozen=True)
class IssuedKey:
    id: str
    # Shown once, never stored.
    plaintext: str


def _hash_secret(secret: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def issue_api_key(session: Session, user: User, pepper: str, name: str = "") -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        tenant_id=user.tenant_id,
        user_id=user.id,
        name=name,
        prefix=prefix,
        key_hash=_hash_secret(secret, pepper),
    )
    session.add(row)
    session.flush()
    return IssuedKey(row.id, f"{KEY_PREFIX}_{prefix}_{secret}")


def revoke_api_key(session: Session, key_id: str) -> None:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("no such API key")
    row.revoked_at = utcnow()


def authenticate(session: Session, plaintext: str, pepper: str) -> Principal:
    """Resolve an API key to its principal; Unauthenticated (one message for every failure)."""
    parts = plaintext.split("_", 2)
    prefix, secret = (
        (parts[1], parts[2]) if len(parts) == 3 and parts[0] == KEY_PREFIX else ("", "")
    )
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    expected = row.key_hash if row is not None else _DUMMY_HASH
    valid = hmac.compare_digest(_hash_secret(secret, pepper), expected)
    if not valid or row is None or row.revoked_at is not None:
        raise Unauthenticated("invalid or revoked API key")
    user = session.get(User, row.user_id)
    if user is None:
        raise Unauthenticated("invalid or revoked API key")
    now = utcnow()
    # Recorded to the minute: a write on every request would make each one a write
    # transaction (on SQLite it would wait behind ingestion's writer).
    last = row.last_used_at
    if last is None or now - _aware(last) > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return principal_for(user)


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def principal_for(user: User) -> Principal:
    return Principal(
        tenant_id=user.tenant_id,
        user_id=user.id,
        group_ids=frozenset(g.id for g in user.groups),
        is_admin=user.is_admin,
        is_auditor=user.is_auditor,
    )


def _flush_or_conflict(session: Session, message: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc
