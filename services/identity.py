"""Who is calling (an API key resolved to its principal), and a user's own keys.

Every user manages their own keys (list, create, revoke, rotate): a key that leaks can be
killed by its owner without waiting for an admin. The key helpers here are shared with
``services.admin``, which applies them to other users' keys.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from core.access import Principal
from core.db import identity, principal_cache
from core.db import keys as key_queries
from core.db.models import ApiKey, User, utcnow
from core.db.principal_cache import PrincipalCache
from core.db.session import Session, SessionFactory, transaction
from core.errors import NotFound, PermissionDenied, Unauthenticated
from services.schemas.admin import (
    KeyCreate,
    KeyIssued,
    KeyPublic,
    KeyRotate,
    KeyScope,
    KeysPublic,
    MePublic,
)


def key_public(row: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        created_by=row.created_by,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        active=key_queries.is_usable(row, utcnow()),
        scope=cast(KeyScope, row.scope),
        allowed_origins=list(key_queries.key_origins(row)),
    )


def me_of(user: User) -> MePublic:
    """Who a user is, as ``/v1/me`` and the sign-in routes show it."""
    return MePublic(
        id=user.id,
        tenant_id=user.tenant_id,
        name=user.name,
        is_admin=user.is_admin,
        is_auditor=user.is_auditor,
        group_ids=sorted(g.id for g in user.groups),
    )


def keys_public(rows: list[ApiKey]) -> KeysPublic:
    return KeysPublic(data=[key_public(r) for r in rows], count=len(rows))


def expiry(spec: KeyCreate) -> datetime | None:
    """When a key asked for now expires; None: never."""
    return utcnow() + timedelta(days=spec.expires_in_days) if spec.expires_in_days else None


def grace(spec: KeyRotate) -> timedelta:
    return timedelta(seconds=spec.grace_seconds)


def issue_key(
    session: Session, user: User, pepper: str, spec: KeyCreate, actor: Principal
) -> KeyIssued:
    """A new key for ``user`` as ``spec`` asks, issued (and recorded) by ``actor``, who can
    only hand on what their own key may do: a chat key mints no full key (and no upload key)."""
    if not scope_within(spec.scope, actor.key_scope):
        raise PermissionDenied(
            f"a {actor.key_scope!r} key cannot issue a {spec.scope!r} key: "
            "use a full key or sign in"
        )
    issued = key_queries.issue_api_key(
        session,
        user,
        pepper,
        spec.name,
        expires_at=expiry(spec),
        actor_id=actor.user_id,
        scope=spec.scope,
        allowed_origins=tuple(spec.allowed_origins),
    )
    return issued_public(issued)


def scope_within(wanted: str, held: str) -> bool:
    """Whether a key of scope ``held`` may issue one of scope ``wanted``: full covers all."""
    return held == "full" or wanted == held


def issued_public(issued: key_queries.IssuedKey) -> KeyIssued:
    return KeyIssued(
        id=issued.id,
        name=issued.name,
        key=issued.plaintext,
        expires_at=issued.expires_at,
        scope=cast(KeyScope, issued.scope),
        allowed_origins=list(issued.allowed_origins),
    )


def own_key(row: ApiKey, principal: Principal) -> ApiKey:
    """The caller's key; anyone else's (same tenant or not) is not found."""
    if row.user_id != principal.user_id:
        raise NotFound("no such API key")
    return row


class IdentityService:
    def __init__(self, sessions: SessionFactory, pepper: str, *, cache_s: float = 0.0) -> None:
        self._sessions = sessions
        self._pepper = pepper
        # A key's caller for ``cache_s`` (``web.principal_cache_s``): a client's next
        # requests skip the SQL. Forgotten at once on any change of who may do what made
        # in this process (``core.db.principal_cache``).
        self._callers: PrincipalCache[Principal] = PrincipalCache(cache_s)

    def authenticate(self, api_key: str | None) -> Principal:
        if not api_key:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        cached = self._callers.get(api_key)
        if cached is not None:
            return cached
        since = principal_cache.generation()
        with transaction(self._sessions) as session:
            principal, expires = identity.authenticate_until(session, api_key, self._pepper)
        # Kept only once committed (its last use written), and never a refusal.
        self._callers.put(api_key, principal, since, expires)
        return principal

    def me(self, principal: Principal) -> MePublic:
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, principal.user_id)
            return me_of(user)

    # --- the caller's own keys

    def list_keys(self, principal: Principal) -> KeysPublic:
        with transaction(self._sessions) as session:
            return keys_public(
                key_queries.list_keys(session, principal.tenant_id, principal.user_id)
            )

    def create_key(self, principal: Principal, spec: KeyCreate) -> KeyIssued:
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, principal.user_id)
            return issue_key(session, user, self._pepper, spec, principal)

    def revoke_key(self, principal: Principal, key_id: str) -> None:
        with transaction(self._sessions) as session:
            row = own_key(
                key_queries.key_to_change(session, principal.tenant_id, key_id), principal
            )
            key_queries.revoke_key(session, row, actor_id=principal.user_id)

    def rotate_key(self, principal: Principal, key_id: str, spec: KeyRotate) -> KeyIssued:
        with transaction(self._sessions) as session:
            row = own_key(
                key_queries.key_to_change(session, principal.tenant_id, key_id), principal
            )
            user = identity.get_user(session, principal.tenant_id, principal.user_id)
            issued = key_queries.rotate_key(
                session, row, user, self._pepper, grace=grace(spec), actor_id=principal.user_id
            )
        return issued_public(issued)
