"""Tenants, users, and who an API key or a session belongs to.

Every change to a user records its audit event here, in the same transaction: the HTTP API,
the command line and first start all come through these functions. ``actor_id`` is the user
who acted; None is the operator at the command line. Beside this module: groups and
memberships (``core.db.groups``), the API keys themselves (``core.db.keys``), the directory
members look names up in (``core.db.directory``).
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.access import Principal
from core.db.conflicts import flush_or_conflict
from core.db.events import record_event
from core.db.keys import DUMMY_HASH, KEY_PREFIX, aware, hash_secret, is_usable, key_origins
from core.db.models import ApiKey, Document, Group, OidcIdentity, Tenant, User, WebSession, utcnow
from core.db.name_match import like_pattern
from core.errors import Conflict, NotFound, Unauthenticated

# How precisely a key's last use is kept.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# The one answer to every failed authentication: which part failed is nobody's business.
_REFUSED = "invalid or revoked API key"


def create_tenant(session: Session, name: str) -> Tenant:
    tenant = Tenant(name=name)
    session.add(tenant)
    flush_or_conflict(session, f"tenant {name!r} already exists")
    return tenant


def get_tenant_by_name(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant


def tenant_counts(session: Session, tenant_id: str) -> tuple[Tenant, int, int, int]:
    """A tenant with its numbers of users, groups and documents."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")

    def count(model: type[User] | type[Group] | type[Document]) -> int:
        query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
        return int(session.scalar(query) or 0)

    return tenant, count(User), count(Group), count(Document)


# --- users


def create_user(
    session: Session,
    tenant_id: str,
    name: str,
    *,
    email: str | None = None,
    is_admin: bool = False,
    is_auditor: bool = False,
    actor_id: str | None = None,
) -> User:
    if email is not None and email_taken(session, tenant_id, email):
        raise Conflict("another user of this tenant has this e-mail address")
    user = User(
        tenant_id=tenant_id, name=name, email=email, is_admin=is_admin, is_auditor=is_auditor
    )
    session.add(user)
    flush_or_conflict(session, f"user {name!r} already exists in this tenant")
    record_event(
        session,
        tenant_id,
        actor_id,
        "user.create",
        "user",
        user.id,
        name=name,
        is_admin=is_admin,
        is_auditor=is_auditor,
    )
    return user


def email_taken(session: Session, tenant_id: str, email: str, *, but: str | None = None) -> bool:
    """Whether a user of the tenant (other than ``but``) has this e-mail, in any case (a
    unique index enforces it too: ``ux_users_tenant_email``)."""
    query = select(User.id).where(
        User.tenant_id == tenant_id, func.lower(User.email) == email.lower()
    )
    if but is not None:
        query = query.where(User.id != but)
    return session.scalar(query.limit(1)) is not None


def set_email(session: Session, user: User, email: str | None, *, actor_id: str | None) -> None:
    """Change a user's e-mail (``user.email``, recorded without the address itself)."""
    if email == user.email:
        return
    if email is not None and email_taken(session, user.tenant_id, email, but=user.id):
        raise Conflict("another user of this tenant has this e-mail address")
    user.email = email
    flush_or_conflict(session, "another user of this tenant has this e-mail address")
    # Single sign-on found this user by the old address: the next sign-in maps anew.
    session.execute(delete(OidcIdentity).where(OidcIdentity.user_id == user.id))
    record_event(
        session, user.tenant_id, actor_id, "user.email", "user", user.id, has_email=bool(email)
    )


def get_user(session: Session, tenant_id: str, user_id: str) -> User:
    """A user of ``tenant_id``; another tenant's user is not found."""
    user = session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise NotFound("user not found")
    return user


def get_user_by_name(session: Session, tenant_id: str, name: str) -> User:
    user = session.scalar(select(User).where(User.tenant_id == tenant_id, User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def list_users(
    session: Session,
    tenant_id: str,
    *,
    offset: int = 0,
    limit: int = 50,
    name_contains: str | None = None,
) -> tuple[list[User], int]:
    """A tenant's users by name, disabled ones included; ``name_contains``: only names
    holding that text, ignoring case (``%`` and ``_`` match themselves)."""
    query = select(User).where(User.tenant_id == tenant_id)
    if name_contains:
        query = query.where(User.name.ilike(like_pattern(name_contains), escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(User.name, User.id).offset(offset).limit(limit)
    return list(session.scalars(page)), total


def set_disabled(session: Session, user: User, disabled: bool, *, actor_id: str | None) -> None:
    """Disable (keys refused from the next request on) or enable a user; recorded only when
    the state changes."""
    if (user.disabled_at is not None) == disabled:
        return
    user.disabled_at = utcnow() if disabled else None
    if disabled:  # their browser sessions end too (they are refused anyway, see below)
        session.execute(
            update(WebSession)
            .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
            .values(revoked_at=user.disabled_at)
        )
    action = "user.disable" if disabled else "user.enable"
    record_event(session, user.tenant_id, actor_id, action, "user", user.id, name=user.name)


def set_roles(
    session: Session, user: User, *, is_admin: bool, is_auditor: bool, actor_id: str | None
) -> None:
    """Change a user's roles, recording before and after (so a self-grant is visible)."""
    before = {"is_admin": user.is_admin, "is_auditor": user.is_auditor}
    after = {"is_admin": is_admin, "is_auditor": is_auditor}
    if before == after:
        return
    user.is_admin, user.is_auditor = is_admin, is_auditor
    record_event(
        session, user.tenant_id, actor_id, "user.roles", "user", user.id, before=before, after=after
    )


# --- authentication


def authenticate(session: Session, plaintext: str, pepper: str) -> Principal:
    """Resolve an API key to its principal. Unauthenticated, with one message for every
    failure: unknown, wrong, revoked or expired key, or a disabled user."""
    return authenticate_until(session, plaintext, pepper)[0]


def authenticate_until(
    session: Session, plaintext: str, pepper: str
) -> tuple[Principal, datetime | None]:
    """``authenticate``, with when the key expires (None: never), so that a cached answer
    (``core.db.principal_cache``) never outlives the key."""
    parts = plaintext.split("_", 2)
    prefix, secret = (
        (parts[1], parts[2]) if len(parts) == 3 and parts[0] == KEY_PREFIX else ("", "")
    )
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    expected = row.key_hash if row is not None else DUMMY_HASH
    valid = hmac.compare_digest(hash_secret(secret, pepper), expected)
    now = utcnow()
    if not valid or row is None or not is_usable(row, now):
        raise Unauthenticated(_REFUSED)
    user = session.get(User, row.user_id)
    # Checked on every request, so disabling a user takes effect on their next one.
    if user is None or user.disabled_at is not None:
        raise Unauthenticated(_REFUSED)
    # Recorded to the minute: a write on every request would make each one a write
    # transaction (on SQLite it would wait behind ingestion's writer).
    last = row.last_used_at
    if last is None or now - aware(last) > LAST_USED_RESOLUTION:
        row.last_used_at = now
    expires = aware(row.expires_at) if row.expires_at is not None else None
    return principal_for(user, key=row), expires


def principal_for(user: User, key: ApiKey | None = None) -> Principal:
    """The caller: ``user``, through ``key`` (its id, scope and origins) or none (a session)."""
    return Principal(
        tenant_id=user.tenant_id,
        user_id=user.id,
        group_ids=frozenset(g.id for g in user.groups),
        is_admin=user.is_admin,
        is_auditor=user.is_auditor,
        key_id=key.id if key is not None else None,
        key_scope=key.scope if key is not None else "full",
        key_origins=key_origins(key) if key is not None else (),
    )
