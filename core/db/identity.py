"""Tenants, users, groups, memberships, and who an API key belongs to.

Every change to a user, a group or a membership records its audit event here, in the same
transaction: the HTTP API, the command line and first start all come through these functions.
``actor_id`` is the user who acted; None is the operator at the command line. The API keys
themselves are in ``core.db.keys`` (re-exported here for callers that predate the split).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access import Principal, group_token
from core.db.documents import like_pattern
from core.db.events import record_event
from core.db.keys import (
    DUMMY_HASH,
    KEY_PREFIX,
    IssuedKey,
    aware,
    get_key,
    hash_secret,
    is_usable,
    issue_api_key,
    key_origins,
    list_keys,
    revoke_api_key,
    revoke_key,
    rotate_key,
)
from core.db.models import (
    ApiKey,
    Document,
    DocumentAccess,
    Group,
    Membership,
    OidcIdentity,
    Tenant,
    User,
    WebSession,
    utcnow,
)
from core.errors import Conflict, NotFound, Unauthenticated

__all__ = [
    "IssuedKey",
    "get_key",
    "is_usable",
    "issue_api_key",
    "list_keys",
    "revoke_api_key",
    "revoke_key",
    "rotate_key",
]

# How precisely a key's last use is kept.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# The one answer to every failed authentication: which part failed is nobody's business.
_REFUSED = "invalid or revoked API key"


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
    _flush_or_conflict(session, f"user {name!r} already exists in this tenant")
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
    _flush_or_conflict(session, "another user of this tenant has this e-mail address")
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


# --- groups


def create_group(
    session: Session, tenant_id: str, name: str, *, actor_id: str | None = None
) -> Group:
    group = Group(tenant_id=tenant_id, name=name)
    session.add(group)
    _flush_or_conflict(session, f"group {name!r} already exists in this tenant")
    record_event(session, tenant_id, actor_id, "group.create", "group", group.id, name=name)
    return group


def get_group(session: Session, tenant_id: str, group_id: str) -> Group:
    """A group of ``tenant_id``; another tenant's group is not found."""
    group = session.get(Group, group_id)
    if group is None or group.tenant_id != tenant_id:
        raise NotFound("group not found")
    return group


def get_group_by_name(session: Session, tenant_id: str, name: str) -> Group:
    group = session.scalar(select(Group).where(Group.tenant_id == tenant_id, Group.name == name))
    if group is None:
        raise NotFound(f"no group named {name!r}")
    return group


def list_groups(
    session: Session, tenant_id: str, *, offset: int = 0, limit: int = 50
) -> tuple[list[tuple[Group, int]], int]:
    """A tenant's groups by name, each with its number of members."""
    members = (
        select(func.count())
        .where(Membership.group_id == Group.id)
        .correlate(Group)
        .scalar_subquery()
    )
    query = select(Group, members).where(Group.tenant_id == tenant_id)
    total = session.scalar(select(func.count()).where(Group.tenant_id == tenant_id)) or 0
    page = query.order_by(Group.name, Group.id).offset(offset).limit(limit)
    return [(group, int(count)) for group, count in session.execute(page)], total


def delete_group(session: Session, group: Group, *, actor_id: str | None = None) -> None:
    """Delete a group and its memberships. Refused (Conflict) while a document's access list
    names it: deleting it would silently take those documents from its members, and a list
    naming a group that no longer exists could not be edited back."""
    named = session.scalar(
        select(func.count())
        .select_from(DocumentAccess)
        .join(Document, Document.id == DocumentAccess.document_id)
        .where(Document.tenant_id == group.tenant_id, DocumentAccess.token == group_token(group.id))
    )
    if named:
        raise Conflict(
            f"the group is named in the access lists of {named} documents: remove it there first"
        )
    removed = session.execute(delete(Membership).where(Membership.group_id == group.id))
    members = int(removed.rowcount or 0)  # type: ignore[attr-defined]
    session.delete(group)
    session.flush()
    record_event(
        session,
        group.tenant_id,
        actor_id,
        "group.delete",
        "group",
        group.id,
        name=group.name,
        members=members,
    )


def tenant_counts(session: Session, tenant_id: str) -> tuple[Tenant, int, int, int]:
    """A tenant with its numbers of users, groups and documents."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")

    def count(model: type[User] | type[Group] | type[Document]) -> int:
        query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
        return int(session.scalar(query) or 0)

    return tenant, count(User), count(Group), count(Document)


def group_members(
    session: Session, group: Group, *, offset: int = 0, limit: int = 50
) -> tuple[list[User], int]:
    query = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.group_id == group.id)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(User.name, User.id).offset(offset).limit(limit)
    return list(session.scalars(page)), total


def add_member(session: Session, user: User, group: Group, *, actor_id: str | None = None) -> None:
    if user.tenant_id != group.tenant_id:
        raise Conflict("a user can only join groups of their own tenant")
    if session.get(Membership, (user.id, group.id)) is None:
        session.add(Membership(user_id=user.id, group_id=group.id))
        session.flush()
        session.expire(user, ["groups"])
        record_event(
            session,
            group.tenant_id,
            actor_id,
            "group.member.add",
            "group",
            group.id,
            user_id=user.id,
            group_name=group.name,
        )


def remove_member(
    session: Session, user: User, group: Group, *, actor_id: str | None = None
) -> None:
    """Take ``user`` out of ``group``: the group's documents are out of their reach from the
    next request on. Removing a non-member changes and records nothing."""
    membership = session.get(Membership, (user.id, group.id))
    if membership is None:
        return
    session.delete(membership)
    session.flush()
    session.expire(user, ["groups"])
    record_event(
        session,
        group.tenant_id,
        actor_id,
        "group.member.remove",
        "group",
        group.id,
        user_id=user.id,
        group_name=group.name,
    )


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


# --- authentication


def authenticate(session: Session, plaintext: str, pepper: str) -> Principal:
    """Resolve an API key to its principal. Unauthenticated, with one message for every
    failure: unknown, wrong, revoked or expired key, or a disabled user."""
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
    return principal_for(user, key=row)


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


def _flush_or_conflict(session: Session, message: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


# --- the directory: names any member may look up, to share a document


def directory(
    session: Session,
    tenant_id: str,
    *,
    name: str = "",
    user_ids: Sequence[str] = (),
    group_ids: Sequence[str] = (),
    limit: int = 20,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(id, name) of the tenant's enabled users and its groups, by name: those whose name
    holds ``name`` (case-insensitive, no wildcards), or, with ids, those ids (the names of an
    access list). At most ``limit`` of each."""
    users = select(User.id, User.name).where(
        User.tenant_id == tenant_id, User.disabled_at.is_(None)
    )
    groups = select(Group.id, Group.name).where(Group.tenant_id == tenant_id)
    if user_ids or group_ids:
        users = users.where(User.id.in_(list(user_ids)))
        groups = groups.where(Group.id.in_(list(group_ids)))
    elif name:
        pattern = like_pattern(name)
        users = users.where(User.name.ilike(pattern, escape="\\"))
        groups = groups.where(Group.name.ilike(pattern, escape="\\"))
    found_users = session.execute(users.order_by(User.name, User.id).limit(limit))
    found_groups = session.execute(groups.order_by(Group.name, Group.id).limit(limit))
    return [(i, n) for i, n in found_users], [(i, n) for i, n in found_groups]
