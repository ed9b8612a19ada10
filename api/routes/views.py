"""Promise versus reality: the board, scorecards, follow-ups, claim file, timeline, search."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from api.deps import Fresh, PagingDep, ServicesDep, WhenDep, record_id
from api.errors import ApiProblem
from ledger.commands import Topic
from ledger.domain import PLURALS
from ledger.domain.vocab import (
    CLAIM_VERDICTS,
    COMMITMENT_KINDS,
    COMMITMENT_STATUSES,
    DEMAND_STATUSES,
    INCIDENT_REVIEW_STATUSES,
    INQUIRY_STATUSES,
)

router = APIRouter(prefix="/v1", tags=["views"])

ActorRef = Annotated[str | None, Query(max_length=200, description="an actor's id or slug")]
TopicQ = Annotated[Topic | None, Query(description="a topic slug")]
DayQ = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")]


def _actor(value: str | None) -> str | None:
    return None if value is None else str(record_id("actor", value))


def _page(page: Any) -> dict[str, Any]:
    return {"items": page.items, "next": page.next, **page.extra}


@router.get("/commitments", summary="The commitment board", tags=["commitments"])
async def board(
    services: ServicesDep,
    when: WhenDep,
    paging: PagingDep,
    actor: ActorRef = None,
    assignee: ActorRef = None,
    kind: Annotated[Literal[COMMITMENT_KINDS] | None, Query()] = None,  # type: ignore[valid-type]
    status: Annotated[Literal[COMMITMENT_STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    topic: TopicQ = None,
    overdue: Annotated[bool | None, Query()] = None,
    due_from: DayQ = None,
    due_to: DayQ = None,
    include_retracted: bool = False,
    counts: Annotated[bool, Query(description="also count the selection by status")] = False,
    _fresh: None = Fresh,
) -> dict[str, Any]:
    filters: dict[str, Any] = {
        "actor": _actor(actor),
        "assignee": _actor(assignee),
        "kind": kind,
        "status": status,
        "topic": topic,
        "overdue": overdue,
        "due_from": due_from,
        "due_to": due_to,
        "include_retracted": include_retracted,
    }
    page = await run_in_threadpool(
        lambda: services.views.board(when=when, limit=paging.limit, cursor=paging.cursor, **filters)
    )
    out: dict[str, Any] = {
        "items": page.items,
        "next": page.next,
        "at": when.day,
        "known_at": when.known,
    }
    if counts:
        out["counts"] = await run_in_threadpool(
            lambda: services.views.board_counts(when=when, **filters)
        )
    return out


_STATUSES = {
    "claim": CLAIM_VERDICTS,
    "demand": DEMAND_STATUSES,
    "incident": INCIDENT_REVIEW_STATUSES,
    "inquiry": INQUIRY_STATUSES,
}


def _list_route(kind: str) -> None:
    plural = PLURALS[kind]

    async def listing(
        services: ServicesDep,
        when: WhenDep,
        paging: PagingDep,
        party: ActorRef = None,
        subject: ActorRef = None,
        status: Annotated[str | None, Query(max_length=40)] = None,
        topic: TopicQ = None,
        include_retracted: bool = False,
        _fresh: None = Fresh,
    ) -> dict[str, Any]:
        allowed = _STATUSES.get(kind)
        if status is not None and (allowed is None or status not in allowed):
            raise ApiProblem(
                422,
                "invalid-input",
                "Invalid input",
                f"status of a {kind} is one of {', '.join(allowed or ())}",
                errors=[{"field": "status", "reason": "not a status of this record"}],
            )
        page = await run_in_threadpool(
            lambda: services.views.records(
                kind,
                when=when,
                party=_actor(party),
                subject=_actor(subject),
                status=status,
                topic=topic,
                include_retracted=include_retracted,
                limit=paging.limit,
                cursor=paging.cursor,
            )
        )
        return {"items": page.items, "next": page.next, "at": when.day, "known_at": when.known}

    listing.__doc__ = (
        f"{plural.capitalize()}, newest first. `party` is who made or asked it, `subject` "
        "whom it is addressed to; `status` is the status as of `at`."
    )
    router.add_api_route(
        f"/{plural}",
        listing,
        methods=["GET"],
        summary=f"List {plural}",
        tags=[plural],
        operation_id=f"list_{plural}",
    )


for _kind in ("actor", "source", "claim", "demand", "incident", "action", "inquiry"):
    _list_route(_kind)


@router.get("/actors/{id}/scorecard", summary="An actor's scorecard", tags=["actors"])
async def scorecard(
    services: ServicesDep,
    when: WhenDep,
    id: Annotated[str, Path(max_length=200)],
    _fresh: None = Fresh,
) -> dict[str, Any]:
    actor = record_id("actor", id)
    if await run_in_threadpool(services.ledger.kind_of, actor) != "actor":
        raise ApiProblem(404, "not-found", "Not found", f"no actor with id {actor}")
    return await run_in_threadpool(lambda: services.views.scorecard(str(actor), when=when))


@router.get("/follow-ups", summary="The reporters' follow-up queue")
async def follow_ups(
    services: ServicesDep, when: WhenDep, paging: PagingDep, _fresh: None = Fresh
) -> dict[str, Any]:
    page = await run_in_threadpool(
        lambda: services.views.follow_ups(when=when, limit=paging.limit, cursor=paging.cursor)
    )
    return {**_page(page), "at": when.day, "known_at": when.known}


@router.get(
    "/claims/{id}/file",
    summary="A claim's file: evidence for and against, verdict",
    tags=["claims"],
)
async def claim_file(
    services: ServicesDep,
    when: WhenDep,
    id: Annotated[str, Path(max_length=200)],
    _fresh: None = Fresh,
) -> dict[str, Any]:
    claim = str(record_id("claim", id))
    found = await run_in_threadpool(lambda: services.views.claim_file(claim, when=when))
    if found is None:
        raise ApiProblem(404, "not-found", "Not found", f"no claim {claim} as of then")
    return found


@router.get("/timeline", summary="Everything about a topic or an actor, in world order")
async def timeline(
    services: ServicesDep,
    when: WhenDep,
    paging: PagingDep,
    topic: TopicQ = None,
    actor: ActorRef = None,
    _fresh: None = Fresh,
) -> dict[str, Any]:
    if (topic is None) == (actor is None):
        raise ApiProblem(
            422,
            "invalid-input",
            "Invalid input",
            "give either topic or actor",
            errors=[{"field": "topic", "reason": "give either topic or actor"}],
        )
    page = await run_in_threadpool(
        lambda: services.views.timeline(
            when=when, topic=topic, actor=_actor(actor), limit=paging.limit, cursor=paging.cursor
        )
    )
    return _page(page)


@router.get("/search", summary="Full-text search over texts, quotes and summaries")
async def search(
    services: ServicesDep,
    when: WhenDep,
    paging: PagingDep,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$")],
    kind: Annotated[Literal[tuple(PLURALS)] | None, Query()] = None,  # type: ignore[valid-type]
    _fresh: None = Fresh,
) -> dict[str, Any]:
    page = await run_in_threadpool(
        lambda: services.views.search(
            q, when=when, kind=kind, limit=paging.limit, cursor=paging.cursor
        )
    )
    return _page(page)
