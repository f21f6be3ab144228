"""Liveness and readiness probes.

The one exception to "every route authenticates": orchestrators probe without credentials.
They reveal nothing but up/down per dependency.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import Health

router = APIRouter(prefix="/health", tags=["health"])


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/live", operation_id="health-live")
async def live() -> dict[str, str]:
    # On the event loop itself: it answers exactly when the loop is free to answer.
    return {"status": "ok"}


@router.get(
    "/ready",
    operation_id="health-ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is down"}},
)
def ready(health: Health) -> JSONResponse:
    checks = health.checks()
    ok = health.ready(checks)
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
