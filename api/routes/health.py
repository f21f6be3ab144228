"""Liveness and readiness probes.

The one exception to "every route authenticates": orchestrators probe without credentials.
They reveal nothing but up/down per dependency.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep
from core.db.documents import count_by_status
from core.db.session import transaction

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", operation_id="health-live")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", operation_id="health-ready")
def ready(state: StateDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with transaction(state.services.sessions) as session:
            count_by_status(session, "-")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    if state.local is None:
        try:
            from workers.celery_app import app as celery

            with celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception:
            checks["broker"] = "unavailable"
    else:
        checks["ingestion"] = "in-process"
    if state.owns_store():
        if state.store_status == "starting" and state.local is None:
            state.warm_up()
        checks["vector_store"] = state.store_status
    ok = all(v in ("ok", "in-process") for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
