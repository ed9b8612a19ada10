"""A commitment's life in world time, computed from what the ledger knows of it.

Pure functions, no I/O. The board stores the result as bitemporal rows: each segment of
world time (`world_from` <= day < `world_to`) is valid for an interval of recording time
(`rec_from` <= recorded < `rec_to`). A new fact recorded at R closes, at R, only the segments
it changes and opens their replacements, so an event that arrives in world order adds two
rows, and every query "as of a world date, as known at a ledger time" is one range lookup.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger.domain.vocab import COMMITMENT_UNRESOLVED

FOREVER = "9999-12-31"


@dataclass(frozen=True)
class Segment:
    world_from: str
    world_to: str
    status: str
    status_since: str
    due_on: str | None
    due_precision: str | None
    due_text: str | None
    due_basis: str | None
    original_due_on: str | None
    kind: str
    made_by: str
    assignee: str | None
    made_on: str
    retracted: bool
    last_reason: str | None
    last_sources: tuple[str, ...]

    def key(self) -> tuple[Any, ...]:
        return (
            self.world_from,
            self.world_to,
            self.status,
            self.status_since,
            self.due_on,
            self.due_precision,
            self.due_text,
            self.due_basis,
            self.original_due_on,
            self.kind,
            self.made_by,
            self.assignee,
            self.made_on,
            self.retracted,
            self.last_reason,
            self.last_sources,
        )


def new_state(
    *, kind: str, made_by: str, assignee: str | None, made_on: str, due: dict[str, Any] | None
) -> dict[str, Any]:
    """What the board remembers of a commitment to recompute its timeline."""
    return {
        "kind": kind,
        "made_by": made_by,
        "assignee": assignee,
        "made_on": made_on,
        "due": due,
        "changes": [],
        "extensions": [],
        "retracted": False,
    }


def segments(state: dict[str, Any]) -> list[Segment]:
    """The commitment's states over world time, from its making on."""
    made_on: str = state["made_on"]
    due = state["due"] or {}
    facts: list[tuple[str, int, str, dict[str, Any]]] = [
        (max(c["on"], made_on), c["position"], "status", c) for c in state["changes"]
    ] + [(max(e["on"], made_on), e["position"], "due", e) for e in state["extensions"]]
    facts.sort(key=lambda f: (f[0], f[1]))

    status, since = "open", made_on
    due_on, due_precision = due.get("on"), due.get("precision")
    due_text, due_basis = due.get("text"), due.get("basis")
    original = due.get("on")
    reason: str | None = None
    sources: tuple[str, ...] = ()
    out: list[Segment] = []
    start = made_on

    def close(end: str) -> None:
        out.append(
            Segment(
                world_from=start,
                world_to=end,
                status=status,
                status_since=since,
                due_on=due_on,
                due_precision=due_precision,
                due_text=due_text,
                due_basis=due_basis,
                original_due_on=original,
                kind=state["kind"],
                made_by=state["made_by"],
                assignee=state["assignee"],
                made_on=made_on,
                retracted=state["retracted"],
                last_reason=reason,
                last_sources=sources,
            )
        )

    for on, _position, what, fact in facts:
        if on > start:
            close(on)
            start = on
        if what == "status":
            status, since = fact["status"], on
            reason, sources = fact.get("reason"), tuple(fact.get("sources", ()))
        else:
            due_on, due_precision = fact["due"]["on"], fact["due"].get("precision")
            due_text, due_basis = fact["due"].get("text"), fact["due"].get("basis")
            reason, sources = fact.get("reason"), tuple(fact.get("sources", ()))
    close(FOREVER)
    return out


def derived(segment: dict[str, Any], day: str) -> dict[str, Any]:
    """Overdue, days overdue and lateness of a board row on world date `day` (ISO)."""
    status = segment["status"]
    due_on = segment["due_on"]
    original = segment["original_due_on"]
    if status in COMMITMENT_UNRESOLVED:
        days = _days_between(due_on, day)
        return {
            "overdue": days is not None,
            "days_overdue": days,
            "days_overdue_original": _days_between(original, day),
            "fulfilled_late": None,
            "fulfilled_late_original": None,
        }
    fulfilled = status == "fulfilled"
    since = segment["status_since"]
    return {
        "overdue": False,
        "days_overdue": None,
        "days_overdue_original": None,
        "fulfilled_late": since > due_on if fulfilled and due_on is not None else None,
        "fulfilled_late_original": since > original if fulfilled and original is not None else None,
    }


def days_between(earlier: str, later: str) -> int:
    """Days from one ISO date to another (negative when `later` is the earlier one)."""
    return _ordinal(later) - _ordinal(earlier)


@functools.lru_cache(maxsize=16384)
def _ordinal(day: str) -> int:
    """An ISO date's day number. A page compares many due dates with one day, and due dates
    repeat: each date is parsed once."""
    return date.fromisoformat(day).toordinal()


def _days_between(due_on: str | None, day: str) -> int | None:
    """Days from a due date (ISO) to `day` when `day` is later, else None."""
    if due_on is None or due_on >= day:
        return None
    return days_between(due_on, day)
