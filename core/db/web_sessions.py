"""Web sign-in in the database: browser sessions, sign-in attempts (lockout), passwords.

A session's cookie carries a random token; the row's id is its SHA-256, so the table alone
signs nobody in. Each change records its audit event here, in its transaction, like every
other change (``core.db.events``). No function here ever sees a password: only its hash
(``services.passwords`` makes and checks them).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.access import Principal
from core.db.events import record_event
from core.db.identity import principal_for
from core.db.keys import aware
from core.db.models import SignInAttempt, Tenant, User, WebSession
from core.errors import Unauthenticated

# How precisely a session's last use is kept: a write on every request would make each one
# a write transaction. The idle timeout is therefore exact to this much.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
SESSION_REFUSED = "invalid or expired session: sign in again"
_MAX_USER_AGENT_CHARS = 200
_MAX_IP_CHARS = 64


@dataclass(frozen=True)
class SessionCaller:
    """Who a session cookie belongs to."""

    principal: Principal
    session_id: str
    expires_at: datetime


def session_id_of(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def trim(text: str, limit: int) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:limit]


# --- sessions


def create_session(
    session: Session, user: User, *, now: datetime, lifetime: timedelta, user_agent: str, ip: str
) -> tuple[str, datetime]:
    """A new session for ``user``: (the cookie's token, shown once; when it ends at the
    latest). Records ``auth.login``."""
    token = secrets.token_urlsafe(32)
    row = WebSession(
        id=session_id_of(token),
        user_id=user.id,
        tenant_id=user.tenant_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        user_agent=trim(user_agent, _MAX_USER_AGENT_CHARS),
        ip=trim(ip, _MAX_IP_CHARS),
    )
    session.add(row)
    record_event(session, user.tenant_id, user.id, "auth.login", "user", user.id, ip=row.ip)
    return token, row.expires_at


def authenticate_session(
    session: Session, token: str, *, now: datetime, idle: timedelta
) -> SessionCaller:
    """The caller behind a cookie's token; Unauthenticated with one message for an unknown,
    revoked, expired or idle session, or a disabled user (checked on every request)."""
    row = session.get(WebSession, session_id_of(token))
    if (
        row is None
        or row.revoked_at is not None
        or aware(row.expires_at) <= now
        or aware(row.last_seen_at) + idle <= now
    ):
        raise Unauthenticated(SESSION_REFUSED)
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None or user.tenant_id != row.tenant_id:
        raise Unauthenticated(SESSION_REFUSED)
    if now - aware(row.last_seen_at) > LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
    return SessionCaller(principal_for(user), row.id, aware(row.expires_at))


def revoke_session(session: Session, session_id: str, *, now: datetime) -> None:
    """Sign-out: the session is refused from now on. Records ``auth.logout`` once."""
    row = session.get(WebSession, session_id)
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = now
    record_event(session, row.tenant_id, row.user_id, "auth.logout", "user", row.user_id)


def revoke_user_sessions(
    session: Session, user_id: str, *, now: datetime, keep: str | None = None
) -> int:
    """End every live session of a user (but ``keep``): disabling, a new password."""
    query = update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(WebSession.id != keep)
    result = session.execute(query.values(revoked_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- passwords


def find_tenant(session: Session, name: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.name == name))


def record_sign_in_failure(
    session: Session,
    tenant: Tenant | None,
    user: User | None,
    *,
    ip: str,
    reason: str,
    locked_until: datetime | None = None,
) -> None:
    """``auth.login_failed`` (and ``auth.locked`` when this failure locked the account) in
    the organisation's trail. An unknown username is not written down (people type their
    password there by mistake): only that it was unknown. An unknown organisation has no
    trail to write in."""
    if tenant is None:
        return
    target = user.id if user is not None else ""
    details = {"ip": trim(ip, _MAX_IP_CHARS), "reason": reason, "known_user": user is not None}
    record_event(session, tenant.id, None, "auth.login_failed", "user", target, **details)
    if locked_until is not None:
        record_event(
            session,
            tenant.id,
            None,
            "auth.locked",
            "user",
            target,
            ip=details["ip"],
            known_user=user is not None,
            locked_until=locked_until.isoformat(),
        )


def tenant_name_of(session: Session, user: User) -> str:
    tenant = session.get(Tenant, user.tenant_id)
    return tenant.name if tenant is not None else ""


def find_user(session: Session, tenant_name: str, username: str) -> User | None:
    """The user signing in, or None (unknown organisation or name: the caller answers both
    the same way)."""
    return session.scalar(
        select(User)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(Tenant.name == tenant_name, User.name == username)
    )


def set_password_hash(
    session: Session, user: User, password_hash: str, *, now: datetime, actor_id: str | None
) -> None:
    """A new password (hash) for ``user``; ``actor_id`` None is the operator."""
    user.password_hash = password_hash
    user.password_changed_at = now
    record_event(session, user.tenant_id, actor_id, "user.password", "user", user.id)


def rehash_password(user: User, password_hash: str) -> None:
    """The same password under new hashing parameters: no event, nothing changed for anyone."""
    user.password_hash = password_hash


# --- attempts: lockout and the per-address limit


def locked_until(session: Session, account_hash: str, *, now: datetime) -> datetime | None:
    """When a locked account opens again, or None when it is not locked."""
    until = session.scalar(
        select(func.max(SignInAttempt.locked_until)).where(
            SignInAttempt.account_hash == account_hash, SignInAttempt.locked_until > now
        )
    )
    return aware(until) if until is not None else None


def failures_since(session: Session, account_hash: str, since: datetime) -> int:
    """Failures of an account after ``since`` and after its last success or lock: a
    success, or a lock that has run out, starts the count again."""
    reset = session.scalar(
        select(func.max(SignInAttempt.created_at)).where(
            SignInAttempt.account_hash == account_hash,
            (SignInAttempt.succeeded.is_(True)) | (SignInAttempt.locked_until.is_not(None)),
        )
    )
    start = max(since, aware(reset)) if reset is not None else since
    return int(
        session.scalar(
            select(func.count()).where(
                SignInAttempt.account_hash == account_hash,
                SignInAttempt.succeeded.is_(False),
                SignInAttempt.created_at > start,
            )
        )
        or 0
    )


def address_failures_since(session: Session, ip: str, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                SignInAttempt.ip == trim(ip, _MAX_IP_CHARS),
                SignInAttempt.succeeded.is_(False),
                SignInAttempt.created_at > since,
            )
        )
        or 0
    )


def record_attempt(
    session: Session,
    account_hash: str,
    ip: str,
    *,
    now: datetime,
    succeeded: bool,
    locked_until: datetime | None = None,
) -> None:
    session.add(
        SignInAttempt(
            account_hash=account_hash,
            ip=trim(ip, _MAX_IP_CHARS),
            succeeded=succeeded,
            locked_until=locked_until,
            created_at=now,
        )
    )


def forget_attempts_before(session: Session, before: datetime) -> int:
    """Drop attempts too old to matter for any lock or limit (kept bounded)."""
    result = session.execute(
        SignInAttempt.__table__.delete().where(
            SignInAttempt.created_at < before,
            (SignInAttempt.locked_until.is_(None)) | (SignInAttempt.locked_until < before),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget_sessions_before(session: Session, before: datetime) -> int:
    """Drop sessions that ended (expired or signed out) before ``before``."""
    result = session.execute(
        WebSession.__table__.delete().where(
            (WebSession.expires_at < before) | (WebSession.revoked_at < before)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
