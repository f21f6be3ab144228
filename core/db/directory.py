"""The names any member may look up to share a document (the directory), and the check that
an access list names only users and groups of the tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Group, User
from core.db.name_match import like_pattern
from core.errors import NotFound


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
