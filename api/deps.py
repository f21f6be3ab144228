"""Request dependencies as ``Annotated`` aliases: the state, a database session, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.state import AppState
from core.access import Principal
from core.db import identity
from core.db.session import transaction
from core.errors import Unauthenticated


def get_state(request: Request) -> AppState:
    return request.app.state.zhiku


StateDep = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer zk_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_principal(
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    key = bearer.credentials if bearer is not None else header_key
    if not key:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    with transaction(state.services.sessions) as session:
        return identity.authenticate(session, key, state.settings.secret_key)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
