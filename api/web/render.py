"""Templates, and the filters that show the ledger's dates with their precision."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

_PREPOSITIONS = {"week": "in the", "month": "in", "year": "in"}


def world_date(value: Any, precision: str | None = "day") -> str:
    """2017-09-22 as the precision allows: "week of 2017-09-22", "April 2017", "2017".

    Every date of the world the site shows goes through here, with the precision recorded
    beside it; a date without one is a day."""
    if not value:
        return ""
    text = str(value)[:10]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return str(value)
    if precision == "year":
        return str(day.year)
    if precision == "month":
        return f"{_MONTHS[day.month - 1]} {day.year}"
    if precision == "week":
        return f"week of {text}"
    return text


def on_date(value: Any, precision: str | None = "day") -> str:
    """The date after a verb: "on 2017-09-22", "in the week of 2017-09-22", "in April 2017",
    "in 2017"."""
    shown = world_date(value, precision)
    if not shown:
        return ""
    return f"{_PREPOSITIONS.get(precision or 'day', 'on')} {shown}"


def precision_on(events: Iterable[dict[str, Any]], day: str, default: str = "day") -> str:
    """The precision of a record's date `day` (a status's "since", say): that of the latest of
    its events that happened on that day, else `default`."""
    found = default
    for event in events:
        if str(event.get("occurred_at") or "")[:10] == day:
            found = event.get("precision") or "day"
    return found


def recorded_time(value: Any) -> str:
    """When the ledger recorded something (its own clock, exact): 2017-09-23 18:00 UTC."""
    if not value:
        return ""
    text = str(value)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def label(value: Any) -> str:
    return str(value or "").replace("_", " ")


TEMPLATES.env.filters["world_date"] = world_date
TEMPLATES.env.filters["on_date"] = on_date
TEMPLATES.env.filters["recorded_time"] = recorded_time
TEMPLATES.env.filters["label"] = label


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status)
