"""Tamper evidence over HTTP: the signed checkpoint, the keys, inclusion and consistency
proofs (RFC 9162), so anyone can check that history was only ever appended to."""

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Editor, ServicesDep
from api.errors import ApiProblem

router = APIRouter(prefix="/v1/integrity", tags=["integrity"])
Size = Annotated[int, Query(ge=1, le=2**62)]


def _not_yet(detail: str) -> ApiProblem:
    return ApiProblem(404, "not-found", "Not found", detail)


@router.get(
    "/checkpoint",
    summary="The latest signed checkpoint (C2SP signed note)",
    response_class=PlainTextResponse,
)
async def checkpoint(services: ServicesDep) -> PlainTextResponse:
    latest = await run_in_threadpool(services.followers.integrity.latest_checkpoint)
    if latest is None:
        raise _not_yet("no checkpoint has been signed yet")
    return PlainTextResponse(latest["note"], headers={"X-Tree-Size": str(latest["size"])})


@router.post(
    "/checkpoint",
    summary="Sign a checkpoint of the tree as it stands now",
    response_class=PlainTextResponse,
)
async def sign_now(services: ServicesDep, caller: Editor) -> PlainTextResponse:
    try:
        note = await run_in_threadpool(services.followers.integrity.checkpoint_now)
    except ValueError as e:
        raise ApiProblem(409, "empty-log", "Nothing to sign", str(e)) from None
    return PlainTextResponse(note)


@router.get("/key", summary="The log's origin and its current Ed25519 verifier key")
async def key(services: ServicesDep) -> dict[str, Any]:
    signer = services.followers.signer
    return {
        "origin": signer.origin,
        "public_key": base64.b64encode(signer.public_key).decode(),
        "key_id": signer.key_id.hex(),
        "vkey": signer.vkey,
    }


@router.get("/keys", summary="Every key that has signed checkpoints, with its validity")
async def keys(services: ServicesDep) -> dict[str, Any]:
    rows = await run_in_threadpool(services.followers.integrity.keys)
    items = [
        {
            "key_id": r["key_id"],
            "origin": r["origin"],
            "public_key": base64.b64encode(bytes.fromhex(r["public_key"])).decode(),
            "vkey": r["vkey"],
            "valid_from": r["valid_from"],
            "valid_to": r["valid_to"],
        }
        for r in rows
    ]
    return {"items": items, "next": None}


@router.get("/proof/inclusion", summary="An inclusion proof of a leaf in a tree size")
async def inclusion(
    services: ServicesDep,
    leaf_index: Annotated[int, Query(ge=0, le=2**62)],
    size: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    integrity = services.followers.integrity
    if size is None:
        latest = await run_in_threadpool(integrity.latest_checkpoint)
        if latest is None:
            raise _not_yet("no checkpoint yet; give size")
        size = int(latest["size"])
    if leaf_index >= size:
        raise ApiProblem(
            422,
            "invalid-input",
            "Invalid input",
            f"leaf {leaf_index} is not in a tree of {size}",
            errors=[{"field": "leaf_index", "reason": "must be less than size"}],
        )
    try:
        return await run_in_threadpool(integrity.inclusion, leaf_index, size)
    except ValueError as e:
        raise _not_yet(str(e)) from None


@router.get("/proof/consistency", summary="A consistency proof between two tree sizes")
async def consistency(services: ServicesDep, first: Size, second: Size) -> dict[str, Any]:
    if first > second:
        raise ApiProblem(
            422,
            "invalid-input",
            "Invalid input",
            "first must not be greater than second",
            errors=[{"field": "first", "reason": "greater than second"}],
        )
    try:
        return await run_in_threadpool(services.followers.integrity.consistency, first, second)
    except ValueError as e:
        raise _not_yet(str(e)) from None
