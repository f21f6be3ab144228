"""Request dependencies as ``Annotated`` aliases: the caller, and each application service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.limits import PRINCIPAL_STATE_KEY
from core.access import Principal
from core.errors import PermissionDenied
from services.admin import AdminService
from services.answers import AnswerService
from services.audit import AuditService
from services.catalog import Services
from services.conversations import ConversationService
from services.documents import DocumentService
from services.health import HealthService
from services.identity import IdentityService
from services.search import SearchService
from services.sign_in import SignInService
from services.sources import SourceService


class Runtime(Protocol):
    """What the app holds for its lifetime: built once at start-up by the composition root
    (``zhiku.container``), started before the first request, closed after the last."""

    services: Services

    def start(self) -> None: ...

    async def aclose(self) -> None: ...


def services_of(request: Request) -> Services:
    return request.app.state.runtime.services


# The dependencies below do no blocking work, so they are ``async``: FastAPI runs a plain
# ``def`` dependency on a worker thread, a hop (and a GIL hand-over) per dependency per
# request, which a loaded server pays on every search.
async def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer zk_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_principal(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    # ``api.limits.RequestGuard`` authenticated the key before the body was read: reuse its
    # answer. The schemes above stay as parameters so that OpenAPI documents them.
    principal = getattr(request.state, PRINCIPAL_STATE_KEY, None)
    if isinstance(principal, Principal):
        return principal
    key = bearer.credentials if bearer is not None else header_key
    # A database call: on a worker thread, never on the event loop.
    return await anyio.to_thread.run_sync(services.identity.authenticate, key)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def _service(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency that hands a route one service of the running app by its name."""

    async def service(request: Request) -> Any:
        return getattr(services_of(request), name)

    return service


Documents = Annotated[DocumentService, Depends(_service("documents"))]
Search = Annotated[SearchService, Depends(_service("search"))]
Answers = Annotated[AnswerService, Depends(_service("answers"))]
Conversations = Annotated[ConversationService, Depends(_service("conversations"))]
Audit = Annotated[AuditService, Depends(_service("audit"))]
Health = Annotated[HealthService, Depends(_service("health"))]
Sources = Annotated[SourceService, Depends(_service("sources"))]


# --- roles and the identity services (docs/security.md)


async def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("only a tenant admin may do this")
    return principal


async def require_audit_reader(principal: CurrentPrincipal) -> Principal:
    if not (principal.is_admin or principal.is_auditor):
        raise PermissionDenied("only a tenant's admins and auditors read its audit trail")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]
AuditReader = Annotated[Principal, Depends(require_audit_reader)]
Admin = Annotated[AdminService, Depends(_service("admin"))]
Identity = Annotated[IdentityService, Depends(_service("identity"))]
SignIn = Annotated[SignInService, Depends(_service("sign_in"))]
