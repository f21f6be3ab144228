"""Groups and their memberships. Every change records its audit event in the same transaction
(``actor_id``: the user who acted; None: the operator at the command line)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.access import group_token
from core.db.conflicts import flush_or_conflict
from core.db.events import record_event
from core.db.models import Document, DocumentAccess, Group, Membership, User
from core.db.name_match import like_pattern
from core.errors import Conflict, NotFound


def create_group(
    session: Session, tenant_id: str, name: str, *, actor_id: str | None = None
) -> Group:
    group = Group(tenant_id=tenant_id, name=name)
    session.add(group)
    flush_or_conflict(session, f"group {name!r} already exists in this tenant")
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
    session: Session,
    tenant_id: str,
    *,
    offset: int = 0,
    limit: int = 50,
    name_contains: str | None = None,
) -> tuple[list[tuple[Group, int]], int]:
    """A tenant's groups by name, each with its number of members; ``name_contains``: only
    names holding that text, ignoring case (``%`` and ``_`` match themselves)."""
    members = (
        select(func.count())
        .where(Membership.group_id == Group.id)
        .correlate(Group)
        .scalar_subquery()
    )
    named = Group.tenant_id == tenant_id
    if name_contains:
        named = named & Group.name.ilike(like_pattern(name_contains), escape="\\")
    query = select(Group, members).where(named)
    total = session.scalar(select(func.count()).select_from(Group).where(named)) or 0
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
