"""Webhook subscriptions and their deliveries (admin scope). Subscription changes are
audited in the admin-only log, never in the public one."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from api.deps import AdminCaller, ServicesDep
from api.errors import ApiProblem
from ledger.webhooks import WebhookSubscription

router = APIRouter(prefix="/v1", tags=["webhooks"])
Url = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://\S+$")]
Pattern = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z_.*]+$")]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url
    types: Annotated[list[Pattern], Field(min_length=1, max_length=50)] = ["*"]
    actors: Annotated[list[UUID], Field(max_length=100)] = []
    topics: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]], Field(max_length=100)
    ] = []
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool = True


class WebhookChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    types: Annotated[list[Pattern], Field(min_length=1, max_length=50)] | None = None
    actors: Annotated[list[UUID], Field(max_length=100)] | None = None
    topics: (
        Annotated[list[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]], Field(max_length=100)]
        | None
    ) = None
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool | None = None


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since_position: Annotated[int, Field(ge=0, le=2**62)] | None = None
    since: Annotated[str, Field(max_length=40)] | None = None

    @model_validator(mode="after")
    def _one(self) -> "Replay":
        if (self.since_position is None) == (self.since is None):
            raise ValueError("give since_position or since")
        return self


Id = Annotated[UUID, Path()]


def _sub(services: Any, subscription_id: UUID) -> WebhookSubscription:
    record: WebhookSubscription = services.admin.subscription(subscription_id)
    return record


@router.post("/webhooks", status_code=201, summary="Subscribe (the secret is shown once)")
async def create(services: ServicesDep, caller: AdminCaller, body: WebhookCreate) -> JSONResponse:
    head = await run_in_threadpool(services.ledger.last_position)
    record = await run_in_threadpool(
        lambda: services.admin.create_subscription(
            url=body.url,
            types=list(body.types),
            actors=[str(a) for a in body.actors],
            topics=list(body.topics),
            description=body.description,
            enabled=body.enabled,
            from_position=head,
            recorded_by=caller.principal,
        )
    )
    return JSONResponse(
        {**record.public(), "secret": record.secret},
        status_code=201,
        headers={"Location": f"/v1/webhooks/{record.id}"},
    )


@router.get("/webhooks", summary="Every subscription")
async def listing(services: ServicesDep, caller: AdminCaller) -> dict[str, Any]:
    subs = await run_in_threadpool(services.admin.subscriptions)
    return {"items": [s.public() for s in subs], "next": None}


@router.get("/webhooks/{id}", summary="A subscription")
async def get_one(services: ServicesDep, caller: AdminCaller, id: Id) -> dict[str, Any]:
    return (await run_in_threadpool(_sub, services, id)).public()


@router.patch("/webhooks/{id}", summary="Change a subscription")
async def change(
    services: ServicesDep, caller: AdminCaller, id: Id, body: WebhookChange
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, mode="json")
    changes = {k: v for k, v in changes.items() if v is not None}
    record = await run_in_threadpool(
        lambda: services.admin.change_subscription(id, recorded_by=caller.principal, **changes)
    )
    return record.public()


@router.delete("/webhooks/{id}", status_code=204, summary="Delete a subscription")
async def delete(services: ServicesDep, caller: AdminCaller, id: Id) -> Response:
    await run_in_threadpool(
        lambda: services.admin.delete_subscription(id, recorded_by=caller.principal)
    )
    return Response(status_code=204)


@router.get("/webhooks/{id}/deliveries", summary="Deliveries and their attempts")
async def deliveries(
    services: ServicesDep,
    caller: AdminCaller,
    id: Id,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|failed|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> dict[str, Any]:
    await run_in_threadpool(_sub, services, id)
    items, following = await run_in_threadpool(
        lambda: services.followers.outbox.deliveries(
            str(id), status=status, limit=limit, cursor=cursor
        )
    )
    return {"items": items, "next": str(following) if following is not None else None}


@router.post("/webhooks/{id}/ping", status_code=202, summary="Send a test event")
async def ping(services: ServicesDep, caller: AdminCaller, id: Id) -> dict[str, Any]:
    record = await run_in_threadpool(_sub, services, id)
    return {"delivery": await run_in_threadpool(services.followers.outbox.ping, record)}


@router.post("/webhooks/{id}/rotate-secret", summary="New secret; the old one signs 24 h more")
async def rotate(services: ServicesDep, caller: AdminCaller, id: Id) -> dict[str, Any]:
    record = await run_in_threadpool(
        lambda: services.admin.rotate_secret(id, recorded_by=caller.principal)
    )
    return {
        **record.public(),
        "secret": record.secret,
        "previous_valid_until": record.previous_until,
    }


@router.post("/webhooks/{id}/replay", status_code=202, summary="Deliver again since a point")
async def replay(
    services: ServicesDep, caller: AdminCaller, id: Id, body: Replay
) -> dict[str, Any]:
    record = await run_in_threadpool(_sub, services, id)
    since = body.since_position
    if since is None:
        since = await run_in_threadpool(_position_at, services, body.since or "")
    queued = await run_in_threadpool(
        lambda: services.followers.outbox.replay(record, since_position=since)
    )
    return {"queued": queued, "since_position": since}


def _position_at(services: Any, since: str) -> int:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise ApiProblem(
            422,
            "invalid-input",
            "Invalid input",
            "since is an ISO datetime",
            errors=[{"field": "since", "reason": "not an ISO datetime"}],
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    after = 0
    while True:
        page = services.ledger.log_events(after=after, limit=500)
        for event in page:
            if datetime.fromisoformat(event["recorded_at"]) >= moment:
                return int(event["position"]) - 1
        if not page:
            return after
        after = page[-1]["position"]


@router.post("/deliveries/{id}/redeliver", status_code=202, summary="Deliver one again")
async def redeliver(services: ServicesDep, caller: AdminCaller, id: Id) -> dict[str, Any]:
    row = await run_in_threadpool(services.followers.outbox.redeliver, str(id))
    if row is None:
        raise ApiProblem(404, "not-found", "Not found", f"no delivery {id}")
    return {"delivery": str(id), "status": "pending"}
