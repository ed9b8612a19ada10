"""Public pages: home, the board, commitments, actors, claims, follow-ups, topics, search,
the event log and integrity. Every page takes `at` and `known_at`, like the API."""

from dataclasses import dataclass
from datetime import date, datetime
from threading import Lock
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep, record_id
from api.errors import ApiProblem
from api.present import record_json
from api.routes.events import page_of_events
from api.services import Services
from api.web import queue
from api.web.render import page, precision_on
from ledger.domain import PLURALS
from ledger.domain.vocab import COMMITMENT_KINDS, COMMITMENT_STATUSES
from ledger.errors import NotFound
from projections.queries import MAX_LIMIT, Page, Views, When
from projections.records import recorded_key

router = APIRouter(include_in_schema=False)


def _when(services: Services, at: str | None, known_at: str | None) -> When:
    day = date.fromisoformat(at) if at else None
    known = datetime.fromisoformat(known_at) if known_at else None
    return services.views.when(day, known)


@dataclass(frozen=True)
class _Names:
    """Every actor's name by id, and the `<option>`s of an actor filter in name order."""

    by_id: dict[str, str]
    option_html: str

    def options(self, selected: str | None = None) -> Markup:
        """The options with `selected` (an actor id) marked."""
        html = self.option_html
        if selected in self.by_id:
            mark = f'<option value="{escape(selected)}">'
            html = html.replace(mark, mark[:-1] + " selected>", 1)
        return Markup(html)


#: Names per view store, keyed by the records view's position and `known_at`: a page reads
#: them from the view once per change of the log, not once per request.
_NAMES: WeakKeyDictionary[Views, dict[tuple[int, str | None], _Names]] = WeakKeyDictionary()
_NAMES_KEPT = 8


_NAMES_LOCK = Lock()


def _names(services: Services, when: When) -> _Names:
    views = services.views
    key = (views.positions()["records"], when.known)
    with _NAMES_LOCK:
        found = _NAMES.setdefault(views, {}).get(key)
    if found is not None:
        return found
    by_id: dict[str, str] = {}
    cursor = None
    while True:
        page = views.records(
            "actor", when=When("9999-12-30", when.known), limit=MAX_LIMIT, cursor=cursor
        )
        by_id.update({a["id"]: a.get("name") or a["id"] for a in page.items})
        if not page.next:
            break
        cursor = page.next
    choices = sorted(by_id.items(), key=lambda pair: (pair[1], pair[0]))
    options = "".join(f'<option value="{escape(i)}">{escape(n)}</option>' for i, n in choices)
    found = _Names(by_id, options)
    with _NAMES_LOCK:
        cached = _NAMES.setdefault(views, {})
        while len(cached) >= _NAMES_KEPT:
            cached.pop(next(iter(cached)))
        cached[key] = found
    return found


async def _common(
    request: Request, services: Services, when: When, at: str | None, known_at: str | None
) -> dict[str, Any]:
    keep = {k: v for k, v in (("at", at), ("known_at", known_at)) if v}
    names = await run_in_threadpool(_names, services, when)
    return {
        "when": when,
        "at": at,
        "known_at": known_at,
        "travel": bool(keep),
        "keep": urlencode(keep),
        "path": request.url.path,
        "names": names.by_id,
        "actor_options": names.options,
        "editor": request.cookies.get("ledger_session") is not None,
    }


At = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]
KnownAt = Annotated[str | None, Query(max_length=40)]


def _valid(services: Services, at: str | None, known_at: str | None) -> When:
    try:
        return _when(services, at, known_at)
    except ValueError:
        raise ApiProblem(
            422, "invalid-input", "Invalid input", "at is YYYY-MM-DD and known_at an ISO datetime"
        ) from None


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, services: ServicesDep, at: At = None, known_at: KnownAt = None
) -> HTMLResponse:
    when = _valid(services, at, known_at)

    def load() -> dict[str, Any]:
        views = services.views
        return {
            "counts": views.board_counts(when=when),
            "overdue": views.board(when=when, overdue=True, limit=10).items,
            "upcoming": views.board(
                when=when, overdue=False, due_from=when.day, due_to=_plus(when.day, 14), limit=10
            ).items,
            "latest": list(
                reversed(page_of_events(services, max(0, services.ledger.last_position() - 10), 10))
            ),
        }

    data = await run_in_threadpool(load)
    return page(
        request, "home.html", **await _common(request, services, when, at, known_at), **data
    )


def _plus(day: str, days: int) -> str:
    from datetime import timedelta

    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


@router.get("/commitments", response_class=HTMLResponse)
async def board(
    request: Request,
    services: ServicesDep,
    at: At = None,
    known_at: KnownAt = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    topic: Annotated[str | None, Query(max_length=80, pattern=r"^[a-z0-9-]*$")] = None,
    overdue: Annotated[str | None, Query(pattern="^(|yes|no)$")] = None,
    sort: Annotated[str, Query(pattern="^(due|status|made)$")] = "due",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    when = _valid(services, at, known_at)
    filters: dict[str, Any] = {
        "status": status if status in COMMITMENT_STATUSES else None,
        "kind": kind if kind in COMMITMENT_KINDS else None,
        "actor": str(record_id("actor", actor)) if actor else None,
        "topic": topic or None,
        "overdue": {"yes": True, "no": False}.get(overdue or ""),
    }

    def load() -> tuple[Page, dict[str, Any]]:
        views = services.views
        return (
            views.board(when=when, limit=50, cursor=cursor, **filters),
            views.board_counts(when=when, **filters),
        )

    result, counts = await run_in_threadpool(load)
    items = list(result.items)
    if sort == "status":
        items.sort(key=lambda i: (i["status"], i["due"]["on"] if i["due"] else "9"))
    elif sort == "made":
        items.sort(key=lambda i: i["made_at"] or "", reverse=True)
    params = {
        k: v
        for k, v in (
            ("at", at),
            ("known_at", known_at),
            ("status", status),
            ("kind", kind),
            ("actor", actor),
            ("topic", topic),
            ("overdue", overdue),
            ("sort", sort),
        )
        if v
    }
    return page(
        request,
        "board.html",
        **await _common(request, services, when, at, known_at),
        items=items,
        counts=counts,
        next=result.next,
        params=params,
        next_query=urlencode({**params, "cursor": result.next}) if result.next else None,
        statuses=COMMITMENT_STATUSES,
        kinds=COMMITMENT_KINDS,
        selected={
            "status": status,
            "kind": kind,
            "actor": filters["actor"],
            "topic": topic,
            "overdue": overdue,
            "sort": sort,
        },
    )


@router.get("/commitments/{id}", response_class=HTMLResponse)
async def commitment(
    request: Request, services: ServicesDep, id: str, at: At = None, known_at: KnownAt = None
) -> HTMLResponse:
    when = _valid(services, at, known_at)
    target = record_id("commitment", id)

    def load() -> dict[str, Any]:
        record = record_json(services.ledger.get_record("commitment", target))
        board = services.views.board(when=when, ids=[str(target)], include_retracted=True)
        history = services.ledger.masked(services.ledger.history("commitment", target))
        leaves = services.followers.integrity.leaves([e["position"] for e in history])
        for event in history:
            event["leaf"] = leaves.get(event["position"])
        # An action that fulfils, partly fulfils or breaks the commitment changed its status
        # and is named by that change: the history says which actions to read.
        linked = sorted({e["data"]["action"] for e in history if e["data"].get("action")})
        related_actions = [
            a
            for a in (
                services.views.records("action", when=when, ids=linked, limit=MAX_LIMIT).items
                if linked
                else []
            )
            if str(target)
            in (a.get("fulfils") or [])
            + (a.get("breaks") or [])
            + (a.get("partially_fulfils") or [])
        ]
        demands = _demands_answered(services, record, when)
        sources = _sources(services, record, history)
        as_of = board.items[0] if board.items else None
        if as_of is not None:
            made = [{"occurred_at": record.get("made_at"), "precision": record.get("precision")}]
            as_of["status_precision"] = precision_on(made + history, as_of["status_since"])
        return {
            "record": record,
            "as_of": as_of,
            "history": history,
            "actions": related_actions,
            "demands": demands,
            "sources": sources,
        }

    try:
        data = await run_in_threadpool(load)
    except NotFound:
        raise ApiProblem(404, "not-found", "Not found", f"no commitment {id}") from None
    return page(
        request, "commitment.html", **await _common(request, services, when, at, known_at), **data
    )


def _demands_answered(
    services: Services, record: dict[str, Any], when: When
) -> list[dict[str, Any]]:
    """The demands a response of which names this commitment, as of `when`, each with that
    response as `answer`. The views keep no link from a commitment to such responses, so the
    candidates are the demands addressed to the commitment's maker or assignee, each read
    whole for its responses."""
    out = []
    for actor in dict.fromkeys(a for a in (record.get("made_by"), record.get("assignee")) if a):
        cursor = None
        while True:
            found = services.views.records(
                "demand", when=when, subject=actor, limit=MAX_LIMIT, cursor=cursor
            )
            for demand in found.items:
                full = record_json(services.ledger.get_record("demand", UUID(demand["id"])))
                answers = [
                    r
                    for r in full.get("responses") or []
                    if r.get("commitment") == record["id"] and _as_of(r, when)
                ]
                if answers:
                    out.append({**demand, "answer": answers[-1]})
            if not found.next:
                break
            cursor = found.next
    return out


def _as_of(entry: dict[str, Any], when: When) -> bool:
    """Whether a record's status entry had happened by the world day, as known then."""
    if str(entry.get("occurred_at") or "")[:10] > when.day:
        return False
    recorded = entry.get("recorded_at")
    return when.known is None or (
        recorded is not None and recorded_key(datetime.fromisoformat(recorded)) <= when.known
    )


def _sources(
    services: Services, record: dict[str, Any], history: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    ids = set(record.get("sources") or [])
    for event in history:
        ids.update(event["data"].get("sources") or [])
    out = {}
    for source in ids:
        try:
            out[source] = record_json(
                services.ledger.get_record("source", record_id("source", source))
            )
        except NotFound:
            continue
    return out


@router.get("/actors/{id}", response_class=HTMLResponse)
async def actor(
    request: Request, services: ServicesDep, id: str, at: At = None, known_at: KnownAt = None
) -> HTMLResponse:
    when = _valid(services, at, known_at)
    target = record_id("actor", id)

    def load() -> dict[str, Any]:
        record = record_json(services.ledger.get_record("actor", target))
        card = services.views.scorecard(str(target), when=when)
        timeline = services.views.timeline(when=when, actor=str(target), limit=200).items
        return {"record": record, "card": card, "timeline": timeline, "chart": _chart(card)}

    try:
        data = await run_in_threadpool(load)
    except NotFound:
        raise ApiProblem(404, "not-found", "Not found", f"no actor {id}") from None
    return page(
        request, "actor.html", **await _common(request, services, when, at, known_at), **data
    )


def _chart(card: dict[str, Any]) -> list[dict[str, Any]]:
    made = card["commitments"]
    bars = [
        ("kept", made["kept"] - made["kept_late"], "#1a7f37"),
        ("late", made["kept_late"], "#9a6700"),
        ("broken", made["broken"] + made["reversed"], "#cf222e"),
        ("open", made["open"] - made["overdue"], "#0969da"),
        ("overdue", made["overdue"], "#8250df"),
    ]
    top = max([b[1] for b in bars] + [1])
    return [{"label": n, "value": v, "color": c, "width": round(300 * v / top)} for n, v, c in bars]


@router.get("/claims/{id}", response_class=HTMLResponse)
async def claim(
    request: Request, services: ServicesDep, id: str, at: At = None, known_at: KnownAt = None
) -> HTMLResponse:
    when = _valid(services, at, known_at)
    target = str(record_id("claim", id))
    found = await run_in_threadpool(lambda: services.views.claim_file(target, when=when))
    if found is None:
        raise ApiProblem(404, "not-found", "Not found", f"no claim {id}")
    return page(
        request, "claim.html", **await _common(request, services, when, at, known_at), claim=found
    )


@router.get("/follow-ups", response_class=HTMLResponse)
async def follow_ups(
    request: Request,
    services: ServicesDep,
    at: At = None,
    known_at: KnownAt = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    when = _valid(services, at, known_at)

    def load() -> tuple[list[dict[str, Any]], str | None]:
        result = services.views.follow_ups(when=when, limit=100, cursor=cursor)
        return queue.shown(services, when, result.items), result.next

    items, following = await run_in_threadpool(load)
    return page(
        request,
        "follow_ups.html",
        **await _common(request, services, when, at, known_at),
        items=items,
        next=following,
    )


@router.get("/topics/{topic}", response_class=HTMLResponse)
async def topic(
    request: Request, services: ServicesDep, topic: str, at: At = None, known_at: KnownAt = None
) -> HTMLResponse:
    when = _valid(services, at, known_at)
    entries = await run_in_threadpool(
        lambda: services.views.timeline(when=when, topic=topic, limit=MAX_LIMIT).items
    )
    return page(
        request,
        "timeline.html",
        **await _common(request, services, when, at, known_at),
        topic=topic,
        entries=entries,
    )


@router.get("/search", response_class=HTMLResponse)
async def search(
    request: Request,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=200)] = "",
    at: At = None,
    known_at: KnownAt = None,
) -> HTMLResponse:
    when = _valid(services, at, known_at)
    hits = await run_in_threadpool(
        lambda: services.views.search(q, when=when, limit=50).items if q.strip() else []
    )
    return page(
        request,
        "search.html",
        **await _common(request, services, when, at, known_at),
        q=q,
        hits=hits,
        plurals=PLURALS,
    )


@router.get("/events", response_class=HTMLResponse)
async def events(
    request: Request, services: ServicesDep, after: Annotated[int, Query(ge=0, le=2**62)] = 0
) -> HTMLResponse:
    when = services.views.when()
    items = await run_in_threadpool(page_of_events, services, after, 100)
    return page(
        request,
        "events.html",
        **await _common(request, services, when, None, None),
        items=items,
        after=after,
        following=items[-1]["position"] if len(items) == 100 else None,
        plurals=PLURALS,
    )


@router.get("/integrity", response_class=HTMLResponse)
async def integrity(
    request: Request,
    services: ServicesDep,
    leaf: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> HTMLResponse:
    when = services.views.when()
    checkpoint = await run_in_threadpool(services.followers.integrity.latest_checkpoint)
    proof = None
    if leaf is not None and checkpoint and leaf < int(checkpoint["size"]):
        proof = await run_in_threadpool(
            services.followers.integrity.inclusion, leaf, int(checkpoint["size"])
        )
    return page(
        request,
        "integrity.html",
        **await _common(request, services, when, None, None),
        checkpoint=checkpoint,
        vkey=services.followers.signer.vkey,
        proof=proof,
        origin=services.followers.signer.origin,
    )
