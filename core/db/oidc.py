"""Single sign-on in the database: users found by e-mail, and the provider accounts
(issuer and ``sub``) linked to them (``services.oidc`` decides; the caller owns the
transaction). Each change records its audit event here, in its transaction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.events import record_event
from core.db.models import OidcIdentity, User, utcnow
from core.db.web_sessions import trim

_MAX_SUBJECT_CHARS = 255
_MAX_ISSUER_CHARS = 500


def find_user_by_email(session: Session, tenant_id: str, email: str) -> User | None:
    """The tenant's user with this e-mail, compared without case (it is unique so)."""
    return session.scalar(
        select(User).where(User.tenant_id == tenant_id, func.lower(User.email) == email.lower())
    )


def user_named(session: Session, tenant_id: str, name: str) -> User | None:
    return session.scalar(select(User).where(User.tenant_id == tenant_id, User.name == name))


def identity_of_subject(
    session: Session, tenant_id: str, issuer: str, subject: str
) -> OidcIdentity | None:
    return session.scalar(
        select(OidcIdentity).where(
            OidcIdentity.tenant_id == tenant_id,
            OidcIdentity.issuer == issuer,
            OidcIdentity.subject == subject,
        )
    )


def identity_of_user(session: Session, user: User, issuer: str) -> OidcIdentity | None:
    return session.scalar(
        select(OidcIdentity).where(OidcIdentity.user_id == user.id, OidcIdentity.issuer == issuer)
    )


def link(session: Session, user: User, issuer: str, subject: str) -> OidcIdentity:
    """Record the provider account of ``user`` (first sign-in); ``user.oidc_link``."""
    if len(subject) > _MAX_SUBJECT_CHARS or len(issuer) > _MAX_ISSUER_CHARS:
        raise ValueError("issuer or subject too long")
    row = OidcIdentity(
        tenant_id=user.tenant_id,
        user_id=user.id,
        issuer=issuer,
        subject=subject,
        created_at=utcnow(),
        last_sign_in_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record_event(session, user.tenant_id, user.id, "user.oidc_link", "user", user.id, issuer=issuer)
    return row


def touch(row: OidcIdentity) -> None:
    row.last_sign_in_at = utcnow()


def record_refusal(
    session: Session, tenant_id: str, user: User | None, *, ip: str, reason: str
) -> None:
    """``auth.login_failed`` for a single sign-on the provider vouched for but we refused
    (unknown e-mail, disabled user, another ``sub``): never the e-mail itself."""
    record_event(
        session,
        tenant_id,
        None,
        "auth.login_failed",
        "user",
        user.id if user is not None else "",
        ip=trim(ip, 64),
        reason=reason,
        method="oidc",
        known_user=user is not None,
    )
