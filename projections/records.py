"""The records follower: the tables behind the commitment board, scorecards, the reporters'
follow-up queue and the claim file.

It reads the log in order and keeps:

- `v_records`: every record's current public state (redactions applied), its parties, status
  and version; `v_versions` dates each version, `v_topics` indexes topics;
- `v_statuses`: every status change of every record with its world date and recording time,
  so any record's status "as of a world date, as known at a ledger time" is one lookup;
- `v_board`: commitments as bitemporal segments (see `timeline_math`), with `v_cstate` the
  facts each commitment's segments are computed from;
- `v_evidence` (the claim file) and `v_notices` (what the deadline watcher has noticed).

Events are applied in batches: rows and the tracking position of the batch's last event are
committed in one transaction, so each event counts exactly once.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger.app import EVENT_TYPES, subject_id
from ledger.clock import local_date
from projections import slices
from projections.db import (
    FOREVER_RECORDED,
    PostgresView,
    Sql,
    SQLiteView,
    in_lists,
    table_columns,
)
from projections.timeline_math import FOREVER, Segment, new_state, segments

REDACTED = "[redacted]"

_TABLES = [
    "CREATE TABLE IF NOT EXISTS v_records (id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "made_on TEXT, precision TEXT, recorded_at TEXT NOT NULL, position BIGINT NOT NULL, "
    "party TEXT, subject TEXT, title TEXT, data TEXT NOT NULL, status TEXT, "
    "status_on TEXT, version BIGINT NOT NULL, retracted_at TEXT)",
    "CREATE TABLE IF NOT EXISTS v_versions (record_id TEXT NOT NULL, version BIGINT NOT NULL, "
    "recorded_at TEXT NOT NULL, PRIMARY KEY (record_id, version))",
    "CREATE TABLE IF NOT EXISTS v_statuses (record_id TEXT NOT NULL, position BIGINT NOT NULL, "
    "kind TEXT NOT NULL, occurred_on TEXT NOT NULL, precision TEXT, recorded_at TEXT NOT NULL, "
    "status TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (record_id, position))",
    "CREATE TABLE IF NOT EXISTS v_topics (topic TEXT NOT NULL, record_id TEXT NOT NULL, "
    "kind TEXT NOT NULL, PRIMARY KEY (topic, record_id))",
    "CREATE INDEX IF NOT EXISTS v_topics_record ON v_topics (record_id)",
    "CREATE TABLE IF NOT EXISTS v_board (cid TEXT NOT NULL, world_from TEXT NOT NULL, "
    "rec_from TEXT NOT NULL, world_to TEXT NOT NULL, rec_to TEXT NOT NULL, "
    "status TEXT NOT NULL, status_since TEXT NOT NULL, due_on TEXT, due_precision TEXT, "
    "due_text TEXT, due_basis TEXT, due_key TEXT NOT NULL, original_due_on TEXT, "
    "kind TEXT NOT NULL, made_by TEXT NOT NULL, assignee TEXT, "
    "made_on TEXT NOT NULL, retracted INTEGER NOT NULL, last_reason TEXT, "
    "last_sources TEXT NOT NULL, PRIMARY KEY (cid, world_from, rec_from))",
    "CREATE INDEX IF NOT EXISTS v_board_cid ON v_board (cid, rec_to, world_to)",
    "CREATE TABLE IF NOT EXISTS v_cstate (cid TEXT PRIMARY KEY, base TEXT NOT NULL, "
    "max_on TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS v_cfacts (cid TEXT NOT NULL, position BIGINT NOT NULL, "
    "kind TEXT NOT NULL, fact TEXT NOT NULL, PRIMARY KEY (cid, position))",
    "CREATE TABLE IF NOT EXISTS v_evidence (claim_id TEXT NOT NULL, position BIGINT NOT NULL, "
    "recorded_at TEXT NOT NULL, stance TEXT NOT NULL, confidence TEXT NOT NULL, note TEXT, "
    "sources TEXT NOT NULL, incident TEXT, action TEXT, PRIMARY KEY (claim_id, position))",
    "CREATE TABLE IF NOT EXISTS v_notices (record_id TEXT NOT NULL, kind TEXT NOT NULL, "
    "on_date TEXT NOT NULL, position BIGINT NOT NULL, recorded_at TEXT NOT NULL, "
    "PRIMARY KEY (record_id, kind, on_date))",
    # What each correction replaced: a read "as known at" a time before it shows the old value.
    "CREATE TABLE IF NOT EXISTS v_corrections (record_id TEXT NOT NULL, position BIGINT NOT "
    "NULL, recorded_at TEXT NOT NULL, field TEXT NOT NULL, old TEXT NOT NULL, "
    "PRIMARY KEY (record_id, position))",
    *slices.TABLES,
]
#: Indexes the record, version, status and board queries read, and the follower does not in a
#: long catch-up (QUERY_INDEXES in db).
_QUERY_INDEXES = [
    "CREATE INDEX IF NOT EXISTS v_records_kind ON v_records (kind, made_on, id)",
    "CREATE INDEX IF NOT EXISTS v_records_party ON v_records (party, kind)",
    "CREATE INDEX IF NOT EXISTS v_records_subject ON v_records (subject, kind)",
    # "Which version had the ledger shown by then" reads this index alone.
    "CREATE INDEX IF NOT EXISTS v_versions_known ON v_versions (record_id, recorded_at, version)",
    "CREATE INDEX IF NOT EXISTS v_statuses_at ON v_statuses (record_id, occurred_on, position)",
    # Board pages are read in (due_key, cid) order: this index and each filter's are in that
    # order. The follower reads this one too, for the rows a new month's slices copy, but not
    # in a long catch-up, which writes the slices at its end (`slices.begin_bulk`).
    "CREATE INDEX IF NOT EXISTS v_board_order ON v_board (rec_to, world_to, due_key, cid)",
    "CREATE INDEX IF NOT EXISTS v_board_status ON v_board (status, rec_to, world_to, due_key, cid)",
    "CREATE INDEX IF NOT EXISTS v_board_made_by ON v_board "
    "(made_by, rec_to, world_to, due_key, cid)",
    "CREATE INDEX IF NOT EXISTS v_board_assignee ON v_board "
    "(assignee, rec_to, world_to, due_key, cid) WHERE assignee IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS v_board_known ON v_board (due_key, cid)",
]
#: Every table of this follower, for rebuilds and comparisons.
RECORD_TABLES = (
    "v_records",
    "v_versions",
    "v_statuses",
    "v_topics",
    "v_board",
    "v_cstate",
    "v_cfacts",
    "v_evidence",
    "v_notices",
    "v_corrections",
    *slices.SLICE_TABLES,
)


class _RecordsTables:
    """Opening a records view whose slices were made before they carried every column of
    `slices.SLICE_COLUMNS` drops them, and the horizons, before the tables and indexes are
    created: the board then has rows but no slices, and `Followers` replays the view."""

    def create_table(self) -> None:
        with self.write() as sql:  # type: ignore[attr-defined]
            columns = set(table_columns(sql, "v_board_slices"))
            if columns and not set(slices.SLICE_COLUMNS) <= columns:
                sql.run("DROP TABLE v_board_slices")
                sql.run("DROP TABLE IF EXISTS v_board_horizon")
        super().create_table()  # type: ignore[misc]


class SQLiteRecordsView(_RecordsTables, SQLiteView):
    TABLES: ClassVar = _TABLES
    #: Whether the slices' indexes hold all a board item shows of its row.
    SLICES_SHOW_ITEMS: ClassVar = True
    QUERY_INDEXES: ClassVar = [
        *_QUERY_INDEXES,
        *slices.query_indexes(showing_items=SLICES_SHOW_ITEMS),
    ]
    # A board page reads its rows, their records and (for a topic) its slices by key.
    CLUSTERED: ClassVar = ("v_records", "v_board", "v_board_slices")


class PostgresRecordsView(_RecordsTables, PostgresView):
    TABLES: ClassVar = _TABLES
    SLICES_SHOW_ITEMS: ClassVar = False
    QUERY_INDEXES: ClassVar = [
        *_QUERY_INDEXES,
        *slices.query_indexes(showing_items=SLICES_SHOW_ITEMS),
    ]


def dumps(value: Any) -> str:
    """The JSON text of a view column (compact; readers parse it)."""
    return orjson.dumps(value).decode()


def recorded_key(moment: datetime) -> str:
    """A recording time as text that sorts as time does (UTC, fixed width)."""
    # isoformat writes every field at its full width (years before 1000 too), then "+00:00".
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


def _day(value: str | None) -> str | None:
    return value[:10] if value else None


_WORLD = ("made_at", "occurred_at", "asked_at", "published_at")
_PARTY = ("made_by", "demanded_by", "asked_by", "actor")
_SUBJECT = ("assignee", "addressed_to", "asked_to")
_TITLE = ("name", "summary", "text", "question", "description", "title", "url")
_BASE = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "recorded_by"}
)


def _title(data: dict[str, Any]) -> str | None:
    for field in _TITLE:
        value = data.get(field)
        if isinstance(value, str) and value:
            return value[:300]
    return None


class Unit:
    """One batch's working set: rows read once, changed in memory, written at the end."""

    def __init__(self, sql: Sql, timezone: str) -> None:
        self.sql = sql
        self.timezone = timezone
        self.records: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()
        self.states: dict[str, dict[str, Any]] = {}
        self.dirty_states: set[str] = set()
        #: Each commitment's segments as currently known: only the last one, unless `complete`.
        self.current: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.complete: set[str] = set()
        self.new_facts: dict[str, list[dict[str, Any]]] = {}
        self.board: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.board_gone: set[tuple[str, str, str]] = set()
        self.inserts: dict[str, list[tuple[Any, ...]]] = {}
        self.topic_deletes: list[str] = []
        self.horizons = slices.Horizons.stored(sql)

    # -- loading -------------------------------------------------------------------------
    def prefetch(self, ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i not in self.records]
        for chunk, marks in in_lists(wanted):
            for row in self.sql.rows(f"SELECT * FROM v_records WHERE id IN ({marks})", chunk):
                row["data"] = json.loads(row["data"])
                self.records[row["id"]] = row
            for row in self.sql.rows(f"SELECT * FROM v_cstate WHERE cid IN ({marks})", chunk):
                self.states[row["cid"]] = {**json.loads(row["base"]), "max_on": row["max_on"]}
                self.current.setdefault(row["cid"], {})
            for row in self.sql.rows(
                f"SELECT * FROM v_board WHERE rec_to = ? AND world_to = ? AND cid IN ({marks})",
                [FOREVER_RECORDED, FOREVER, *chunk],
            ):
                self.current.setdefault(row["cid"], {})[(row["world_from"], row["rec_from"])] = row

    def record(self, record_id: str) -> dict[str, Any] | None:
        if record_id not in self.records:
            self.prefetch([record_id])
        return self.records.get(record_id)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.inserts.setdefault(table, []).append(row)

    # -- commitments ---------------------------------------------------------------------
    def begin(self, cid: str, state: dict[str, Any], recorded: str) -> None:
        """A commitment made in this batch."""
        self.states[cid] = {**state, "max_on": state["made_on"]}
        self.current[cid] = {}
        self.complete.add(cid)
        self.new_facts[cid] = []
        self.retime(cid, recorded)

    def retime(
        self,
        cid: str,
        recorded: str,
        fact: dict[str, Any] | None = None,
    ) -> None:
        """Recompute a commitment's segments after a fact recorded at `recorded` (a status
        change or extension is given as `fact`; other changes are already in its state).

        A fact that comes in world order (the usual case) only splits the last segment;
        anything else recomputes the whole timeline and keeps the rows that did not change."""
        state = self.states[cid]
        self.dirty_states.add(cid)
        world = state["made_on"] if fact is None else max(fact["on"], state["made_on"])
        self.horizons.see(world, recorded)
        if fact is not None:
            self.new_facts.setdefault(cid, []).append(fact)
            self.add(
                "v_cfacts",
                (cid, fact["position"], "status" if "status" in fact else "due", dumps(fact)),
            )
            if self._append(cid, recorded, fact):
                return
        full = self._full_state(cid)
        state["max_on"] = max(
            [state["made_on"], *(f["on"] for f in (*full["changes"], *full["extensions"]))]
        )
        wanted = {s.key(): s for s in segments(full)}
        current = self._complete(cid)
        kept: dict[tuple[Any, ...], tuple[str, str]] = {}
        for place, row in list(current.items()):
            key = _row_key(row)
            if key in wanted and key not in kept:
                kept[key] = place
                continue
            self._close(cid, place, row, recorded)
        for key, segment in wanted.items():
            if key not in kept:
                self._open(cid, _segment_row(cid, segment, recorded))

    def _close(self, cid: str, place: tuple[str, str], row: dict[str, Any], recorded: str) -> None:
        """This segment is no longer true from `recorded` on."""
        del self.current[cid][place]
        full = (cid, row["world_from"], row["rec_from"])
        if row["rec_from"] >= recorded:
            self.board.pop(full, None)
            self.board_gone.add(full)
        else:
            self.board[full] = dict(row, rec_to=recorded)

    def _open(self, cid: str, row: dict[str, Any]) -> None:
        full = (cid, row["world_from"], row["rec_from"])
        self.current[cid][(row["world_from"], row["rec_from"])] = row
        self.board_gone.discard(full)
        self.board[full] = row

    def _full_state(self, cid: str) -> dict[str, Any]:
        """The commitment's state with every fact known of it, for a full recompute."""
        stored = self.sql.rows("SELECT fact FROM v_cfacts WHERE cid = ?", [cid])
        facts = {f["position"]: f for f in (json.loads(r["fact"]) for r in stored)}
        facts.update((f["position"], f) for f in self.new_facts.get(cid, []))
        ordered = [facts[p] for p in sorted(facts)]
        return {
            **self.states[cid],
            "changes": [f for f in ordered if "status" in f],
            "extensions": [f for f in ordered if "status" not in f],
        }

    def _complete(self, cid: str) -> dict[tuple[str, str], dict[str, Any]]:
        """All of a commitment's current segments: stored ones, with this batch's changes."""
        if cid not in self.complete:
            rows = {
                (r["world_from"], r["rec_from"]): r
                for r in self.sql.rows(
                    "SELECT * FROM v_board WHERE cid = ? AND rec_to = ?", [cid, FOREVER_RECORDED]
                )
            }
            for (owner, world_from, rec_from), row in self.board.items():
                if owner == cid:
                    if row["rec_to"] == FOREVER_RECORDED:
                        rows[(world_from, rec_from)] = row
                    else:
                        rows.pop((world_from, rec_from), None)
            for owner, world_from, rec_from in self.board_gone:
                if owner == cid:
                    rows.pop((world_from, rec_from), None)
            self.current[cid] = rows
            self.complete.add(cid)
        return self.current[cid]

    def _append(self, cid: str, recorded: str, fact: dict[str, Any]) -> bool:
        state = self.states[cid]
        if state["retracted"]:
            return False
        on = max(fact["on"], state["made_on"])
        if on < state["max_on"]:
            return False
        state["max_on"] = on
        current = self.current.get(cid, {})
        # One segment runs on in world time; it is usually the one opened last.
        last = next(
            (
                (place, row)
                for place, row in reversed(current.items())
                if row["world_to"] == FOREVER
            ),
            None,
        )
        if last is None:
            return False
        place, row = last
        new = dict(row, world_from=on, rec_from=recorded, rec_to=FOREVER_RECORDED)
        new["last_reason"] = fact.get("reason")
        new["last_sources"] = dumps(list(fact.get("sources", ())))
        if "status" in fact:
            new["status"], new["status_since"] = fact["status"], on
        else:
            due = fact["due"]
            new.update(
                due_on=due["on"],
                due_precision=due.get("precision"),
                due_text=due.get("text"),
                due_basis=due.get("basis"),
                due_key=due["on"] or FOREVER,
            )
        self._close(cid, place, row, recorded)
        if on > row["world_from"]:
            self._open(cid, dict(row, world_to=on, rec_from=recorded, rec_to=FOREVER_RECORDED))
        self._open(cid, new)
        return True

    # -- writing -------------------------------------------------------------------------
    def flush(self) -> None:
        sql = self.sql
        sql.many(
            "INSERT INTO v_records (id, kind, made_on, precision, recorded_at, position, "
            "party, subject, title, data, status, status_on, version, retracted_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
            "kind=excluded.kind, made_on=excluded.made_on, precision=excluded.precision, "
            "party=excluded.party, subject=excluded.subject, title=excluded.title, "
            "data=excluded.data, status=excluded.status, status_on=excluded.status_on, "
            "version=excluded.version, retracted_at=excluded.retracted_at",
            [
                (
                    row["id"],
                    row["kind"],
                    row["made_on"],
                    row["precision"],
                    row["recorded_at"],
                    row["position"],
                    row["party"],
                    row["subject"],
                    row["title"],
                    dumps(row["data"]),
                    row["status"],
                    row["status_on"],
                    row["version"],
                    row["retracted_at"],
                )
                for row in (self.records[record_id] for record_id in self.dirty)
            ],
        )
        sql.many(
            "INSERT INTO v_cstate (cid, base, max_on) VALUES (?, ?, ?) ON CONFLICT (cid) "
            "DO UPDATE SET base = excluded.base, max_on = excluded.max_on",
            [
                (
                    cid,
                    dumps({k: v for k, v in self.states[cid].items() if k != "max_on"}),
                    self.states[cid]["max_on"],
                )
                for cid in self.dirty_states
            ],
        )
        sql.many(
            "DELETE FROM v_board WHERE cid=? AND world_from=? AND rec_from=?",
            list(self.board_gone),
        )
        sql.many(
            "INSERT INTO v_board (cid, world_from, rec_from, world_to, rec_to, status, "
            "status_since, due_on, due_precision, due_text, due_basis, due_key, original_due_on, "
            "kind, made_by, assignee, made_on, retracted, last_reason, last_sources) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            # A segment replaced by one recorded at the same instant (an earlier batch wrote
            # it) takes the new segment's content, not only its end.
            "ON CONFLICT (cid, world_from, rec_from) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _BOARD_COLUMNS[3:]),
            [_board_columns(row) for row in self.board.values()],
        )
        slices.write(
            sql,
            self.horizons,
            set(self.board) | self.board_gone,
            list(self.board.values()),
            self.timezone,
        )
        for record_id in self.topic_deletes:
            sql.run("DELETE FROM v_topics WHERE record_id=?", [record_id])
        statements = {
            "v_versions": "INSERT INTO v_versions VALUES (?,?,?) ON CONFLICT DO NOTHING",
            "v_statuses": "INSERT INTO v_statuses VALUES (?,?,?,?,?,?,?,?)",
            "v_topics": "INSERT INTO v_topics VALUES (?,?,?) ON CONFLICT DO NOTHING",
            "v_evidence": "INSERT INTO v_evidence VALUES (?,?,?,?,?,?,?,?,?)",
            "v_cfacts": "INSERT INTO v_cfacts VALUES (?,?,?,?)",
            "v_notices": "INSERT INTO v_notices VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            "v_corrections": "INSERT INTO v_corrections VALUES (?,?,?,?,?)",
        }
        for table, statement in statements.items():
            sql.many(statement, self.inserts.get(table, []))


_BOARD_COLUMNS = (
    "cid",
    "world_from",
    "rec_from",
    "world_to",
    "rec_to",
    "status",
    "status_since",
    "due_on",
    "due_precision",
    "due_text",
    "due_basis",
    "due_key",
    "original_due_on",
    "kind",
    "made_by",
    "assignee",
    "made_on",
    "retracted",
    "last_reason",
    "last_sources",
)

_board_columns = operator.itemgetter(*_BOARD_COLUMNS)


def _segment_row(cid: str, s: Segment, recorded: str) -> dict[str, Any]:
    return {
        "cid": cid,
        "world_from": s.world_from,
        "rec_from": recorded,
        "world_to": s.world_to,
        "rec_to": FOREVER_RECORDED,
        "status": s.status,
        "status_since": s.status_since,
        "due_on": s.due_on,
        "due_precision": s.due_precision,
        "due_text": s.due_text,
        "due_basis": s.due_basis,
        "due_key": s.due_on or FOREVER,
        "original_due_on": s.original_due_on,
        "kind": s.kind,
        "made_by": s.made_by,
        "assignee": s.assignee,
        "made_on": s.made_on,
        "retracted": 1 if s.retracted else 0,
        "last_reason": s.last_reason,
        "last_sources": dumps(list(s.last_sources)),
    }


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["world_from"],
        row["world_to"],
        row["status"],
        row["status_since"],
        row["due_on"],
        row["due_precision"],
        row["due_text"],
        row["due_basis"],
        row["original_due_on"],
        row["kind"],
        row["made_by"],
        row["assignee"],
        row["made_on"],
        bool(row["retracted"]),
        row["last_reason"],
        tuple(json.loads(row["last_sources"])),
    )


Handler = Callable[["RecordsProjection", Unit, Any, int, str], None]


class RecordsProjection(Projection[Any]):
    """Keeps the records tables; `process_batch` is the fast path the runner uses."""

    name = "records"

    def __init__(self, view: Any, timezone: str = "UTC") -> None:
        super().__init__(view)
        self.timezone = timezone

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([(domain_event, tracking.notification_id)], tracking, after=None)

    def process_batch(
        self, events: Sequence[tuple[Any, ...]], tracking: Tracking, *, after: int | None
    ) -> None:
        """Apply events (with their positions) and record `tracking`, in one transaction.
        With `after`, the batch is refused (StaleBatch) unless the follower is still there."""
        with self.view.batch(tracking, after) as sql:
            unit = Unit(sql, self.timezone)
            unit.prefetch(subject_id(e) for e, *_ in events)
            for event, position, *_ in events:
                handler = _HANDLERS.get(EVENT_TYPES.get(type(event), ""))
                if handler is not None:
                    handler(self, unit, event, position, recorded_key(event.timestamp))
            unit.flush()

    # -- helpers -------------------------------------------------------------------------
    def local_day(self, event: Any) -> str:
        return local_date(event.timestamp, self.timezone).isoformat()


def _fields(event: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(event).items() if k not in _BASE}


def _bump(unit: Unit, row: dict[str, Any], event: Any, recorded: str) -> None:
    row["version"] = event.originator_version
    unit.dirty.add(row["id"])
    unit.add("v_versions", (row["id"], event.originator_version, recorded))


def on_created(p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str) -> None:
    kind = EVENT_TYPES[type(event)].split(".")[0]
    data = _fields(event)
    record_id = str(event.originator_id)
    world: str | None = next((data[f] for f in _WORLD if data.get(f)), None)
    # An actor has no date in the world: it exists at every world date the ledger shows.
    made_on: str = _day(world) or ("0001-01-01" if kind == "actor" else p.local_day(event))
    row: dict[str, Any] = {
        "id": record_id,
        "kind": kind,
        "made_on": made_on,
        "precision": data.get("precision", "day") if world else "day",
        "recorded_at": recorded,
        "position": position,
        "party": next((data[f] for f in _PARTY if data.get(f)), None),
        "subject": next((data[f] for f in _SUBJECT if data.get(f)), None),
        "title": _title(data),
        "data": {**data, "redacted": {}},
        "status": None,
        "status_on": None,
        "version": 0,
        "retracted_at": None,
    }
    initial = {
        "commitment": "open",
        "claim": "unassessed",
        "demand": "pending",
        "incident": data.get("review_status"),
        "inquiry": "awaiting",
    }.get(kind)
    if initial:
        row["status"], row["status_on"] = initial, row["made_on"]
    unit.records[record_id] = row
    _bump(unit, row, event, recorded)
    for topic in data.get("topics", []):
        unit.add("v_topics", (topic, record_id, kind))
    if kind == "incident" and initial != "reported":
        _status_row(unit, row, position, made_on, row["precision"], recorded, initial, {})
    if kind == "commitment":
        base = new_state(
            kind=data["kind"],
            made_by=data["made_by"],
            assignee=data["assignee"],
            made_on=made_on,
            due=data["due"],
        )
        del base["changes"], base["extensions"]
        unit.begin(record_id, base, recorded)


def _status_row(
    unit: Unit,
    row: dict[str, Any],
    position: int,
    on: str,
    precision: str | None,
    recorded: str,
    status: str | None,
    detail: dict[str, Any],
) -> None:
    unit.add(
        "v_statuses",
        (
            row["id"],
            position,
            row["kind"],
            on,
            precision,
            recorded,
            status,
            dumps(detail),
        ),
    )
    if row["status_on"] is None or on >= row["status_on"]:
        row["status"], row["status_on"] = status, on


def on_status(p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str) -> None:
    """A commitment's status change, a demand's or inquiry's response, an incident review."""
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    data = _fields(event)
    on = _day(data["occurred_at"]) or p.local_day(event)
    detail = {k: v for k, v in data.items() if k not in ("status", "occurred_at", "precision")}
    _status_row(unit, row, position, on, data.get("precision"), recorded, data["status"], detail)
    _bump(unit, row, event, recorded)
    if row["kind"] == "commitment":
        fact = {
            "position": position,
            "on": on,
            "status": data["status"],
            "reason": data.get("reason"),
            "sources": data.get("sources", []),
        }
        unit.retime(row["id"], recorded, fact)


def on_assessed(p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str) -> None:
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    detail = {"rationale": event.rationale, "sources": list(event.sources)}
    _status_row(unit, row, position, p.local_day(event), "day", recorded, event.verdict, detail)
    _bump(unit, row, event, recorded)


def on_evidence(p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str) -> None:
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    unit.add(
        "v_evidence",
        (
            row["id"],
            position,
            recorded,
            event.stance,
            event.confidence,
            event.note,
            dumps(list(event.sources)),
            event.incident,
            event.action,
        ),
    )
    _bump(unit, row, event, recorded)


def on_extended(p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str) -> None:
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    row["data"]["due"] = dict(event.due)
    _bump(unit, row, event, recorded)
    fact = {
        "position": position,
        "on": p.local_day(event),
        "due": dict(event.due),
        "reason": event.reason,
        "sources": list(event.sources),
    }
    unit.retime(row["id"], recorded, fact)


def on_title(p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str) -> None:
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    if "title" not in row["data"]["redacted"]:
        row["data"]["title"] = event.title
    _bump(unit, row, event, recorded)


def on_corrected(
    p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str
) -> None:
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    field, value = event.field, event.new
    data = row["data"]
    if field not in data["redacted"]:
        data[field] = value
        unit.add("v_corrections", (row["id"], position, recorded, field, dumps(event.old)))
    if field in _WORLD:
        row["made_on"] = _day(value)
    if field == "precision":
        row["precision"] = value
    if field in _PARTY:
        row["party"] = value
    if field in _SUBJECT:
        row["subject"] = value
    if field == "topics":
        unit.topic_deletes.append(row["id"])
        # Topic rows of this batch not yet written are replaced too.
        pending = unit.inserts.get("v_topics", [])
        unit.inserts["v_topics"] = [r for r in pending if r[1] != row["id"]]
        for topic in value:
            unit.add("v_topics", (topic, row["id"], row["kind"]))
    row["title"] = _title(data)
    _bump(unit, row, event, recorded)
    state = unit.states.get(row["id"])
    if state is not None and field in ("kind", "made_by", "assignee", "made_at", "due"):
        key = "made_on" if field == "made_at" else field
        state[key] = _day(value) if field == "made_at" else value
        unit.retime(row["id"], recorded)


def on_retracted(
    p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str
) -> None:
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    row["retracted_at"] = recorded
    _bump(unit, row, event, recorded)
    state = unit.states.get(row["id"])
    if state is not None:
        state["retracted"] = True
        unit.retime(row["id"], recorded)


def on_redacted(p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str) -> None:
    row = unit.record(str(event.originator_id))
    if row is None:
        return
    for field in event.fields:
        row["data"][field] = REDACTED
        row["data"]["redacted"][field] = event.reason
        # Nor does any earlier value of the field stay in the view.
        unit.sql.run(
            "DELETE FROM v_corrections WHERE record_id = ? AND field = ?", [row["id"], field]
        )
        pending = unit.inserts.get("v_corrections", [])
        unit.inserts["v_corrections"] = [
            r for r in pending if not (r[0] == row["id"] and r[3] == field)
        ]
    row["title"] = _title(row["data"])
    _bump(unit, row, event, recorded)


def on_deadline_passed(
    p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str
) -> None:
    unit.add("v_notices", (event.commitment, "deadline", event.due_on, position, recorded))


def on_inquiry_overdue(
    p: RecordsProjection, unit: Unit, event: Any, position: int, recorded: str
) -> None:
    unit.add("v_notices", (event.inquiry, "inquiry", event.follow_up_on, position, recorded))


def _handlers() -> dict[str, Handler]:
    table: dict[str, Handler] = {
        "commitment.status_changed": on_status,
        "commitment.deadline_extended": on_extended,
        "commitment.deadline_passed": on_deadline_passed,
        "claim.evidence_added": on_evidence,
        "claim.assessed": on_assessed,
        "demand.responded": on_status,
        "incident.reviewed": on_status,
        "inquiry.responded": on_status,
        "inquiry.overdue": on_inquiry_overdue,
        "actor.title_changed": on_title,
    }
    for wire in EVENT_TYPES.values():
        what = wire.split(".")[1]
        if what in ("registered", "made", "reported", "recorded", "opened"):
            table[wire] = on_created
        elif what == "corrected":
            table[wire] = on_corrected
        elif what == "retracted":
            table[wire] = on_retracted
        elif what == "redacted":
            table[wire] = on_redacted
    return table


_HANDLERS = _handlers()
