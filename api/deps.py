"""Request dependencies: the services, who is calling, the two clocks, paging, waiting."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from api.errors import ApiProblem
from api.services import Services
from ledger.commands import slug_id
from projections.queries import MAX_LIMIT, When


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Caller:
    principal: str
    scope: str
    key_id: str


class RateLimiter:
    """A token bucket per key: `rate` writes a second, `burst` at once."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int) -> float:
        """Take one token; returns 0, or the seconds to wait before a token is free."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate if rate > 0 else 60.0


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def caller(scope: str) -> object:
    """A dependency: the key's caller, if the key is valid, active and has `scope`."""

    async def check(
        request: Request,
        services: ServicesDep,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Caller:
        if not authorization:
            raise _unauthorized("this request needs an API key: Authorization: Bearer KEY")
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must be 'Bearer KEY'")
        record = await run_in_threadpool(services.admin.authenticate, token.strip())
        if record is None:
            raise _unauthorized("unknown API key")
        if not record.active:
            raise ApiProblem(403, "key-revoked", "Forbidden", "this API key was revoked")
        if not record.allows(scope):
            raise ApiProblem(
                403, "insufficient-scope", "Forbidden", f"this needs a key with {scope} scope"
            )
        limiter: RateLimiter = request.app.state.rate_limiter
        wait = limiter.take(str(record.id), services.api.write_rate, services.api.write_burst)
        if wait:
            raise ApiProblem(
                429,
                "rate-limited",
                "Too many requests",
                "this key is writing too fast",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return Caller(record.principal, record.scope, str(record.id))

    return Depends(check)


Editor = Annotated[Caller, caller("editor")]
AdminCaller = Annotated[Caller, caller("admin")]


async def wait_for_position(
    services: ServicesDep,
    min_position: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="wait until the views include this log position"),
    ] = None,
) -> None:
    if min_position is None:
        return
    ok = await run_in_threadpool(services.views.wait, min_position, services.api.wait_seconds)
    if not ok:
        raise ApiProblem(
            503,
            "views-behind",
            "Views are catching up",
            f"the views have not yet reached position {min_position}",
            headers={"Retry-After": "1"},
        )


Fresh = Depends(wait_for_position)


async def when(
    services: ServicesDep,
    at: Annotated[
        date | None, Query(description="the world as of the end of this date (YYYY-MM-DD)")
    ] = None,
    known_at: Annotated[
        datetime | None,
        Query(description="only what the ledger had recorded by then (ISO datetime, UTC default)"),
    ] = None,
) -> When:
    return services.views.when(at, known_at)


WhenDep = Annotated[When, Depends(when)]


@dataclass(frozen=True)
class Paging:
    limit: int
    cursor: str | None


async def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="from `next`")] = None,
) -> Paging:
    return Paging(limit, cursor)


PagingDep = Annotated[Paging, Depends(paging)]


_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}$")


def record_id(kind: str, value: str) -> UUID:
    """A path id: a UUID, or the name part of a slug (`warren-recommendations` under
    `/v1/commitments/` is `commitment/warren-recommendations`)."""
    try:
        return UUID(value)
    except ValueError:
        pass
    if _NAME.match(value):
        return slug_id(f"{kind}/{value}")
    raise ApiProblem(
        404, "not-found", "Not found", f"{value!r} is not a record id (a UUID or a slug)"
    )
