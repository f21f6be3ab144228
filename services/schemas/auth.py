"""Web sign-in as the API shows it: the sign-in request, the session, a password change.

Passwords are bounded but never stripped or echoed; the policy itself (length, not the
username) is ``services.passwords.check_policy``, which answers 400 with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from services.schemas.admin import MAX_NAME_CHARS, MePublic, Name
from services.schemas.bounds import reject_control_characters

# Longer than the policy's 256, so that a long password is told the policy, not a 422.
MAX_PASSWORD_FIELD_CHARS = 1024

Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_FIELD_CHARS)]
Organisation = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MAX_NAME_CHARS),
    AfterValidator(reject_control_characters),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInRequest(_Strict):
    # The organisation (tenant) by name; empty or absent: the installation's default.
    tenant: Organisation | None = None
    username: Name
    password: Password


class SessionPublic(BaseModel):
    """Who the browser session belongs to, and the token its changing requests must send
    in ``X-CSRF-Token``."""

    user: MePublic
    # The organisation's name, for the page to show.
    tenant_name: str
    csrf_token: str
    expires_at: datetime


class PasswordChange(_Strict):
    current_password: Password
    new_password: Password
