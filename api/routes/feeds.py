"""Feeds and exports: Atom per topic and actor, an iCalendar of deadlines, CSV and JSON lines
of the board and the log, and schema.org ClaimReview for assessed claims."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from icalendar import Calendar, Event
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep, WhenDep, record_id
from api.errors import ApiProblem
from api.routes.events import page_of_events
from api.services import Services
from ledger.commands import Topic
from projections.queries import MAX_LIMIT, When

router = APIRouter(prefix="/v1", tags=["feeds"])
ATOM = "http://www.w3.org/2005/Atom"


def _all(fetch: Any) -> list[dict[str, Any]]:
    """Every item of a paged query."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = fetch(cursor)
        items += page.items
        if not page.next:
            return items
        cursor = page.next


def _atom(services: Services, title: str, feed_id: str, entries: list[dict[str, Any]]) -> str:
    base = services.ledger.settings.public_url.rstrip("/")
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base}{feed_id}"
    ET.SubElement(feed, f"{{{ATOM}}}link", href=f"{base}{feed_id}", rel="self")
    updated = max((e["recorded_at"] for e in entries), default="1970-01-01T00:00:00.000000Z")
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated
    for e in reversed(entries[-100:]):
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        kind, rid = e["record"]["kind"], e["record"]["id"]
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"{base}/v1/events#{e['position']}"
        ET.SubElement(
            entry, f"{{{ATOM}}}title"
        ).text = f"{e['occurred_on']} {e['type']}: {e['summary'] or ''}"[:300]
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = e["recorded_at"]
        ET.SubElement(entry, f"{{{ATOM}}}link", href=f"{base}/v1/{_plural(kind)}/{rid}")
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = e["summary"] or ""
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        ET.SubElement(author, f"{{{ATOM}}}name").text = "accountability ledger"
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


def _plural(kind: str) -> str:
    from ledger.domain import PLURALS

    return PLURALS.get(kind, kind + "s")


@router.get(
    "/feeds/topics/{topic}.atom", summary="Atom feed of a topic's timeline", response_class=Response
)
async def topic_feed(
    services: ServicesDep, topic: Annotated[Topic, Path()], when: WhenDep
) -> Response:
    entries = await run_in_threadpool(
        _all, lambda c: services.views.timeline(when=when, topic=topic, limit=MAX_LIMIT, cursor=c)
    )
    body = _atom(services, f"Ledger: {topic}", f"/v1/feeds/topics/{topic}.atom", entries)
    return Response(body, media_type="application/atom+xml")


@router.get(
    "/feeds/actors/{id}.atom", summary="Atom feed of an actor's timeline", response_class=Response
)
async def actor_feed(
    services: ServicesDep, id: Annotated[str, Path(max_length=200)], when: WhenDep
) -> Response:
    actor = str(record_id("actor", id))
    entries = await run_in_threadpool(
        _all, lambda c: services.views.timeline(when=when, actor=actor, limit=MAX_LIMIT, cursor=c)
    )
    body = _atom(services, f"Ledger: actor {actor}", f"/v1/feeds/actors/{id}.atom", entries)
    return Response(body, media_type="application/atom+xml")


def _calendar(services: Services, items: list[dict[str, Any]], name: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//accountability ledger//deadlines//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    base = services.ledger.settings.public_url.rstrip("/")
    stamp = datetime.now(UTC)
    for item in items:
        due = item.get("due") or {}
        if not due.get("on"):
            continue
        day = date.fromisoformat(due["on"])
        event = Event()
        event.add("uid", f"{item['id']}-{due['on']}@ledger")
        event.add("dtstamp", stamp)
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        words = f" ({due['text']})" if due.get("text") else ""
        event.add("summary", f"Due{words}: {(item.get('summary') or item.get('text') or '')[:120]}")
        lines = [
            str(item.get("text") or ""),
            f"Status: {item['status']}" + (", overdue" if item.get("overdue") else ""),
            f"Due {due['on']}, precision {due.get('precision') or 'day'}",
        ]
        if due.get("basis"):
            lines.append(f"Basis: {due['basis']}")
        if item.get("original_due") and item["original_due"]["on"] != due["on"]:
            lines.append(f"Originally due {item['original_due']['on']}")
        event.add("description", "\n".join(lines))
        event.add("url", f"{base}/v1/commitments/{item['id']}")
        calendar.add_component(event)
    return bytes(calendar.to_ical())


@router.get(
    "/feeds/deadlines.ics", summary="iCalendar of commitment deadlines", response_class=Response
)
async def deadlines(
    services: ServicesDep,
    when: WhenDep,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    topic: Annotated[Topic | None, Query()] = None,
) -> Response:
    who = str(record_id("actor", actor)) if actor else None
    items = await run_in_threadpool(
        _all,
        lambda c: services.views.board(
            when=when, actor=who, topic=topic, limit=MAX_LIMIT, cursor=c
        ),
    )
    name = "Ledger deadlines" + (f": {topic}" if topic else "") + (f": {who}" if who else "")
    return Response(
        await run_in_threadpool(_calendar, services, items, name), media_type="text/calendar"
    )


_CSV_COLUMNS = (
    "id",
    "kind",
    "made_by",
    "assignee",
    "status",
    "status_since",
    "due_on",
    "due_text",
    "original_due_on",
    "overdue",
    "days_overdue",
    "fulfilled_late",
    "topics",
    "text",
    "version",
)


def _csv_row(item: dict[str, Any]) -> list[Any]:
    due = item.get("due") or {}
    return [
        item["id"],
        item["kind"],
        item["made_by"],
        item["assignee"],
        item["status"],
        item["status_since"],
        due.get("on"),
        due.get("text"),
        (item.get("original_due") or {}).get("on"),
        item["overdue"],
        item["days_overdue"],
        item["fulfilled_late"],
        " ".join(item["topics"]),
        item["text"],
        item["version"],
    ]


@router.get("/exports/commitments.csv", summary="The board as CSV", response_class=Response)
async def board_csv(services: ServicesDep, when: WhenDep) -> Response:
    items = await run_in_threadpool(
        _all, lambda c: services.views.board(when=when, limit=MAX_LIMIT, cursor=c)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    for item in items:
        writer.writerow(_csv_row(item))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get(
    "/exports/commitments.jsonl", summary="The board as JSON lines", response_class=Response
)
async def board_jsonl(services: ServicesDep, when: WhenDep) -> Response:
    items = await run_in_threadpool(
        _all, lambda c: services.views.board(when=when, limit=MAX_LIMIT, cursor=c)
    )
    body = "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items)
    return Response(body, media_type="application/x-ndjson")


@router.get(
    "/exports/events.jsonl",
    summary="The whole public log as JSON lines",
    response_class=StreamingResponse,
)
async def events_jsonl(services: ServicesDep) -> StreamingResponse:
    async def lines() -> Any:
        after = 0
        while True:
            batch = await run_in_threadpool(page_of_events, services, after, 500)
            if not batch:
                return
            for event in batch:
                yield json.dumps(event, ensure_ascii=False) + "\n"
            after = batch[-1]["position"]

    return StreamingResponse(lines(), media_type="application/x-ndjson")


_RATINGS = {
    "accurate": 5,
    "mostly_accurate": 4,
    "misleading": 2,
    "inaccurate": 1,
    "unsupported": 3,
    "disputed": 3,
}


class JSONLDResponse(JSONResponse):
    media_type = "application/ld+json"


@router.get(
    "/claims/{id}/claimreview",
    summary="schema.org ClaimReview (JSON-LD)",
    tags=["claims"],
    response_class=JSONLDResponse,
)
async def claim_review(
    services: ServicesDep, id: Annotated[str, Path(max_length=200)]
) -> JSONResponse:
    claim_id = str(record_id("claim", id))
    when: When = services.views.when()
    found = await run_in_threadpool(lambda: services.views.claim_file(claim_id, when=when))
    if found is None:
        raise ApiProblem(404, "not-found", "Not found", f"no claim {claim_id}")
    if not found.get("assessment"):
        raise ApiProblem(
            409, "not-assessed", "Not assessed", "this claim has no assessment to review yet"
        )
    base = services.ledger.settings.public_url.rstrip("/")
    assessment = found["assessment"]
    body = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": f"{base}/v1/claims/{claim_id}",
        "claimReviewed": found.get("text"),
        "datePublished": assessment["on"],
        "author": {"@type": "Organization", "name": "accountability ledger"},
        "itemReviewed": {
            "@type": "Claim",
            "datePublished": (found.get("made_at") or "")[:10],
            "author": {"@type": "Thing", "identifier": found.get("made_by")},
        },
        "reviewRating": {
            "@type": "Rating",
            "ratingValue": _RATINGS.get(found["verdict"], 3),
            "bestRating": 5,
            "worstRating": 1,
            "alternateName": found["verdict"].replace("_", " "),
        },
        "reviewBody": assessment.get("rationale"),
    }
    return JSONLDResponse(body)
