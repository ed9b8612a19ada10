"""The eight records: create, read, change, correct, retract, redact, and their history.

Every write becomes a `Command` for the application service; the response is the record as
written, with `ETag`, `X-Ledger-Position` and, on create, `Location`.
"""
# FastAPI reads the body types of the generated handlers from their annotations at runtime.

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import Editor, Fresh, PagingDep, ServicesDep, WhenDep, record_id
from api.examples import EXAMPLES
from api.present import etag, parse_if_match, record_json
from api.services import Services
from ledger.commands import OPS, Command
from ledger.commands import Body as CommandBody
from ledger.domain import PLURALS
from ledger.errors import InvalidInput, NotFound
from projections.queries import decode_cursor, encode_cursor

router = APIRouter(prefix="/v1")

#: (kind, path suffix, op, summary) of every change that is not a create.
CHANGES: list[tuple[str, str, str, str]] = [
    ("actor", "titles", "actor.title", "Record a change of title"),
    ("commitment", "status", "commitment.status", "Change a commitment's status"),
    ("commitment", "deadline", "commitment.deadline", "Extend a commitment's deadline"),
    ("claim", "evidence", "claim.evidence", "Add evidence for or against a claim"),
    ("claim", "assessment", "claim.assessment", "Assess a claim"),
    ("demand", "responses", "demand.response", "Record a response to a demand"),
    ("incident", "review", "incident.review", "Record a review of an incident"),
    ("inquiry", "responses", "inquiry.response", "Record a response to an inquiry"),
]
for _kind in PLURALS:
    CHANGES += [
        (_kind, "corrections", f"{_kind}.correction", f"Correct a field of a {_kind}"),
        (_kind, "retraction", f"{_kind}.retraction", f"Retract a {_kind} recorded in error"),
        (_kind, "redaction", f"{_kind}.redaction", f"Withhold fields of a {_kind}"),
    ]


def _command(
    op: str, target: UUID | None, body: CommandBody, key: str | None, if_match: str | None
) -> Command:
    try:
        expected = parse_if_match(if_match)
    except ValueError as e:
        raise InvalidInput(str(e), field="If-Match") from None
    try:
        return Command(op=op, id=target, data=body, key=key, expected_version=expected)
    except ValidationError as e:
        # The headers, checked by the command's own rules (an empty key, a version 0).
        error = e.errors()[0]
        header = _HEADERS.get(str(error["loc"][0]), "body") if error["loc"] else "body"
        raise InvalidInput(f"{header}: {error['msg']}", field=header) from None


_HEADERS = {"key": "Idempotency-Key", "expected_version": "If-Match"}


async def _write(
    services: Services, request: Request, command: Command, principal: str, created: bool
) -> JSONResponse:
    written = await run_in_threadpool(services.ledger.execute, command, principal=principal)
    record = await run_in_threadpool(
        services.ledger.get_record, written.kind, written.id, version=written.version
    )
    headers = {
        "ETag": etag(written.version),
        "X-Ledger-Position": str(written.position),
    }
    if written.replayed:
        headers["Idempotent-Replayed"] = "true"
    if created:
        headers["Location"] = f"/v1/{PLURALS[written.kind]}/{written.id}"
    return JSONResponse(record_json(record), status_code=201 if created else 200, headers=headers)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="a retry with the same key returns the first response",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=40, description="the ETag you read; stale gives 412"),
]


def _create_route(kind: str) -> None:
    op = f"{kind}.create"
    model = OPS[op][0]
    plural = PLURALS[kind]

    async def create(
        request: Request,
        services: ServicesDep,
        caller: Editor,
        body: Annotated[model, Body(openapi_examples=EXAMPLES.get(op, {}))],  # type: ignore[valid-type]
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        command = _command(op, None, body, idempotency_key, None)
        return await _write(services, request, command, caller.principal, created=True)

    router.add_api_route(
        f"/{plural}",
        create,
        methods=["POST"],
        status_code=201,
        summary=f"Record a {kind}",
        tags=[plural],
        responses=_WRITE_RESPONSES,
        operation_id=f"create_{kind}",
    )


def _change_route(kind: str, suffix: str, op: str, summary: str) -> None:
    model = OPS[op][0]
    plural = PLURALS[kind]

    async def change(
        request: Request,
        services: ServicesDep,
        caller: Editor,
        body: Annotated[model, Body(openapi_examples=EXAMPLES.get(op, {}))],  # type: ignore[valid-type]
        id: Annotated[str, Path(description="a UUID or a slug", max_length=200)],
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> JSONResponse:
        command = _command(op, record_id(kind, id), body, idempotency_key, if_match)
        return await _write(services, request, command, caller.principal, created=False)

    router.add_api_route(
        f"/{plural}/{{id}}/{suffix}",
        change,
        methods=["POST"],
        summary=summary,
        tags=[plural],
        responses=_WRITE_RESPONSES,
        operation_id=f"{op.replace('.', '_')}",
    )


def _read_routes(kind: str) -> None:
    plural = PLURALS[kind]

    async def get_one(
        services: ServicesDep,
        when: WhenDep,
        id: Annotated[str, Path(description="a UUID or a slug", max_length=200)],
        _fresh: None = Fresh,
    ) -> JSONResponse:
        target = record_id(kind, id)
        version: int | None = None
        if when.known:
            version = await run_in_threadpool(_version_known_at, services, kind, target, when.known)
        record = await run_in_threadpool(services.ledger.get_record, kind, target, version=version)
        body = record_json(record)
        if kind == "commitment":
            page = await run_in_threadpool(
                services.views.board, when=when, ids=[str(target)], include_retracted=True
            )
            body["as_of"] = page.items[0] if page.items else None
        elif kind in ("claim", "demand", "incident", "inquiry"):
            page = await run_in_threadpool(
                services.views.records, kind, when=when, ids=[str(target)], include_retracted=True
            )
            body["as_of"] = page.items[0] if page.items else None
        if body.get("as_of") is not None:
            body["as_of"] = {"at": when.day, "known_at": when.known, **body["as_of"]}
        return JSONResponse(body, headers={"ETag": etag(record.version)})

    async def history(
        services: ServicesDep,
        id: Annotated[str, Path(description="a UUID or a slug", max_length=200)],
        paging: PagingDep,
        _fresh: None = Fresh,
    ) -> dict[str, Any]:
        target = record_id(kind, id)
        events = await run_in_threadpool(services.ledger.history, kind, target)
        after = decode_cursor(paging.cursor, int) if paging.cursor else 0
        rest = [e for e in events if e["version"] > after]
        page = rest[: paging.limit]
        more = len(rest) > paging.limit
        return {
            "items": await run_in_threadpool(services.ledger.masked, page),
            "next": encode_cursor(page[-1]["version"]) if more else None,
        }

    router.add_api_route(
        f"/{plural}/{{id}}",
        get_one,
        methods=["GET"],
        summary=f"Read a {kind} (as of `at`, as known at `known_at`)",
        tags=[plural],
        operation_id=f"get_{kind}",
        responses={404: {"description": "no such record"}},
    )
    router.add_api_route(
        f"/{plural}/{{id}}/history",
        history,
        methods=["GET"],
        summary=f"Every event of a {kind}, oldest first",
        tags=[plural],
        operation_id=f"history_{kind}",
    )


def _version_known_at(services: Services, kind: str, target: UUID, known: str) -> int:
    events = services.ledger.history(kind, target)
    versions = [e["version"] for e in events if _key(e["recorded_at"]) <= known]
    if not versions:
        raise NotFound(f"the ledger had no {kind} {target} at {known}")
    return int(max(versions))


def _key(recorded_at: str) -> str:
    from datetime import datetime

    from projections.records import recorded_key

    return recorded_key(datetime.fromisoformat(recorded_at))


_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no key, or an unknown key"},
    403: {"description": "a revoked key, or one without editor scope"},
    409: {"description": "a move the rules forbid, or a duplicate"},
    412: {"description": "If-Match is stale"},
    422: {"description": "invalid input, naming the field"},
    429: {"description": "too many writes; see Retry-After"},
}

for _kind in PLURALS:
    _create_route(_kind)
    _read_routes(_kind)
for _kind, _suffix, _op, _summary in CHANGES:
    _change_route(_kind, _suffix, _op, _summary)
