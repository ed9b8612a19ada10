"""The timeline follower: everything about a topic or an actor in world order, with sources,
and full-text search over texts, quotes and summaries (SQLite FTS5, PostgreSQL tsvector).

Retracted records leave both (as of when the ledger learned of the retraction); redacted
fields are taken out of entries and of the search index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger.app import EVENT_TYPES, subject_id
from ledger.clock import local_date
from projections.db import PostgresView, Sql, SQLiteView, in_lists
from projections.records import REDACTED, dumps, recorded_key

_TABLES = [
    "CREATE TABLE IF NOT EXISTS t_records (record_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "recorded_at TEXT NOT NULL, keys TEXT NOT NULL, parts TEXT NOT NULL, title TEXT, "
    "retracted_at TEXT)",
    "CREATE TABLE IF NOT EXISTS t_entries (position BIGINT PRIMARY KEY, world_on TEXT NOT NULL, "
    "precision TEXT, recorded_at TEXT NOT NULL, record_id TEXT NOT NULL, kind TEXT NOT NULL, "
    "type TEXT NOT NULL, summary TEXT, sources TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS t_entries_record ON t_entries (record_id)",
    "CREATE TABLE IF NOT EXISTS t_keys (key TEXT NOT NULL, world_on TEXT NOT NULL, "
    "position BIGINT NOT NULL, PRIMARY KEY (key, world_on, position))",
]
TIMELINE_TABLES = ("t_records", "t_entries", "t_keys", "t_search")


#: 2: a demand's response that names a commitment is the demand's entry, not the commitment's.
_VERSION = 2


class SQLiteTimelineView(SQLiteView):
    VERSION: ClassVar = _VERSION
    TABLES: ClassVar = _TABLES
    SQLITE_TABLES: ClassVar = [
        "CREATE VIRTUAL TABLE IF NOT EXISTS t_search USING fts5("
        "record_id UNINDEXED, kind UNINDEXED, part UNINDEXED, body, "
        "tokenize='porter unicode61')"
    ]


class PostgresTimelineView(PostgresView):
    VERSION: ClassVar = _VERSION
    TABLES: ClassVar = _TABLES
    POSTGRES_TABLES: ClassVar = [
        "CREATE TABLE IF NOT EXISTS t_search (record_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "part TEXT NOT NULL, body TEXT NOT NULL, tsv tsvector GENERATED ALWAYS AS "
        "(to_tsvector('english', body)) STORED, PRIMARY KEY (record_id, part))",
        "CREATE INDEX IF NOT EXISTS t_search_tsv ON t_search USING GIN (tsv)",
    ]


_BASE = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "recorded_by"}
)
_WORLD = ("occurred_at", "made_at", "asked_at", "published_at", "valid_from")
_ACTOR_FIELDS = (
    "made_by",
    "assignee",
    "demanded_by",
    "addressed_to",
    "asked_by",
    "asked_to",
    "actor",
)
#: Fields whose text is searchable, in the order they make a record's title.
_TEXT_FIELDS = (
    "name",
    "summary",
    "text",
    "question",
    "description",
    "title",
    "place",
    "details",
    "aliases",
    "excerpts",
    "url",
)
_CREATED = ("registered", "made", "reported", "recorded", "opened")
_TITLE_FIELDS = ("name", "summary", "text", "question", "description", "title", "url")


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _title(parts: dict[str, str]) -> str | None:
    for name in _TITLE_FIELDS:
        if parts.get(name):
            return parts[name][:300]
    return None


#: What an event's timeline entry says, by what happened (the part of its type after the
#: dot); other events show the record's title.
_SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "status_changed": lambda d: f"status: {d.get('status')}; {d.get('reason') or ''}",
    "responded": lambda d: f"response: {d.get('status')}; {d.get('note') or d.get('text') or ''}",
    "reviewed": lambda d: f"review: {d.get('status')}; {d.get('note') or ''}",
    "assessed": lambda d: f"assessed {d.get('verdict')}: {d.get('rationale') or ''}",
    "evidence_added": lambda d: f"evidence ({d.get('stance')}): {d.get('note') or ''}",
    "deadline_extended": lambda d: (
        f"deadline moved to {(d.get('due') or {}).get('on')}: {d.get('reason') or ''}"
    ),
    "title_changed": lambda d: f"title: {d.get('title')}",
    "corrected": lambda d: f"corrected {d.get('field')}: {d.get('reason') or ''}",
    "retracted": lambda d: f"retracted: {d.get('reason') or ''}",
    "redacted": lambda d: f"redacted {', '.join(d.get('fields', []))}: {d.get('reason') or ''}",
    "deadline_passed": lambda d: (
        f"deadline {d.get('due_on')} passed unresolved ({d.get('status')})"
    ),
    "overdue": lambda d: f"no answer by {d.get('follow_up_on')} ({d.get('status')})",
}


def _summary(wire: str, data: dict[str, Any], title: str | None) -> str:
    said = _SUMMARIES.get(wire.split(".", 1)[1])
    return (said(data) if said else title or "").strip().rstrip(";").strip()


class TimelineProjection(Projection[Any]):
    name = "timeline"

    def __init__(self, view: Any, timezone: str = "UTC") -> None:
        super().__init__(view)
        self.timezone = timezone

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([(domain_event, tracking.notification_id)], tracking, after=None)

    def process_batch(
        self, events: Sequence[tuple[Any, ...]], tracking: Tracking, *, after: int | None
    ) -> None:
        with self.view.batch(tracking, after) as sql:
            records: dict[str, dict[str, Any]] = {}
            dirty_search: set[str] = set()
            # Records first seen in this batch have no search row yet: nothing to replace.
            fresh: set[str] = set()
            entries: list[tuple[Any, ...]] = []
            keys: list[tuple[Any, ...]] = []
            # What happened to a record (reasons, notes, answers) is searchable on its own row.
            notes: list[tuple[Any, ...]] = []
            self._prefetch(sql, records, events)
            for event, position, *_ in events:
                wire = EVENT_TYPES.get(type(event))
                if wire is None:
                    continue
                data = {k: v for k, v in vars(event).items() if k not in _BASE}
                subject = subject_id(event)
                record = records.get(subject)
                recorded = recorded_key(event.timestamp)
                if record is None:
                    record = self._new_record(wire, subject, data, recorded)
                    records[subject] = record
                    dirty_search.add(subject)
                    fresh.add(subject)
                self._apply(record, wire, data, position, recorded, dirty_search)
                note = " ".join(
                    _text(data.get(f))
                    for f in ("reason", "note", "rationale", "text")
                    if data.get(f)
                )
                if note and wire.split(".", 1)[1] not in _CREATED:
                    notes.append((subject, record["kind"], f"e{position}", note))
                world = next((data[f] for f in _WORLD if data.get(f)), None)
                on = (world or "")[:10] or local_date(event.timestamp, self.timezone).isoformat()
                if wire == "actor.title_changed" and record["parts"].get("title") == REDACTED:
                    data = {**data, "title": REDACTED}
                summary = _summary(wire, data, record["title"])
                entries.append(
                    (
                        position,
                        on,
                        data.get("precision", "day") if world else "day",
                        recorded,
                        subject,
                        record["kind"],
                        wire,
                        summary,
                        dumps(list(data.get("sources") or [])),
                    )
                )
                keys.extend((key, on, position) for key in record["keys"])
            # Entries first: a retitle below must reach this batch's creation entries too.
            sql.many("INSERT INTO t_entries VALUES (?,?,?,?,?,?,?,?,?)", entries)
            sql.many(
                "INSERT INTO t_records VALUES (?,?,?,?,?,?,?) ON CONFLICT (record_id) "
                "DO UPDATE SET keys=excluded.keys, parts=excluded.parts, "
                "title=excluded.title, retracted_at=excluded.retracted_at",
                [
                    (
                        record["record_id"],
                        record["kind"],
                        record["recorded_at"],
                        dumps(record["keys"]),
                        dumps(record["parts"]),
                        record["title"],
                        record["retracted_at"],
                    )
                    for record in records.values()
                ],
            )
            for record in records.values():
                if record.pop("retitle", False):
                    # The record's first entry shows its title: keep it corrected and redacted.
                    created = [f"{record['kind']}.{w}" for w in _CREATED]
                    sql.run(
                        "UPDATE t_entries SET summary = ? WHERE record_id = ? "
                        "AND type IN (?,?,?,?,?)",
                        [record["title"], record["record_id"], *created],
                    )
                    if record["kind"] == "actor" and record["parts"].get("title") == REDACTED:
                        # Earlier title changes show the title too: withhold it there as well.
                        sql.run(
                            "UPDATE t_entries SET summary = ? WHERE record_id = ? AND type = ?",
                            [f"title: {REDACTED}", record["record_id"], "actor.title_changed"],
                        )
            sql.many("INSERT INTO t_keys VALUES (?,?,?) ON CONFLICT DO NOTHING", keys)
            rows = []
            for record_id in dirty_search:
                record = records[record_id]
                if record_id not in fresh:
                    sql.run(
                        "DELETE FROM t_search WHERE record_id = ? AND part = ?",
                        [record_id, "main"],
                    )
                body = " ".join(v for v in record["parts"].values() if v and v != REDACTED)
                rows.append((record_id, record["kind"], "main", body))
            sql.many(
                "INSERT INTO t_search (record_id, kind, part, body) VALUES (?,?,?,?)", rows + notes
            )

    @staticmethod
    def _prefetch(
        sql: Sql, records: dict[str, dict[str, Any]], events: Sequence[tuple[Any, ...]]
    ) -> None:
        """The stored rows of the records a batch's events are about, a few hundred per
        statement rather than one statement (a round trip on PostgreSQL) each."""
        wanted = list(dict.fromkeys(subject_id(event) for event, *_ in events))
        for chunk, marks in in_lists(wanted):
            for row in sql.rows(f"SELECT * FROM t_records WHERE record_id IN ({marks})", chunk):
                row["keys"] = json.loads(row["keys"])
                row["parts"] = json.loads(row["parts"])
                records[row["record_id"]] = row

    @staticmethod
    def _new_record(
        wire: str, record_id: str, data: dict[str, Any], recorded: str
    ) -> dict[str, Any]:
        kind = wire.split(".", 1)[0]
        keys = [f"topic:{t}" for t in data.get("topics", [])]
        actors = [data[f] for f in _ACTOR_FIELDS if data.get(f)] + list(data.get("actors", []))
        if kind == "actor":
            actors.append(record_id)
        keys += [f"actor:{a}" for a in dict.fromkeys(actors)]
        parts = {f: _text(data.get(f)) for f in _TEXT_FIELDS if data.get(f)}
        return {
            "record_id": record_id,
            "kind": kind,
            "recorded_at": recorded,
            "keys": keys,
            "parts": parts,
            "title": _title(parts),
            "retracted_at": None,
        }

    @staticmethod
    def _apply(
        record: dict[str, Any],
        wire: str,
        data: dict[str, Any],
        position: int,
        recorded: str,
        dirty: set[str],
    ) -> None:
        what = wire.split(".", 1)[1]
        record_id = record["record_id"]
        if what == "corrected" and data["field"] in _TEXT_FIELDS:
            if record["parts"].get(data["field"]) == REDACTED:
                return  # a redacted field stays withheld, as in the records follower
            record["parts"][data["field"]] = _text(data["new"])
            record["title"] = _title(record["parts"])
            record["retitle"] = True
            dirty.add(record_id)
        elif what == "corrected" and data["field"] in (*_ACTOR_FIELDS, "actors", "topics"):
            if data["field"] == "topics":
                record["keys"] = [k for k in record["keys"] if not k.startswith("topic:")] + [
                    f"topic:{t}" for t in data["new"]
                ]
            else:
                values = data["new"] if isinstance(data["new"], list) else [data["new"]]
                record["keys"] += [f"actor:{a}" for a in values if a]
                record["keys"] = list(dict.fromkeys(record["keys"]))
        elif what == "retracted":
            record["retracted_at"] = record.get("retracted_at") or recorded
        elif what == "redacted":
            for field in data["fields"]:
                record["parts"].pop(field, None)
                record["parts"][field] = REDACTED
            record["title"] = _title(record["parts"])
            record["retitle"] = True
            dirty.add(record_id)
        elif what == "title_changed" and record["parts"].get("title") != REDACTED:
            record["parts"]["title"] = _text(data.get("title"))
            dirty.add(record_id)
