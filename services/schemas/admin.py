"""Users, groups and API keys as administrators and their owners see them.

Every string and list a client sends is bounded; names refuse control characters (NUL
included), which no name needs and which break logs and terminals. A key's hash never
reaches a response; its plaintext appears once, in ``KeyIssued``.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from core.origins import MAX_ORIGIN_CHARS, normal_origin

MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 320
# Ten years: a key meant to live longer should not expire at all (and be rotated).
MAX_KEY_DAYS = 3650
# A rotated key may keep working this long, for clients to switch over.
MAX_GRACE_SECONDS = 7 * 24 * 3600


def _printable(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value):
        raise ValueError("must not contain control or format characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_CHARS),
    AfterValidator(_printable),
]
KeyLabel = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MAX_NAME_CHARS),
    AfterValidator(_printable),
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=MAX_EMAIL_CHARS, pattern=r"^[^@\s]+@[^@\s]+$"
    ),
    AfterValidator(_printable),
]


class _Strict(BaseModel):
    # An unknown field is a client's mistake (a misspelt "is_admin" must not pass silently).
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Strict):
    name: Name
    email: Email | None = None
    is_admin: bool = False


class EmailUpdate(_Strict):
    """A user's e-mail (single sign-on finds people by it); null removes it."""

    email: Email | None


class RolesUpdate(_Strict):
    is_admin: bool
    is_auditor: bool


class UserPublic(BaseModel):
    id: str
    name: str
    email: str | None
    is_admin: bool
    is_auditor: bool
    disabled: bool
    disabled_at: datetime | None
    group_ids: list[str]
    created_at: datetime


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int
    offset: int
    limit: int


class MePublic(BaseModel):
    """The caller, as the server sees them."""

    id: str
    tenant_id: str
    name: str
    is_admin: bool
    is_auditor: bool
    group_ids: list[str]


class GroupCreate(_Strict):
    name: Name


class GroupPublic(BaseModel):
    id: str
    name: str
    member_count: int
    created_at: datetime


class GroupsPublic(BaseModel):
    data: list[GroupPublic]
    count: int
    offset: int
    limit: int


# What a key may call (``api.scopes``): everything its user may, only the chat, or only uploads.
KeyScope = Literal["full", "chat", "upload"]
# Browser origins one key may be used from (the widget on a few sites).
MAX_KEY_ORIGINS = 20


def _origin(value: str) -> str:
    return normal_origin(value)


def _distinct_origins(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Origin = Annotated[str, StringConstraints(max_length=MAX_ORIGIN_CHARS), AfterValidator(_origin)]


class KeyCreate(_Strict):
    name: KeyLabel = ""
    # None: the key does not expire.
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_KEY_DAYS)
    scope: KeyScope = Field(
        default="full",
        description="full: all its user may do; chat: ask and read its answers only (the "
        "widget); upload: add documents and read their status only",
    )
    allowed_origins: Annotated[
        list[Origin], Field(max_length=MAX_KEY_ORIGINS), AfterValidator(_distinct_origins)
    ] = Field(
        default_factory=list,
        description="Browser origins (scheme://host[:port]) the key may be used from; a "
        "request with another Origin is refused. Empty: any (no cross-origin reads)",
    )


class KeyRotate(_Strict):
    # 0: the old key is refused at once; otherwise it keeps working this many seconds.
    grace_seconds: int = Field(default=0, ge=0, le=MAX_GRACE_SECONDS)


class KeyPublic(BaseModel):
    """A key's metadata: never its secret nor its hash."""

    id: str
    user_id: str
    name: str
    # The public part, as it appears in the key (``zk_<prefix>_...``): tells keys apart.
    prefix: str
    # The user who issued it: ``user_id`` themself, or an admin for them; None: the
    # operator (command line, or the first admin's key made at first start).
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    # Neither revoked nor expired.
    active: bool
    scope: KeyScope
    allowed_origins: list[str]


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int


class KeyIssued(BaseModel):
    """A new key: ``key`` is shown this once and is not stored anywhere."""

    id: str
    name: str
    key: str
    expires_at: datetime | None
    scope: KeyScope = "full"
    allowed_origins: list[str] = Field(default_factory=list)


# A password field is bounded past the policy's 256 characters, so that a long password is
# told the policy (400), not a bare 422; the policy is ``services.passwords.check_policy``.
MAX_PASSWORD_FIELD_CHARS = 1024
MAX_SEARCH_CHARS = MAX_NAME_CHARS


class PasswordReset(_Strict):
    """An admin's new password for a member: ``password`` as given, or, left out, a random
    one generated by the server and returned once."""

    password: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_FIELD_CHARS)] | None
    ) = None


class PasswordIssued(BaseModel):
    """The outcome of a reset: ``password`` only when the server generated it (its one
    copy); ``sessions_ended``: the user's browser sessions that were signed out."""

    user_id: str
    generated: bool
    password: str | None
    sessions_ended: int


class TenantPublic(BaseModel):
    """The admin's organisation, read-only: its name, id and how much it holds."""

    id: str
    name: str
    created_at: datetime
    users: int
    groups: int
    documents: int
