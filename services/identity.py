"""Who is calling: an API key resolved to its principal (user, groups, tenant)."""

from __future__ import annotations

from core.access import Principal
from core.db import identity
from core.db.session import SessionFactory, transaction
from core.errors import Unauthenticated


class IdentityService:
    def __init__(self, sessions: SessionFactory, pepper: str) -> None:
        self._sessions = sessions
        self._pepper = pepper

    def authenticate(self, api_key: str | None) -> Principal:
        if not api_key:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        with transaction(self._sessions) as session:
            return identity.authenticate(session, api_key, self._pepper)
