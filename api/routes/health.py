"""Liveness and readiness probes.

The one exception to "every route authenticates": orchestrators probe without credentials.
They reveal nothing but up/down per dependency.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from core.db.session import ping
from workers.dispatch import CeleryDispatcher

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", operation_id="health-live")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", operation_id="health-ready")
def ready(state: StateDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        ping(state.services.sessions)
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    if isinstance(state.dispatcher, CeleryDispatcher):
        try:
            state.dispatcher.ping()
            checks["broker"] = "ok"
        except Exception:
            checks["broker"] = "unavailable"
    else:
        checks["ingestion"] = "in-process"
    if state.owns_store():
        if state.store_status == "starting" and state.local is None:
            state.warm_up()
        checks["vector_store"] = state.store_status
    if state.models is not None:
        # The answer model: "ok", "starting" (the embedded one loads for a few seconds after
        # start-up), "not configured" (answers switched off on purpose) or "unavailable: …".
        checks["answer_model"] = state.models.status.split(":")[0]
    ok = all(v in ("ok", "in-process", "not configured") for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
