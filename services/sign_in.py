"""Web sign-in: username and password to a browser session, lockout, sign-out, passwords.

A username is unique within its organisation (tenant), as in Slack workspaces or AWS account
aliases, so a sign-in names the organisation; one left out is the installation's default
(``web.default_tenant``, the one first start creates). Every failure answers the same
(unknown organisation, unknown user, wrong password, no password set, disabled user), after
an argon2 check of the same cost, so the answer reveals nothing about who exists.

Lockout counts failures per account (organisation and username as typed, kept only as a
keyed hash) and per address, in the database so that every API process shares them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.access import Principal
from core.db import identity, principal_cache
from core.db import web_sessions as store
from core.db.models import Tenant, User, utcnow
from core.db.principal_cache import PrincipalCache
from core.db.session import Session, SessionFactory, transaction
from core.db.web_sessions import SessionCaller
from core.errors import Conflict, PermissionDenied, TooManyRequests, Unauthenticated
from core.settings_sign_in import WebSettings
from services import passwords
from services.identity import me_of
from services.schemas.auth import SessionPublic
from services.schemas.bounds import has_control_characters

log = logging.getLogger(__name__)

SIGN_IN_REFUSED = "wrong organisation, username or password"
LOCKED = "too many failed sign-ins: try again later"
_CLEANUP_CHANCE = 0.01


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token (its only copy) and what the client is told."""

    token: str
    session: SessionPublic


@dataclass(frozen=True)
class _Refusal:
    error: Exception


class SignInService:
    def __init__(
        self, sessions: SessionFactory, pepper: str, web: WebSettings, *, cookie_secure: bool
    ) -> None:
        self._sessions = sessions
        self._pepper = pepper
        self.web = web
        # Whether cookies are marked Secure even on a plain-HTTP request (production).
        self.cookie_secure = cookie_secure
        # A session's caller for ``web.principal_cache_s`` (``core.db.principal_cache``).
        self._callers: PrincipalCache[SessionCaller] = PrincipalCache(web.principal_cache_s)
        passwords.warm_up()

    # --- tokens

    def csrf_token(self, session_token: str) -> str:
        """The synchronizer token of a session: derived from its cookie's token with the
        server's secret, so it is stored nowhere and dies with the session."""
        return hmac.new(
            self._pepper.encode(), b"csrf:" + session_token.encode(), hashlib.sha256
        ).hexdigest()

    def csrf_matches(self, session_token: str, presented: str | None) -> bool:
        expected = self.csrf_token(session_token)
        return presented is not None and hmac.compare_digest(expected, presented)

    def _account(self, tenant_name: str, username: str) -> str:
        """The lockout key: organisation and username as typed, case-folded, peppered."""
        typed = f"{passwords.normalised(tenant_name).casefold()}\x00"
        typed += passwords.normalised(username).casefold()
        return hmac.new(self._pepper.encode(), typed.encode(), hashlib.sha256).hexdigest()

    # --- sign-in, sessions, sign-out

    def sign_in(
        self, tenant: str | None, username: str, password: str, *, ip: str, user_agent: str
    ) -> SignedIn:
        """A new session, or Unauthenticated (any wrong part) or TooManyRequests (locked)."""
        tenant_name = tenant or self.web.default_tenant
        if has_control_characters(tenant_name) or has_control_characters(username):
            # No such name can exist (every name is bounded when made), and the sign-in
            # form hands its fields over unvalidated: refused like any unknown name, before
            # the database, which would refuse a NUL byte with an error of its own.
            raise Unauthenticated(SIGN_IN_REFUSED)
        account = self._account(tenant_name, username)
        with transaction(self._sessions) as session:
            outcome = self._attempt(
                session, tenant_name, account, username, password, ip, ua=user_agent
            )
        if isinstance(outcome, _Refusal):
            raise outcome.error
        return outcome

    def _attempt(
        self,
        session: Session,
        tenant_name: str,
        account: str,
        username: str,
        password: str,
        ip: str,
        *,
        ua: str,
    ) -> SignedIn | _Refusal:
        now = utcnow()
        if refusal := self._throttled(session, account, ip, now):
            return refusal
        tenant = store.find_tenant(session, tenant_name)
        user = store.find_user(session, tenant_name, username) if tenant is not None else None
        matches = passwords.verify_password(user.password_hash if user else None, password)
        if user is None or not matches or user.disabled_at is not None:
            reason = "unknown_user" if user is None else "disabled" if matches else "password"
            self._fail(session, account, ip, now, tenant, user, reason)
            return _Refusal(Unauthenticated(SIGN_IN_REFUSED))
        store.record_attempt(session, account, ip, now=now, succeeded=True)
        if user.password_hash and passwords.needs_rehash(user.password_hash):
            store.rehash_password(user, passwords.hash_password(password))
        return self.open_session(session, user, tenant_name, ip=ip, user_agent=ua)

    def open_session(
        self, session: Session, user: User, tenant_name: str, *, ip: str, user_agent: str
    ) -> SignedIn:
        """A new browser session for a user whose sign-in has been checked (a password
        here, or single sign-on in ``services.oidc``), in the caller's transaction;
        records ``auth.login``."""
        now = utcnow()
        token, expires_at = store.create_session(
            session,
            user,
            now=now,
            lifetime=timedelta(seconds=self.web.session_lifetime_s),
            user_agent=user_agent,
            ip=ip,
        )
        if random.random() < _CLEANUP_CHANCE:  # keeps both tables bounded, off the hot path
            store.forget_attempts_before(session, now - self._forget_after())
            store.forget_sessions_before(session, now - self._forget_after())
        public = SessionPublic(
            user=me_of(user),
            tenant_name=tenant_name,
            csrf_token=self.csrf_token(token),
            expires_at=expires_at,
        )
        return SignedIn(token, public)

    def _throttled(self, session: Session, account: str, ip: str, now: datetime) -> _Refusal | None:
        window = timedelta(seconds=self.web.lockout_window_s)
        until = store.locked_until(session, account, now=now)
        if until is not None:
            return _Refusal(TooManyRequests(LOCKED, _seconds_until(until, now)))
        if (
            ip
            and store.address_failures_since(session, ip, now - window) >= self.web.address_failures
        ):
            return _Refusal(TooManyRequests(LOCKED, self.web.lockout_window_s))
        return None

    def _fail(
        self,
        session: Session,
        account: str,
        ip: str,
        now: datetime,
        tenant: Tenant | None,
        user: User | None,
        reason: str,
    ) -> None:
        window = timedelta(seconds=self.web.lockout_window_s)
        failures = store.failures_since(session, account, now - window) + 1
        lock = (
            now + timedelta(seconds=self.web.lockout_s)
            if failures >= self.web.lockout_failures
            else None
        )
        store.record_attempt(session, account, ip, now=now, succeeded=False, locked_until=lock)
        store.record_sign_in_failure(session, tenant, user, ip=ip, reason=reason, locked_until=lock)
        # Never the username (it may be a mistyped password) nor the password.
        log.info(
            "web sign-in refused from %s: %s%s", ip or "?", reason, " (locked)" if lock else ""
        )

    def _forget_after(self) -> timedelta:
        return 4 * timedelta(seconds=max(self.web.lockout_window_s, self.web.lockout_s))

    def authenticate(self, token: str) -> SessionCaller:
        """The caller behind a session cookie (Unauthenticated when it is no longer good)."""
        cached = self._callers.get(token)
        if cached is not None:
            return cached
        since = principal_cache.generation()
        with transaction(self._sessions) as session:
            caller = store.authenticate_session(
                session, token, now=utcnow(), idle=timedelta(seconds=self.web.idle_timeout_s)
            )
        self._callers.put(token, caller, since, caller.expires_at)
        return caller

    def describe(self, caller: SessionCaller, token: str) -> SessionPublic:
        with transaction(self._sessions) as session:
            user = identity.get_user(session, caller.principal.tenant_id, caller.principal.user_id)
            return SessionPublic(
                user=me_of(user),
                tenant_name=store.tenant_name_of(session, user),
                csrf_token=self.csrf_token(token),
                expires_at=caller.expires_at,
            )

    def sign_out(self, session_id: str) -> None:
        with transaction(self._sessions) as session:
            store.revoke_session(session, session_id, now=utcnow())

    # --- passwords

    def change_password(
        self, principal: Principal, current: str, new: str, *, keep_session: str | None
    ) -> None:
        """The caller's new password, after their current one; their other sessions end."""
        with transaction(self._sessions) as session:
            now = utcnow()
            user = identity.get_user(session, principal.tenant_id, principal.user_id)
            if user.password_hash is None:
                raise Conflict("this account has no password yet: an admin sets the first one")
            account = self._account(store.tenant_name_of(session, user), user.name)
            outcome = self._check_current(session, account, user, current, now)
            if outcome is None:
                text = passwords.check_policy(new, user.name)
                store.set_password_hash(
                    session, user, passwords.hash_password(text), now=now, actor_id=user.id
                )
                store.revoke_user_sessions(session, user.id, now=now, keep=keep_session)
        if outcome is not None:
            raise outcome.error

    def _check_current(
        self, session: Session, account: str, user: User, current: str, now: datetime
    ) -> _Refusal | None:
        if refusal := self._throttled(session, account, "", now):
            return refusal
        if passwords.verify_password(user.password_hash, current):
            return None
        tenant = store.find_tenant(session, store.tenant_name_of(session, user))
        self._fail(session, account, "", now, tenant, user, "password")
        return _Refusal(PermissionDenied("the current password is wrong"))


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))
