"""The reporters' follow-up queue as the site shows it: each item's date and the reason it is
there, written with the precision of the date it comes from (a deadline "by the end of next
week" is shown as the "week of 2017-09-22"; a call under review since "2017"). An item for a
deadline (a commitment's, an inquiry's follow-up date) is headed by that deadline; the others
by the date they have waited since."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.services import Services
from api.web.render import label, on_date, precision_on, world_date
from projections.queries import MAX_LIMIT, When
from projections.timeline_math import days_between

#: The field of each record kind that holds its own world date.
_MADE = {"inquiry": "asked_at", "incident": "occurred_at", "claim": "made_at"}


def shown(services: Services, when: When, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` of `Views.follow_ups`, each with `date_text` (the date heading it) and
    `reason_text` added."""
    views = services.views
    ids: dict[str, list[str]] = {}
    for item in items:
        ids.setdefault(item["record"]["kind"], []).append(item["id"])
    found: dict[str, dict[str, Any]] = {}
    commitments = ids.pop("commitment", [])
    if commitments:
        page = views.board(
            when=when, ids=commitments, include_retracted=True, limit=len(commitments)
        )
        found.update({c["id"]: c for c in page.items})
    for kind, of_kind in ids.items():
        for start in range(0, len(of_kind), MAX_LIMIT):
            chunk = of_kind[start : start + MAX_LIMIT]
            page = views.records(
                kind, when=when, ids=chunk, include_retracted=True, limit=MAX_LIMIT
            )
            found.update({r["id"]: r for r in page.items})
    return [_shown(services, when, item, found.get(item["id"])) for item in items]


def _shown(
    services: Services, when: When, item: dict[str, Any], record: dict[str, Any] | None
) -> dict[str, Any]:
    code = item["reason_code"]
    since = item["since"]
    if record is None:  # not readable as of then: the queue's own words
        return {**item, "date_text": world_date(since), "reason_text": item["reason"]}
    if code in ("deadline_passed", "deadline_upcoming") and record.get("due"):
        due = record["due"]
        precision = due.get("precision") or "day"
        on = world_date(due["on"], precision)
        said = f" (“{due['text']}”)" if due.get("text") else ""
        status = label(record["status"])
        if code == "deadline_passed":
            days = days_between(due["on"], when.day)
            reason = f"deadline {on}{said} passed unresolved; {status}, {_count(days)} overdue"
            return {**item, "date_text": on, "reason_text": reason}
        days = days_between(when.day, due["on"])
        reason = f"due {on}{said}, in {_count(days)}; {status}"
        return {**item, "date_text": on, "reason_text": reason}
    kind = item["record"]["kind"]
    own = record.get("precision") or "day"
    if code == "inquiry_overdue":
        asked = world_date(record.get("asked_at"), own)
        follow_up = world_date(record.get("follow_up_on"), own)
        reason = f"no answer since {asked}; follow-up was due {follow_up}"
        return {**item, "date_text": follow_up, "reason_text": reason}
    precision = _precision_on(services, kind, record, since)
    if code == "inquiry_declined":
        reason = f"declined to answer {on_date(since, precision)}; the refusal is itself news"
    elif code == "incident_under_review":
        reason = f"under review since {world_date(since, precision)} with no outcome"
    elif code == "claim_unassessed":
        reason = f"made {on_date(since, precision)} and not yet assessed"
    else:
        reason = item["reason"]
    return {**item, "date_text": world_date(since, precision), "reason_text": reason}


def _precision_on(services: Services, kind: str, record: dict[str, Any], day: str) -> str:
    """The precision of the record's date `day`: the record's own where it is its date, else
    that of the event in its history that happened on that day."""
    own = record.get("precision") or "day"
    if str(record.get(_MADE.get(kind, ""), ""))[:10] == day:
        return own
    return precision_on(services.ledger.history(kind, UUID(record["id"])), day, own)


def _count(days: int) -> str:
    return f"{days} day{'s' * (days != 1)}"
