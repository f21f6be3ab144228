"""Request rates per API key and per tenant on chat, search and upload (``ZHIKU_RATE_LIMITS__*``).

These cap how often requests arrive (a token bucket: ``per_*_per_minute`` on average, up to
``burst_seconds`` of it at once); ``llm.answers`` (``AnswerLimits``) caps how many answers
generate at once. Both answer 429 with ``Retry-After``. The defaults are generous: they stop a
runaway script, not a busy team. A caller without a key (a web session) counts as its user.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class RouteRates(BaseModel):
    """One route family's budgets, in requests a minute."""

    per_key_per_minute: int = Field(ge=1)
    per_tenant_per_minute: int = Field(ge=1)
    # How much of a minute's budget may come at once (a bucket's depth), in seconds of it;
    # at least one request.
    burst_seconds: float = Field(default=10.0, gt=0)

    def burst(self, per_minute: int) -> int:
        return max(1, int(per_minute * self.burst_seconds / 60))


class RateLimitSettings(BaseModel):
    # Off: nothing counted (a benchmark that means to saturate the server, a trusted setup).
    enabled: bool = True
    # /v1/search: cheap per request, the one a script loops on.
    search: RouteRates = RouteRates(per_key_per_minute=3000, per_tenant_per_minute=12000)
    # /v1/chat and /v1/chat/completions: each may hold the model for a while.
    chat: RouteRates = RouteRates(per_key_per_minute=300, per_tenant_per_minute=1200)
    # POST /v1/documents and a new version: each request may carry many files.
    upload: RouteRates = RouteRates(
        per_key_per_minute=600, per_tenant_per_minute=2400, burst_seconds=30.0
    )
    # With Redis: how long a check waits on it (connecting, then answering) before this
    # process counts alone for a few seconds (``core.rate_buckets.REDIS_RETRY_S``).
    redis_timeout_s: float = Field(default=0.5, gt=0, le=10)
