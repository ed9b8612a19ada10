"""Builders for domain unit tests: valid records with overridable fields, and replay helpers.

Nothing here touches a store. Each builder returns a fresh record whose creation event is
still pending, so tests can inspect `pending_events` and replay them.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)

from ledger.domain import (
    Action,
    Actor,
    Claim,
    Commitment,
    Demand,
    DomainError,
    Incident,
    Inquiry,
    Record,
    Source,
)

#: The founding case happens in 2017; the ledger learns of it a little later.
T0 = datetime(2017, 9, 15, 18, 0, tzinfo=UTC)
EDITOR = "key:editor"
SYSTEM = "system:deadline-watcher"

MAYOR = str(uuid4())
CHIEF = str(uuid4())
COUNCIL = str(uuid4())
GROUP = str(uuid4())
REPORTER = str(uuid4())
SRC = str(uuid4())
SRC2 = str(uuid4())

DUE = {
    "on": "2017-09-22",
    "precision": "day",
    "text": "by the end of next week",
    "basis": "said Friday 2017-09-15; end of next week = Friday 2017-09-22",
}


class Clock:
    """Hands out strictly increasing, distinct `at` values for successive commands."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def actor(**kw: Any) -> Actor:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "name": "Greg Fischer",
        "kind": "person",
        "title": "Mayor of Louisville",
        "jurisdiction": "Louisville Metro",
        "aliases": ["Mayor Fischer"],
        "topics": ["lmpd-ice-cooperation"],
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Actor.register(**fields)


def source(**kw: Any) -> Source:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "url": "https://example.org/courier-journal/2017-09-15",
        "title": "Fischer orders review of LMPD cooperation with ICE",
        "publisher": "Courier Journal",
        "author": "A. Reporter",
        "published_at": "2017-09-15",
        "retrieved_at": "2017-09-16",
        "sha256": "0" * 64,
        "excerpts": ["I have asked the chief to report back by the end of next week."],
        "topics": ["lmpd-ice-cooperation"],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Source.register(**fields)


def commitment(**kw: Any) -> Commitment:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "kind": "directive",
        "made_by": MAYOR,
        "assignee": CHIEF,
        "text": "I have asked the chief to report back by the end of next week.",
        "summary": "Chief to report on ICE cooperation",
        "made_at": "2017-09-15",
        "precision": "day",
        "due": dict(DUE),
        "topics": ["lmpd-ice-cooperation"],
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Commitment.make(**fields)


def claim(**kw: Any) -> Claim:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "made_by": CHIEF,
        "text": "LMPD does not enforce immigration law.",
        "summary": "No immigration enforcement",
        "made_at": "2017-09-12",
        "precision": "day",
        "topics": ["lmpd-ice-cooperation"],
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Claim.make(**fields)


def demand(**kw: Any) -> Demand:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "demanded_by": GROUP,
        "addressed_to": MAYOR,
        "text": "End all LMPD cooperation with ICE.",
        "summary": "End cooperation",
        "made_at": "2017-09-10",
        "precision": "day",
        "action": None,
        "topics": ["lmpd-ice-cooperation"],
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Demand.make(**fields)


def incident(**kw: Any) -> Incident:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "occurred_at": "2017-02",
        "precision": "month",
        "place": "a house on the south side",
        "actors": [CHIEF],
        "description": "Officers knocked on a door alongside federal agents.",
        "topics": ["lmpd-ice-cooperation"],
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Incident.report(**fields)


def action(**kw: Any) -> Action:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "actor": COUNCIL,
        "kind": "vote",
        "occurred_at": "2017-09-28",
        "precision": "day",
        "summary": "Council votes on the ordinance",
        "details": "Second reading.",
        "tally": {"yes": 20, "no": 6},
        "topics": ["lmpd-ice-cooperation"],
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Action.record(**fields)


def inquiry(**kw: Any) -> Inquiry:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "asked_by": REPORTER,
        "asked_to": CHIEF,
        "question": "Which four calls are under review?",
        "asked_at": "2017-09-16",
        "precision": "day",
        "follow_up_after": 7,
        "topics": ["lmpd-ice-cooperation"],
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": T0,
    }
    fields.update(kw)
    return Inquiry.open(**fields)


def replay(record: Record) -> Any:
    """Rebuild a record from its (still pending) events, as a repository would."""
    events = list(record.pending_events)
    assert events, "nothing to replay: the record's events were already collected"
    rebuilt = events[0].mutate(None)
    return project_aggregate(rebuilt, events[1:])


def state(record: Record) -> dict[str, Any]:
    """The record's full state, without the bookkeeping list of pending events."""
    return {k: v for k, v in vars(record).items() if k != "_pending_events"}


def mapper() -> Mapper[UUID]:
    """The same JSON mapping an eventsourcing application uses by default."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


def path_to(target: str, moves: dict[str, frozenset[str]], start: str) -> list[str]:
    """The shortest list of allowed moves that leads from `start` to `target`."""
    queue: deque[list[str]] = deque([[start]])
    seen = {start}
    while queue:
        path = queue.popleft()
        if path[-1] == target:
            return path[1:]
        for nxt in sorted(moves[path[-1]]):
            if nxt not in seen:
                seen.add(nxt)
                queue.append([*path, nxt])
    raise AssertionError(f"{target} cannot be reached from {start}")


def all_pairs(statuses: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(a, b) for a in statuses for b in statuses]


class Script:
    """Supplies `at` and `recorded_by` for each command and remembers them, so a test can
    compare a record's events with what was given. Every step has its own principal."""

    def __init__(self, start: datetime = T0) -> None:
        self.clock = Clock(start)
        self.steps: list[tuple[datetime, str]] = []

    def __call__(self) -> dict[str, Any]:
        at = self.clock()
        by = f"key:editor-{len(self.steps)}"
        self.steps.append((at, by))
        return {"at": at, "recorded_by": by}


@contextmanager
def refused(
    record: Record, exc: type[DomainError], *, field: str | None = None, match: str | None = None
) -> Iterator[pytest.ExceptionInfo[DomainError]]:
    """Expect the block to raise `exc` (exactly that class) and leave `record` untouched."""
    version = record.version
    pending = len(record.pending_events)
    before = copy.deepcopy(state(record))
    with pytest.raises(exc, match=match) as info:
        yield info
    assert type(info.value) is exc
    if field is not None:
        assert info.value.field == field
    assert record.version == version
    assert len(record.pending_events) == pending
    assert state(record) == before
