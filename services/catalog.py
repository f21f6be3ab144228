"""The application's services, as the composition root hands them to the API."""

from __future__ import annotations

from dataclasses import dataclass

from services.admin import AdminService
from services.answers import AnswerService
from services.audit import AuditService
from services.conversations import ConversationService
from services.documents import DocumentService
from services.health import HealthService
from services.identity import IdentityService
from services.oidc import OidcService
from services.rate_limits import RateLimiter
from services.search import SearchService
from services.sign_in import SignInService
from services.sources import SourceService


@dataclass(frozen=True)
class Services:
    identity: IdentityService
    documents: DocumentService
    search: SearchService
    answers: AnswerService
    conversations: ConversationService
    audit: AuditService
    admin: AdminService
    health: HealthService
    sign_in: SignInService
    sources: SourceService
    # Single sign-on (OpenID Connect); None unless ``oidc.issuer`` is set.
    oidc: OidcService | None = None
    # Request rates per caller and tenant (services.rate_limits); None: not counted.
    rate_limits: RateLimiter | None = None
