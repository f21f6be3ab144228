"""The audit events: who did what to what (``AuditEvent``), written in the transaction of the
change they record, so an event exists exactly when its change was committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from core.db.models import AuditEvent, Tenant, new_id

# The actions recorded. A new kind of change adds its name here.
ACTIONS = frozenset(
    {
        "document.upload",
        "document.version",
        "document.access",
        "document.delete",
        "document.retry",
        "key.create",
        "key.revoke",
        "user.create",
        "user.disable",
        "user.enable",
        "user.roles",
        "group.create",
        "group.member.add",
        "group.member.remove",
        "group.delete",
        # web sign-in (core.db.web_sessions): never a password, nor an unknown username
        "auth.login",
        "auth.login_failed",
        "auth.locked",
        "auth.logout",
        "user.password",
        # single sign-on (core.db.oidc): a provider account linked to a user at first sign-in
        "user.oidc_link",
        "user.email",
        # a re-index with another embedding model (services.reindex): one event per tenant
        "index.reindex",
        # the organisation's settings (core.db.tenant_settings): the fields before and after
        "tenant.settings",
    }
)


def record_event(
    session: Session,
    tenant_id: str,
    actor_id: str | None,
    action: str,
    target_type: str,
    target_id: str,
    **details: Any,
) -> AuditEvent:
    """Record one event. ``details`` holds ids, names and flags, never document content;
    ``details["override"] = True`` marks an admin acting on a document they do not own."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(
        tenant_id=tenant_id,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )
    session.add(event)
    return event


def record_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Many events in one statement (an upload of many files): each a dict of
    :func:`record_event`'s arguments (``details`` as a dict; ``created_at`` optional), checked
    as it checks them. No ORM objects: on short files their bookkeeping was a good part of an
    upload's CPU (docs/benchmarks.md, issue 12, session 20)."""
    for event in events:
        if event["action"] not in ACTIONS:
            raise ValueError(f"unknown audit action {event['action']!r}")
    if events:
        rows = [{"id": new_id(), **event} for event in events]
        session.connection().execute(insert(AuditEvent.__table__), rows)


def record_event_in_every_tenant(
    session: Session,
    actor: tuple[str, str] | None,
    action: str,
    target_type: str,
    target_id: str,
    **details: Any,
) -> None:
    """One event per tenant, for a change to what they all share (the search index).
    ``actor``: (tenant, user) who made it, named only in their own tenant's event."""
    actor_tenant, actor_id = actor if actor is not None else (None, None)
    for tenant_id in session.scalars(select(Tenant.id)):
        own = actor_id if tenant_id == actor_tenant else None
        record_event(session, tenant_id, own, action, target_type, target_id, **details)


def list_events(
    session: Session,
    tenant_id: str,
    *,
    action: str | None = None,
    actor_id: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEvent], int]:
    """A tenant's events, newest first; ``since`` inclusive, ``until`` exclusive."""
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    if target_id:
        query = query.where(AuditEvent.target_id == target_id)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id)
    return list(session.scalars(page.offset(offset).limit(limit))), total


def recorded_filename(session: Session, tenant_id: str, doc_id: str, version: int) -> str | None:
    """The file name a document's ``version`` had, as the audit trail recorded it: every
    event on a document names its file name and version at the time (``document.upload`` for
    version 1, ``document.version`` for each later one). None when no event names that version
    (an operator removed the events, or the version predates the audit trail)."""
    rows = session.execute(
        select(AuditEvent.details)
        .where(
            AuditEvent.tenant_id == tenant_id,
            AuditEvent.target_type == "document",
            AuditEvent.target_id == doc_id,
        )
        .order_by(AuditEvent.created_at.desc())
    )
    for (details,) in rows:
        if isinstance(details, dict) and details.get("version") == version:
            name = details.get("filename")
            if isinstance(name, str) and name:
                return name
    return None
