"""API keys: issue, list, revoke, rotate. Each change records its audit event in the same
transaction, so the command line, the HTTP API and first start cannot forget one."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.db.events import record_event
from core.db.models import ApiKey, User, utcnow
from core.errors import Conflict, NotFound

KEY_PREFIX = "zk"
# Stands in for a missing key's hash so a wrong prefix costs the same time as a wrong secret.
DUMMY_HASH = "0" * 64
# Keys a user may hold at once (revoked and expired ones do not count): keys are cheap to
# mint, and a bound keeps a leaked admin key from filling the table.
MAX_ACTIVE_KEYS_PER_USER = 50


@dataclass(frozen=True)
class IssuedKey:
    id: str
    # Shown once, never stored.
    plaintext: str
    name: str = ""
    expires_at: datetime | None = None
    scope: str = "full"
    allowed_origins: tuple[str, ...] = ()


def hash_secret(secret: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_usable(row: ApiKey, now: datetime) -> bool:
    """Neither revoked nor expired."""
    return row.revoked_at is None and (row.expires_at is None or aware(row.expires_at) > now)


def issue_api_key(
    session: Session,
    user: User,
    pepper: str,
    name: str = "",
    *,
    expires_at: datetime | None = None,
    actor_id: str | None = None,
    rotated_from: str | None = None,
    scope: str = "full",
    allowed_origins: tuple[str, ...] = (),
) -> IssuedKey:
    """A new key for ``user``. ``actor_id`` is who asked (None: the operator, at the command
    line or first start), kept as the key's ``created_by`` and in its event, where a key made
    by someone else for a user is marked ``on_behalf``. ``scope`` and ``allowed_origins``
    (validated by the caller) limit what the key may call and from which browser origins."""
    if count_usable_keys(session, user.tenant_id, user.id) >= MAX_ACTIVE_KEYS_PER_USER:
        raise Conflict(
            f"a user may hold at most {MAX_ACTIVE_KEYS_PER_USER} active keys: revoke one first"
        )
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        tenant_id=user.tenant_id,
        user_id=user.id,
        name=name,
        prefix=prefix,
        key_hash=hash_secret(secret, pepper),
        expires_at=expires_at,
        created_by=actor_id,
        scope=scope,
        allowed_origins=list(allowed_origins),
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        user.tenant_id,
        actor_id,
        "key.create",
        "key",
        row.id,
        user_id=user.id,
        created_by=actor_id,
        name=name,
        prefix=prefix,
        expires_at=expires_at.isoformat() if expires_at else None,
        on_behalf=actor_id != user.id,
        rotated_from=rotated_from,
        scope=scope,
        allowed_origins=list(allowed_origins),
    )
    return IssuedKey(
        row.id,
        f"{KEY_PREFIX}_{prefix}_{secret}",
        name,
        expires_at,
        scope,
        tuple(allowed_origins),
    )


def key_origins(row: ApiKey) -> tuple[str, ...]:
    """The browser origins a key may be used from (empty: any)."""
    return tuple(str(origin) for origin in (row.allowed_origins or []))


def list_keys(session: Session, tenant_id: str, user_id: str) -> list[ApiKey]:
    """A user's keys, revoked and expired ones included, newest first."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.user_id == user_id)
    return list(session.scalars(query.order_by(ApiKey.created_at.desc(), ApiKey.id)))


def count_usable_keys(session: Session, tenant_id: str, user_id: str) -> int:
    """A user's keys that are neither revoked nor expired."""
    query = select(func.count()).where(
        ApiKey.tenant_id == tenant_id,
        ApiKey.user_id == user_id,
        ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > utcnow()),
    )
    return session.scalar(query) or 0


def get_key(session: Session, tenant_id: str | None, key_id: str) -> ApiKey:
    """A key of ``tenant_id`` (any tenant's for None: the operator). Another tenant's key is
    not found, so ids reveal nothing across tenants."""
    row = session.get(ApiKey, key_id)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound("no such API key")
    return row


def key_to_change(session: Session, tenant_id: str | None, key_id: str) -> ApiKey:
    """``get_key`` under the key's row lock, held until the transaction ends, so that a
    revocation and rotations of one key take turns: two read-then-write transactions
    otherwise both saw it live, and a key revoked beside a rotation kept a live successor
    (or one rotation made two). The first statement of its transaction (``core.db.access``
    explains the no-op ``UPDATE``: a row lock on PostgreSQL, the write lock on SQLite)."""
    table = ApiKey.__table__
    session.execute(update(table).where(table.c.id == key_id).values(revoked_at=table.c.revoked_at))
    return get_key(session, tenant_id, key_id)


def revoke_key(
    session: Session, row: ApiKey, *, actor_id: str | None = None, reason: str = "revoked"
) -> None:
    """Refuse the key from now on. Revoking a revoked key changes and records nothing."""
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    _record_revoke(session, row, actor_id, reason=reason)


def _record_revoke(session: Session, row: ApiKey, actor_id: str | None, **details: str) -> None:
    record_event(
        session,
        row.tenant_id,
        actor_id,
        "key.revoke",
        "key",
        row.id,
        user_id=row.user_id,
        prefix=row.prefix,
        **details,
    )


def revoke_api_key(session: Session, key_id: str, *, actor_id: str | None = None) -> None:
    """Revoke a key by id, whatever its tenant (the operator's command line)."""
    revoke_key(session, get_key(session, None, key_id), actor_id=actor_id)


def rotate_key(
    session: Session,
    row: ApiKey,
    user: User,
    pepper: str,
    *,
    grace: timedelta = timedelta(0),
    actor_id: str | None = None,
) -> IssuedKey:
    """A new key with the old one's name, lifetime, scope and origins; the old one is
    revoked at once, or expires after ``grace`` (so running clients can switch over). One
    transaction: both happen or neither."""
    if row.revoked_at is not None:
        raise Conflict("a revoked key cannot be rotated: create a new one")
    now = utcnow()
    lifetime = aware(row.expires_at) - aware(row.created_at) if row.expires_at else None
    issued = issue_api_key(
        session,
        user,
        pepper,
        row.name,
        expires_at=now + lifetime if lifetime is not None else None,
        actor_id=actor_id,
        rotated_from=row.id,
        scope=row.scope,
        allowed_origins=key_origins(row),
    )
    if grace > timedelta(0):
        ends = now + grace
        if row.expires_at is None or aware(row.expires_at) > ends:
            row.expires_at = ends
        _record_revoke(
            session,
            row,
            actor_id,
            reason="rotated",
            rotated_to=issued.id,
            effective_at=ends.isoformat(),
        )
    else:
        revoke_key(session, row, actor_id=actor_id, reason="rotated")
    return issued
