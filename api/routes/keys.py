"""API keys over HTTP (admin scope). Key material is shown once, at creation."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import AdminCaller, ServicesDep
from ledger.admin import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scope: Literal["reader", "editor", "admin"] = "editor"


class KeyRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "revoked by an admin"


def _key_json(record: ApiKey) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "name": record.name,
        "scope": record.scope,
        "hint": record.hint,
        "principal": record.principal,
        "issued_at": record.created_on.isoformat(),
        "issued_by": record.issued_by,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "revoked_by": record.revoked_by,
    }


@router.post("", status_code=201, summary="Issue a key (shown once)")
async def create_key(services: ServicesDep, caller: AdminCaller, body: KeyCreate) -> JSONResponse:
    issued = await run_in_threadpool(
        lambda: services.admin.create_key(
            name=body.name, scope=body.scope, recorded_by=caller.principal
        )
    )
    return JSONResponse(
        {**_key_json(issued.record), "key": issued.key},
        status_code=201,
        headers={"Location": f"/v1/keys/{issued.record.id}"},
    )


@router.get("", summary="Every key, without its secret")
async def list_keys(services: ServicesDep, caller: AdminCaller) -> dict[str, Any]:
    keys = await run_in_threadpool(services.admin.list_keys)
    return {"items": [_key_json(k) for k in keys], "next": None}


@router.post("/{id}/revoke", summary="Revoke a key")
async def revoke_key(
    services: ServicesDep,
    caller: AdminCaller,
    id: Annotated[str, Path(max_length=100)],
    body: KeyRevoke | None = None,
) -> dict[str, Any]:
    reason = body.reason if body else "revoked by an admin"
    record = await run_in_threadpool(
        lambda: services.admin.revoke_key(id, reason=reason, recorded_by=caller.principal)
    )
    return _key_json(record)


@router.get("/audit", summary="The admin-only audit trail of keys")
async def audit(services: ServicesDep, caller: AdminCaller) -> dict[str, Any]:
    return {"items": await run_in_threadpool(services.admin.audit), "next": None}
