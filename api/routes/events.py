"""The global log: pages of events, and a Server-Sent Events stream that resumes."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.services import Services

router = APIRouter(prefix="/v1", tags=["events"])


def page_of_events(services: Services, after: int, limit: int) -> list[dict[str, Any]]:
    """Events as the public sees them, each with its Merkle leaf once the tree has it."""
    items = services.ledger.masked(services.ledger.log_events(after=after, limit=limit))
    leaves = services.followers.integrity.leaves([e["position"] for e in items])
    for item in items:
        leaf = leaves.get(item["position"])
        item["leaf_index"], item["leaf_hash"] = leaf if leaf else (None, None)
    return items


@router.get("/events", summary="The whole log, in order")
async def events(
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="the last position you have")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    items = await run_in_threadpool(page_of_events, services, after, limit)
    following = items[-1]["position"] if len(items) == limit else None
    return {"items": items, "next": str(following) if following is not None else None}


@router.get(
    "/events/stream",
    summary="Server-Sent Events: id is the position, event the type, data the event",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    services: ServicesDep,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=30)] = None,
) -> StreamingResponse:
    start = after or 0
    if last_event_id and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())

    async def generate() -> AsyncIterator[str]:
        position = start
        idle = 0.0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            batch = await run_in_threadpool(page_of_events, services, position, 200)
            for event in batch:
                position = event["position"]
                data = json.dumps(event, ensure_ascii=False)
                yield f"id: {position}\nevent: {event['type']}\ndata: {data}\n\n"
            if batch:
                idle = 0.0
                continue
            await asyncio.sleep(0.5)
            idle += 0.5
            if idle >= 15:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(
        generate(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
