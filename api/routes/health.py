"""Liveness and readiness."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.services import Services

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _readiness(services: Services) -> tuple[bool, dict[str, Any]]:
    try:
        head = services.ledger.last_position()
        lag = services.followers.lag()
    except Exception as e:  # the store is unreachable: not ready, and say why
        return False, {"status": "unavailable", "store": f"unreachable: {type(e).__name__}"}
    bound = services.api.ready_max_lag
    behind = {name: n for name, n in lag.items() if n > bound}
    body = {
        "status": "ready" if not behind else "lagging",
        "store": "ok",
        "position": head,
        "lag": lag,
        "max_lag": bound,
    }
    return not behind, body


@router.get("/readyz", summary="The store answers and the views are not far behind")
async def readyz(services: ServicesDep) -> JSONResponse:
    ok, body = await run_in_threadpool(_readiness, services)
    return JSONResponse(
        body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "5"}
    )
