"""Templates, and the filters that show the ledger's dates with their precision."""

from __future__ import annotations

from datetime import date
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


def world_date(value: Any, precision: str | None = "day") -> str:
    """2017-09-22 as the precision allows: "week of 2017-09-22", "April 2017", "2017"."""
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


def label(value: Any) -> str:
    return str(value or "").replace("_", " ")


TEMPLATES.env.filters["world_date"] = world_date
TEMPLATES.env.filters["label"] = label


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status)
