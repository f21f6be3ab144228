"""What ``zhiku admin`` does, as functions (tests call them directly).

The command line is the operator's: whoever runs it holds the database and the secret key
already, so it acts on any tenant and is the one place the auditor role is granted. Its
changes are audit events like any other, with no actor (``actor_id`` None).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.db import groups as group_queries
from core.db import identity
from core.db import keys as key_queries
from core.db.models import ApiKey, User, utcnow
from core.db.session import transaction
from core.errors import UpstreamUnavailable, ZhikuError
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
        return group_queries.create_group(session, tenant_id, name).id


def add_member(settings: Settings, tenant: str, user: str, group: str) -> None:
    _membership(settings, tenant, user, group, member=True)


def remove_member(settings: Settings, tenant: str, user: str, group: str) -> None:
    _membership(settings, tenant, user, group, member=False)


def _membership(settings: Settings, tenant: str, user: str, group: str, member: bool) -> None:
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        change = group_queries.add_member if member else group_queries.remove_member
        change(
            session,
            identity.get_user_by_name(session, tenant_id, user),
            group_queries.get_group_by_name(session, tenant_id, group),
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
) -> key_queries.IssuedKey:
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = _user(session, tenant, user)
        return key_queries.issue_api_key(
            session, row, settings.secret_key, name, expires_at=expires_at
        )


def list_keys(settings: Settings, tenant: str, user: str) -> list[ApiKey]:
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = _user(session, tenant, user)
        return key_queries.list_keys(session, row.tenant_id, row.id)


def revoke_key(settings: Settings, key_id: str) -> None:
    with transaction(build_sessions(settings, migrate=True)) as session:
        key_queries.revoke_api_key(session, key_id)


def rotate_key(settings: Settings, key_id: str, grace_seconds: int = 0) -> key_queries.IssuedKey:
    with transaction(build_sessions(settings, migrate=True)) as session:
        row = key_queries.get_key(session, None, key_id)
        owner = identity.get_user(session, row.tenant_id, row.user_id)
        return key_queries.rotate_key(
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


def reindex(
    settings: Settings,
    echo: Callable[[str], None],
    url: str | None = None,
    key: str | None = None,
    poll_s: float = 1.0,
) -> str:
    """Re-embed the index with the configured model; returns the final state ("done").

    With ``url``, through the running server's admin route (it holds an embedded index's
    folder, and serves on while it builds); otherwise in this process, which needs the
    index for itself (an embedded index: the server stopped)."""
    if url:
        return _reindex_remote(url, key or "", echo, poll_s)
    from core.resources import ready
    from index.embedders import build_embedder
    from index.sparse import Bm25Encoder
    from services.reindex import ReindexService
    from zhiku.components import build_store

    try:
        store = build_store(settings)
    except UpstreamUnavailable as exc:
        raise UpstreamUnavailable(
            f"{exc}. A server holds the index: run `zhiku admin reindex --url <server> "
            "--key <admin API key>` to re-index through it",
            component=exc.component,
        ) from exc
    try:
        service = ReindexService(
            build_sessions(settings, migrate=True),
            ready(store, "vector store"),
            Bm25Encoder(),
            settings.embedding,
            lambda embedding: build_embedder(embedding, settings.model_cache_path),
        )
        printer = _ProgressPrinter(echo)
        final = service.run(None, report=printer)
        store.optimize()  # the new generation's HNSW, before a server serves it
        return final.state
    finally:
        store.close()


def _reindex_remote(url: str, key: str, echo: Callable[[str], None], poll_s: float) -> str:
    import httpx

    from services.reindex import ReindexStatus

    route = url.rstrip("/") + "/v1/admin/index/reindex"
    headers = {"Authorization": f"Bearer {key}"}
    started = httpx.post(route, headers=headers, timeout=60)
    if started.status_code != 202:
        raise ReindexRefused(f"the server refused ({started.status_code}): {started.text[:300]}")
    printer = _ProgressPrinter(echo)
    while True:
        state = ReindexStatus(**httpx.get(route, headers=headers, timeout=60).json())
        printer(state)
        if state.state in ("done", "failed"):
            if state.state == "failed":
                raise ReindexRefused(f"the re-index failed: {state.error}")
            return state.state
        time.sleep(poll_s)


class ReindexRefused(ZhikuError):
    """The server would not re-index, or the re-index failed (the old index still serves)."""


class _ProgressPrinter:
    """One line per phase, and about every 5% of a pass: readable in a log and a terminal."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self._last: tuple[str, int, int] | None = None

    def __call__(self, state: Any) -> None:
        step = max(1, state.total // 20)
        mark = (state.phase, state.passes, state.done // step)
        if mark == self._last and state.state == "running":
            return
        self._last = mark
        line = f"generation {state.generation or '?'}: {state.phase}"
        if state.total:
            line += f" {state.done}/{state.total} (pass {state.passes})"
        if state.state != "running":
            line += f", {state.embedded} chunks embedded [{state.state}]"
        self._echo(line)
