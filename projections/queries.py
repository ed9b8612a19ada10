"""The Python query API over the views: what the HTTP layer and the CLI call. No SQL lives
outside `projections/`.

Every query answers two questions (DOMAIN.md, "two clocks"): `at`, the world as of the end of
that date, and `known_at`, only what had been recorded by then. Without `known_at`, all that
is recorded counts; without `at`, the world date is today (or the date of `known_at`).
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from ledger.clock import Clock, SystemClock, local_date
from ledger.domain.errors import InvalidInput
from ledger.domain.vocab import COMMITMENT_UNRESOLVED
from projections.db import FOREVER_RECORDED, Sql
from projections.records import recorded_key
from projections.slices import UNRESOLVED
from projections.timeline_math import FOREVER, days_between, derived

_UNRESOLVED = tuple(sorted(COMMITMENT_UNRESOLVED))
MAX_LIMIT = 500


#: The board row's columns a page shows (and those that find it again among its keys).
_ITEM_COLUMNS = (
    "cid",
    "world_from",
    "rec_from",
    "kind",
    "made_by",
    "assignee",
    "status",
    "status_since",
    "due_on",
    "due_text",
    "due_precision",
    "due_basis",
    "original_due_on",
    "last_reason",
    "last_sources",
    "retracted",
)
_BOARD_COLUMNS = ", ".join(f"f.{c}" for c in _ITEM_COLUMNS)
#: A page's columns read from its keys' index: its keys in page order, or its rows whole.
_PAGE_KEYS = "b.cid, b.world_from, b.rec_from, b.due_key"
_PAGE_ROWS = ", ".join(f"b.{c}" for c in (*_ITEM_COLUMNS, "due_key"))


@dataclass(frozen=True)
class When:
    """A query's two clocks: `day` (world date, ISO) and `known` (recording key or None)."""

    day: str
    known: str | None

    @property
    def known_or_forever(self) -> str:
        return self.known or FOREVER_RECORDED


@dataclass
class Page:
    items: list[dict[str, Any]]
    next: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, shape: Any = None) -> Any:
    """The value of a cursor `encode_cursor` gave out; with `shape` (`int`, or a list of
    `str`/`int`), anything else is refused, so a forged cursor never reaches a query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInput("not a cursor this server gave out", field="cursor") from e
    if shape is not None and not _fits(value, shape):
        raise InvalidInput("not a cursor this server gave out", field="cursor")
    return value


def _fits(value: Any, shape: Any) -> bool:
    if isinstance(shape, list):
        return (
            isinstance(value, list)
            and len(value) == len(shape)
            and all(_fits(v, s) for v, s in zip(value, shape, strict=True))
        )
    if shape is int:
        return type(value) is int and 0 <= value <= 2**62
    return type(value) is str and "\x00" not in value and len(value) <= 500


def _topics(data: dict[str, Any]) -> list[str]:
    """A record's topics, in order, from its data as shown (topics cannot be redacted)."""
    return sorted(set(data.get("topics") or []))


def _plus(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


class Views:
    """Reads of every view. `records` and `timeline` are the two followers' view stores."""

    def __init__(
        self, records: Any, timeline: Any, *, timezone: str = "UTC", clock: Clock | None = None
    ) -> None:
        self.records_view = records
        self.timeline_view = timeline
        self.timezone = timezone
        self.clock = clock or SystemClock()

    # -- time ----------------------------------------------------------------------------
    def when(self, at: date | None = None, known_at: datetime | None = None) -> When:
        if known_at is not None and known_at.tzinfo is None:
            known_at = known_at.replace(tzinfo=UTC)
        if at is None:
            moment = known_at or self.clock.now()
            at = local_date(moment, self.timezone)
        return When(at.isoformat(), recorded_key(known_at) if known_at else None)

    @staticmethod
    def _board_time(w: When, span: str = "all") -> tuple[str, list[Any]]:
        """Rows of the board valid on the world day, as known then. With everything recorded
        counted, a query can ask for the `last` segments of each commitment (those that run
        on, the usual answer) and the `earlier` ones apart: each half is one index range."""
        if span == "last":
            return "b.rec_to = ? AND b.world_to = ? AND b.world_from <= ?", [
                FOREVER_RECORDED,
                FOREVER,
                w.day,
            ]
        if span == "earlier":
            return "b.rec_to = ? AND b.world_to > ? AND b.world_to < ? AND b.world_from <= ?", [
                FOREVER_RECORDED,
                w.day,
                FOREVER,
                w.day,
            ]
        if w.known is None:
            return "b.rec_to = ? AND b.world_from <= ? AND b.world_to > ?", [
                FOREVER_RECORDED,
                w.day,
                w.day,
            ]
        return (
            "b.rec_from <= ? AND b.rec_to > ? AND b.world_from <= ? AND b.world_to > ?",
            [w.known, w.known, w.day, w.day],
        )

    @staticmethod
    def _exists(alias: str, w: When) -> tuple[str, list[Any]]:
        """A record that existed in the world on the day, was recorded by then, and had not
        been retracted as far as the ledger knew."""
        k = w.known_or_forever
        return (
            f"{alias}.made_on <= ? AND {alias}.recorded_at <= ? "
            f"AND ({alias}.retracted_at IS NULL OR {alias}.retracted_at > ?)",
            [w.day, k, k],
        )

    # -- the commitment board ------------------------------------------------------------
    def board(
        self,
        *,
        when: When,
        actor: str | None = None,
        assignee: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        topic: str | None = None,
        overdue: bool | None = None,
        due_from: str | None = None,
        due_to: str | None = None,
        ids: list[str] | None = None,
        include_retracted: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        filters: dict[str, Any] = {
            "actor": actor,
            "assignee": assignee,
            "kind": kind,
            "status": status,
            "topic": topic,
            "overdue": overdue,
            "due_from": due_from,
            "due_to": due_to,
            "ids": ids,
            "include_retracted": include_retracted,
        }
        keys: list[dict[str, Any]] = []
        after = decode_cursor(cursor, [str, str]) if cursor else None
        with self.records_view.read() as sql:
            # The rows' `when` may leave out a ledger time every row precedes; the items'
            # texts and versions are still shown as known at that time.
            source, rows_when = self._board_source(sql, when)
            # Overdue commitments are unresolved ones. The slices have an index of those
            # alone; among the rows themselves, one due-ordered index range per status
            # finds them, instead of one range holding every status in due order.
            by_status = overdue and status is None and source is None
            statuses = _UNRESOLVED if by_status else (status,)
            spans = ("all",) if rows_when.known or source else ("last", "earlier")
            # Where the slices' indexes hold the rows whole, a page is read from them.
            whole = source is not None and self.records_view.SLICES_SHOW_ITEMS
            for span, one_status in itertools.product(spans, statuses):
                table, where, params = self._board_where(
                    source, rows_when, span=span, **{**filters, "status": one_status}
                )
                if after is not None:
                    where.append("(b.due_key > ? OR (b.due_key = ? AND b.cid > ?))")
                    params += [after[0], after[0], after[1]]
                if topic is not None:
                    # A topic holds few commitments: start from them (CROSS JOIN keeps
                    # SQLite's join order), then their rows, then sort that handful.
                    table = f"v_topics t CROSS JOIN {table}"
                    where += ["t.topic = ?", "t.record_id = b.cid"]
                    params.append(topic)
                # The page's keys first, from an index alone, then only its rows; or, where
                # the index holds the rows whole, the page itself, then only its records.
                keys += sql.rows(
                    f"SELECT {_PAGE_ROWS if whole else _PAGE_KEYS} FROM {table} WHERE "
                    + " AND ".join(where)
                    + " ORDER BY b.due_key, b.cid LIMIT ?",
                    [*params, limit + 1],
                )
            keys.sort(key=lambda k: (k["due_key"], k["cid"]))
            more = len(keys) > limit
            keys = keys[:limit]
            rows = self._with_records(sql, keys) if whole else self._board_rows(sql, keys)
            items = self._board_items(sql, rows, when)
        last = keys[-1] if more else None
        return Page(items, encode_cursor([last["due_key"], last["cid"]]) if last else None)

    @staticmethod
    def _board_rows(sql: Sql, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The board rows of these keys, in their order, each with its record's data."""
        if not keys:
            return []
        marks = ",".join(["(?,?,?)"] * len(keys))
        found = {
            (r["cid"], r["world_from"], r["rec_from"]): r
            for r in sql.rows(
                f"WITH k (cid, world_from, rec_from) AS (VALUES {marks}) "
                f"SELECT {_BOARD_COLUMNS}, r.data, r.version AS current_version FROM k "
                "JOIN v_board f "
                "ON f.cid = k.cid AND f.world_from = k.world_from AND f.rec_from = k.rec_from "
                "JOIN v_records r ON r.id = f.cid",
                [v for k in keys for v in (k["cid"], k["world_from"], k["rec_from"])],
            )
        }
        return [found[(k["cid"], k["world_from"], k["rec_from"])] for k in keys]

    @staticmethod
    def _with_records(sql: Sql, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Board rows read whole, each given its record's data."""
        if not rows:
            return []
        ids = list({r["cid"] for r in rows})
        records = {
            r["id"]: r
            for r in sql.rows(
                f"SELECT id, data, version FROM v_records WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        for row in rows:
            record = records[row["cid"]]
            row["data"], row["current_version"] = record["data"], record["version"]
        return rows

    def board_counts(self, *, when: When, **filters: Any) -> dict[str, Any]:
        """Counts by status of the commitments the filters select, and how many are overdue."""
        filters.pop("status", None)
        with self.records_view.read() as sql:
            source, when = self._board_source(sql, when)
            table, where, params = self._board_where(source, when, span="count", **filters)
            rows = sql.rows(
                "SELECT b.status, COUNT(*) AS n, SUM(CASE WHEN b.status IN (?,?,?) "
                f"AND b.due_on < ? THEN 1 ELSE 0 END) AS overdue FROM {table} WHERE "
                + " AND ".join(where)
                + " GROUP BY b.status",
                [*_UNRESOLVED, when.day, *params],
            )
        by_status = {r["status"]: int(r["n"]) for r in rows}
        return {
            "by_status": by_status,
            "total": sum(by_status.values()),
            "overdue": sum(int(r["overdue"] or 0) for r in rows),
        }

    def _board_source(self, sql: Sql, when: When) -> tuple[tuple[str, str] | None, When]:
        """Which month slices answer `when` (see `projections.slices`), or None to read the
        board rows themselves; and the `when` to read the rows at, without a ledger time
        that every change of the rows precedes."""
        horizon = {r["axis"]: r["bucket"] for r in sql.rows("SELECT * FROM v_board_horizon")}
        if not {"w", "r"} <= horizon.keys():
            return None, when  # no slices yet: a long catch-up writes them at its end
        if when.known is not None and when.known[:7] > horizon["r"]:
            when = When(when.day, None)  # later than anything recorded: all of it counts
        if when.known is None:
            month = when.day[:7]
            return (("w", month) if month <= horizon["w"] else None), when
        known = datetime.fromisoformat(when.known.replace("Z", "+00:00"))
        if when.day >= local_date(known, self.timezone).isoformat():
            return ("r", when.known[:7]), when
        return None, when

    def _board_where(
        self, source: tuple[str, str] | None, when: When, **filters: Any
    ) -> tuple[str, list[str], list[Any]]:
        """A board read's FROM clause, its conditions (on `b`) and their parameters."""
        where, params = self._board_filters(when, **filters)
        if source is None:
            return "v_board b", where, params
        return "v_board_slices b", ["b.axis = ? AND b.bucket = ?", *where], [*source, *params]

    def _board_filters(
        self,
        when: When,
        *,
        span: str = "all",
        actor: str | None = None,
        assignee: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        topic: str | None = None,
        overdue: bool | None = None,
        due_from: str | None = None,
        due_to: str | None = None,
        ids: list[str] | None = None,
        include_retracted: bool = False,
    ) -> tuple[list[str], list[Any]]:
        clause, params = self._board_time(when, span)
        where = [clause]
        if not include_retracted:
            where.append("b.retracted = 0")
        for column, value in (
            ("made_by", actor),
            ("assignee", assignee),
            ("kind", kind),
            ("status", status),
        ):
            if value is not None:
                where.append(f"b.{column} = ?")
                params.append(value)
        if topic is not None and span == "count":
            where.append("b.cid IN (SELECT record_id FROM v_topics WHERE topic = ?)")
            params.append(topic)
        # Tests of the due date also bound `due_key` (the due date, or FOREVER without one),
        # which the indexes hold in page order: a page's range ends where the dates do,
        # instead of running on through every later row of its month.
        if overdue is not None:
            test = f"b.{UNRESOLVED} AND b.due_on < ?"
            where.append(test if overdue else f"NOT ({test} AND b.due_on IS NOT NULL)")
            params.append(when.day)
            if overdue:
                where.append("b.due_key < ?")
                params.append(when.day)
        if due_from is not None:
            where.append("b.due_on >= ? AND b.due_key >= ?")
            params += [due_from, due_from]
        if due_to is not None:
            where.append("b.due_on <= ? AND b.due_key <= ?")
            params += [due_to, due_to]
        if ids is not None:
            where.append(f"b.cid IN ({','.join('?' * len(ids)) or 'NULL'})")
            params += ids
        return where, params

    def _board_items(
        self, sql: Sql, rows: list[dict[str, Any]], when: When
    ) -> list[dict[str, Any]]:
        ids = [r["cid"] for r in rows]
        versions = self._versions(sql, ids, when) if when.known else {}
        earlier = self._known_values(sql, ids, when)
        items = []
        for r in rows:
            data = orjson.loads(r["data"])
            if r["cid"] in earlier:
                data.update(earlier[r["cid"]])
            due = (
                {
                    "on": r["due_on"],
                    "text": r["due_text"],
                    "precision": r["due_precision"],
                    "basis": r["due_basis"],
                }
                if r["due_on"]
                else None
            )
            items.append(
                {
                    "id": r["cid"],
                    "kind": r["kind"],
                    "made_by": r["made_by"],
                    "assignee": r["assignee"],
                    "text": data.get("text"),
                    "summary": data.get("summary"),
                    "made_at": data.get("made_at"),
                    "precision": data.get("precision"),
                    "status": r["status"],
                    "status_since": r["status_since"],
                    "due": due,
                    "original_due": {"on": r["original_due_on"]} if r["original_due_on"] else None,
                    **derived(r, when.day),
                    "last_evidence": {
                        "reason": r["last_reason"],
                        "sources": orjson.loads(r["last_sources"]),
                    }
                    if r["last_reason"]
                    else None,
                    "topics": _topics(data),
                    "version": versions.get(r["cid"], r["current_version"]),
                    "retracted": bool(r["retracted"]),
                    "redacted": sorted(data.get("redacted", {})),
                }
            )
        return items

    @staticmethod
    def _known_values(sql: Sql, ids: list[str], when: When) -> dict[str, dict[str, Any]]:
        """Fields as the ledger showed them at `when.known`: for each field corrected later,
        the value its first later correction replaced."""
        if when.known is None or not ids:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for row in sql.rows(
            "SELECT record_id, field, old FROM v_corrections WHERE record_id IN "
            f"({','.join('?' * len(ids))}) AND recorded_at > ? ORDER BY position",
            [*ids, when.known],
        ):
            out.setdefault(row["record_id"], {}).setdefault(row["field"], orjson.loads(row["old"]))
        return out

    @staticmethod
    def _versions(sql: Sql, ids: list[str], when: When) -> dict[str, int]:
        if not ids:
            return {}
        rows = sql.rows(
            "SELECT record_id, MAX(version) AS v FROM v_versions WHERE recorded_at <= ? "
            f"AND record_id IN ({','.join('?' * len(ids))}) GROUP BY record_id",
            [when.known_or_forever, *ids],
        )
        return {r["record_id"]: int(r["v"]) for r in rows}

    # -- records of every kind -----------------------------------------------------------
    def _status_of(self, alias: str, w: When) -> tuple[str, list[Any]]:
        """A column: the record's status as of the world day, as known then ("status|date")."""
        return (
            "(SELECT s.status || '|' || s.occurred_on FROM v_statuses s "
            f"WHERE s.record_id = {alias}.id AND s.occurred_on <= ? AND s.recorded_at <= ? "
            "ORDER BY s.occurred_on DESC, s.position DESC LIMIT 1)",
            [w.day, w.known_or_forever],
        )

    _INITIAL = {
        "commitment": "open",
        "claim": "unassessed",
        "demand": "pending",
        "incident": "reported",
        "inquiry": "awaiting",
    }

    def records(
        self,
        kind: str,
        *,
        when: When,
        party: str | None = None,
        subject: str | None = None,
        status: str | None = None,
        topic: str | None = None,
        ids: list[str] | None = None,
        include_retracted: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Records of one kind, newest in the world first, with their status as of then."""
        status_col, status_params = self._status_of("r", when)
        k = when.known_or_forever
        where = ["r.kind = ?", "r.made_on <= ?", "r.recorded_at <= ?"]
        params: list[Any] = [kind, when.day, k]
        if not include_retracted:
            where.append("(r.retracted_at IS NULL OR r.retracted_at > ?)")
            params.append(k)
        for column, value in (("party", party), ("subject", subject)):
            if value is not None:
                where.append(f"r.{column} = ?")
                params.append(value)
        if topic is not None:
            where.append("r.id IN (SELECT record_id FROM v_topics WHERE topic = ?)")
            params.append(topic)
        if ids is not None:
            where.append(f"r.id IN ({','.join('?' * len(ids)) or 'NULL'})")
            params += ids
        if cursor:
            after = decode_cursor(cursor, [str, str])
            where.append("(r.made_on < ? OR (r.made_on = ? AND r.id > ?))")
            params += [after[0], after[0], after[1]]
        query = (
            f"SELECT r.*, {status_col} AS status_then FROM v_records r WHERE "
            + " AND ".join(where)
            + " ORDER BY r.made_on DESC, r.id"
        )
        items: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        more = False
        with self.records_view.read() as sql:
            # A status filter applies to the status as of then, so it is checked here.
            for row in self._scan(sql, query, [*status_params, *params], limit, status, kind):
                if len(items) == limit:
                    more = True
                    break
                items.append(row)
                last = row
            versions = self._versions(sql, [i["id"] for i in items], when) if when.known else {}
            earlier = self._known_values(sql, [i["id"] for i in items], when)
        page = [self._record_item(row, when, versions, earlier.get(row["id"], {})) for row in items]
        return Page(page, encode_cursor([last["made_on"], last["id"]]) if more and last else None)

    def _scan(
        self, sql: Sql, query: str, params: list[Any], limit: int, status: str | None, kind: str
    ) -> list[dict[str, Any]]:
        rows = sql.rows(query + " LIMIT ?", [*params, (limit + 1) if status is None else 100_000])
        for row in rows:
            row["status_now"], row["status_since"] = self._split_status(row, kind)
        if status is not None:
            rows = [r for r in rows if r["status_now"] == status]
        return rows

    def _split_status(self, row: dict[str, Any], kind: str) -> tuple[str | None, str | None]:
        if row.get("status_then"):
            status, since = row["status_then"].split("|", 1)
            return status, since
        initial = self._INITIAL.get(kind)
        return initial, row["made_on"] if initial else None

    @staticmethod
    def _record_item(
        row: dict[str, Any],
        when: When,
        versions: dict[str, int],
        earlier: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        data = orjson.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
        data = {**data, **(earlier or {})}
        item = {
            "id": row["id"],
            "kind": row["kind"],
            **{k: v for k, v in data.items() if k not in ("redacted",)},
            "status": row["status_now"],
            "status_since": row["status_since"],
            "topics": _topics(data),
            "version": versions.get(row["id"], row["version"]),
            "retracted": row["retracted_at"] is not None
            and row["retracted_at"] <= when.known_or_forever,
            "redacted": sorted(data.get("redacted", {})),
        }
        if row["kind"] == "inquiry" and item["status"] == "awaiting":
            follow_up = _plus(row["made_on"], int(data.get("follow_up_after", 0)))
            item["follow_up_on"] = follow_up
            item["overdue"] = when.day > follow_up
        elif row["kind"] == "inquiry":
            item["overdue"] = False
        return item

    # -- scorecards ----------------------------------------------------------------------
    def scorecard(self, actor: str, *, when: When) -> dict[str, Any]:
        made = self._board_tally(when, "made_by", actor)
        assigned = self._board_tally(when, "assignee", actor)
        claims = self._status_tally("claim", "party", actor, when)
        inquiries = self._status_tally("inquiry", "subject", actor, when)
        demands = self._status_tally("demand", "subject", actor, when)
        overdue_inquiries = self.records(
            "inquiry", when=when, subject=actor, status="awaiting", limit=MAX_LIMIT
        )
        return {
            "actor": actor,
            "at": when.day,
            "known_at": when.known,
            "commitments": made,
            "directives_assigned": assigned,
            "claims": {"total": sum(claims.values()), "by_verdict": claims},
            "inquiries": {
                "total": sum(inquiries.values()),
                "answered": inquiries.get("answered", 0),
                "partially_answered": inquiries.get("partially_answered", 0),
                "declined": inquiries.get("declined", 0),
                "awaiting": inquiries.get("awaiting", 0),
                "overdue": sum(1 for i in overdue_inquiries.items if i.get("overdue")),
            },
            "demands": {
                "addressed": sum(demands.values()),
                "met": demands.get("met", 0),
                "partially_met": demands.get("partially_met", 0),
                "rejected": demands.get("rejected", 0),
                "pending": demands.get("pending", 0) + demands.get("acknowledged", 0),
            },
        }

    def _board_tally(self, when: When, column: str, actor: str) -> dict[str, Any]:
        clause, params = self._board_time(when)
        with self.records_view.read() as sql:
            rows = sql.rows(
                "SELECT b.status, b.due_on, b.status_since, b.kind FROM v_board b WHERE "
                f"{clause} AND b.retracted = 0 AND b.{column} = ?",
                [*params, actor],
            )
        counts = {s: 0 for s in ("fulfilled", "partially_fulfilled", "broken", "reversed")}
        counts.update(withdrawn=0, open=0, overdue=0, fulfilled_late=0)
        for r in rows:
            if r["status"] in COMMITMENT_UNRESOLVED:
                counts["open"] += 1
                if r["due_on"] and r["due_on"] < when.day:
                    counts["overdue"] += 1
            else:
                counts[r["status"]] += 1
            if r["status"] == "fulfilled" and r["due_on"] and r["status_since"] > r["due_on"]:
                counts["fulfilled_late"] += 1
        resolved = (
            counts["fulfilled"]
            + counts["partially_fulfilled"]
            + counts["broken"]
            + counts["reversed"]
        )
        return {
            "made": len(rows),
            "kept": counts["fulfilled"],
            "kept_late": counts["fulfilled_late"],
            "partially_kept": counts["partially_fulfilled"],
            "broken": counts["broken"],
            "reversed": counts["reversed"],
            "withdrawn": counts["withdrawn"],
            "open": counts["open"],
            "overdue": counts["overdue"],
            "resolved": resolved,
            "keep_rate": round(counts["fulfilled"] / resolved, 4) if resolved else None,
        }

    def _status_tally(self, kind: str, column: str, actor: str, when: When) -> dict[str, int]:
        tally: dict[str, int] = {}
        cursor: str | None = None
        while True:
            page = self.records(
                kind,
                when=when,
                limit=MAX_LIMIT,
                cursor=cursor,
                party=actor if column == "party" else None,
                subject=actor if column == "subject" else None,
            )
            for item in page.items:
                tally[item["status"]] = tally.get(item["status"], 0) + 1
            if not page.next:
                return tally
            cursor = page.next

    # -- the reporters' follow-up queue --------------------------------------------------
    def follow_ups(self, *, when: When, limit: int = 50, cursor: str | None = None) -> Page:
        """What to chase: passed follow-up dates first, most recent first (yesterday's missed
        deadline is today's story), then what is due in the next 14 days, soonest first."""
        day = when.day
        items: list[dict[str, Any]] = []
        clause, params = self._board_time(when)
        horizon = _plus(day, 14)
        with self.records_view.read() as sql:
            rows = sql.rows(
                "SELECT b.*, r.title FROM v_board b JOIN v_records r ON r.id = b.cid WHERE "
                f"{clause} AND b.retracted = 0 AND b.status IN (?,?,?) AND b.due_on <= ?",
                [*params, *_UNRESOLVED, horizon],
            )
        for r in rows:
            due = r["due_on"]
            if due < day:
                days = days_between(due, day)
                items.append(
                    self._follow_up(
                        "deadline_passed",
                        "commitment",
                        r["cid"],
                        r["title"],
                        _plus(due, 1),
                        f"deadline {due} ({r['due_text'] or r['due_precision']}) passed "
                        f"unresolved; {r['status']}, {days} day{'s' * (days != 1)} overdue",
                        passed=True,
                    )
                )
            elif due >= day:
                days = days_between(day, due)
                items.append(
                    self._follow_up(
                        "deadline_upcoming",
                        "commitment",
                        r["cid"],
                        r["title"],
                        due,
                        f"due {due} ({r['due_text'] or r['due_precision']}), in {days} "
                        f"day{'s' * (days != 1)}; {r['status']}",
                        passed=False,
                    )
                )
        for kind in ("inquiry", "incident", "claim"):
            items.extend(self._record_follow_ups(kind, when))
        passed = sorted(
            (i for i in items if i["passed"]), key=lambda i: (i["since"], i["id"]), reverse=True
        )
        upcoming = sorted(
            (i for i in items if not i["passed"]), key=lambda i: (i["since"], i["id"])
        )
        ordered = passed + upcoming
        start = int(decode_cursor(cursor, int)) if cursor else 0
        page = ordered[start : start + limit]
        more = start + limit < len(ordered)
        return Page(page, encode_cursor(start + limit) if more else None, {"total": len(ordered)})

    def _record_follow_ups(self, kind: str, when: When) -> list[dict[str, Any]]:
        out = []
        cursor: str | None = None
        while True:
            page = self.records(kind, when=when, limit=MAX_LIMIT, cursor=cursor)
            for item in page.items:
                title = item.get("question") or item.get("description") or item.get("text")
                status, since = item["status"], item["status_since"]
                if kind == "inquiry" and status == "declined":
                    out.append(
                        self._follow_up(
                            "inquiry_declined",
                            kind,
                            item["id"],
                            title,
                            since,
                            f"declined to answer on {since}; the refusal is itself news",
                            passed=True,
                        )
                    )
                elif kind == "inquiry" and item.get("overdue"):
                    out.append(
                        self._follow_up(
                            "inquiry_overdue",
                            kind,
                            item["id"],
                            title,
                            _plus(item["follow_up_on"], 1),
                            f"no answer since {item['asked_at'][:10]}; follow-up was due "
                            f"{item['follow_up_on']}",
                            passed=True,
                        )
                    )
                elif kind == "incident" and status == "under_review":
                    out.append(
                        self._follow_up(
                            "incident_under_review",
                            kind,
                            item["id"],
                            title,
                            since,
                            f"under review since {since} with no outcome",
                            passed=True,
                        )
                    )
                elif kind == "claim" and status == "unassessed":
                    out.append(
                        self._follow_up(
                            "claim_unassessed",
                            kind,
                            item["id"],
                            title,
                            since,
                            f"made {since} and not yet assessed",
                            passed=True,
                        )
                    )
            if not page.next:
                return out
            cursor = page.next

    @staticmethod
    def _follow_up(
        reason_code: str,
        kind: str,
        record_id: str,
        title: str | None,
        since: str,
        reason: str,
        *,
        passed: bool,
    ) -> dict[str, Any]:
        return {
            "reason_code": reason_code,
            "record": {"kind": kind, "id": record_id},
            "id": record_id,
            "title": title,
            "since": since,
            "reason": reason,
            "passed": passed,
        }

    # -- the claim file ------------------------------------------------------------------
    def claim_file(self, claim_id: str, *, when: When) -> dict[str, Any] | None:
        page = self.records("claim", when=when, ids=[claim_id], include_retracted=True)
        if not page.items:
            return None
        claim = page.items[0]
        k = when.known_or_forever
        with self.records_view.read() as sql:
            evidence = sql.rows(
                "SELECT * FROM v_evidence WHERE claim_id = ? AND recorded_at <= ? "
                "ORDER BY position",
                [claim_id, k],
            )
            assessments = sql.rows(
                "SELECT * FROM v_statuses WHERE record_id = ? AND recorded_at <= ? "
                "AND occurred_on <= ? ORDER BY occurred_on, position",
                [claim_id, k, when.day],
            )
        items = [
            {
                "stance": e["stance"],
                "confidence": e["confidence"],
                "note": e["note"],
                "sources": orjson.loads(e["sources"]),
                "incident": e["incident"],
                "action": e["action"],
                "recorded_at": e["recorded_at"],
                "position": e["position"],
            }
            for e in evidence
            if e["recorded_at"][:10] <= when.day
        ]
        claim["evidence"] = {
            "for": [e for e in items if e["stance"] == "supports"],
            "against": [e for e in items if e["stance"] == "contradicts"],
            "context": [e for e in items if e["stance"] == "context"],
        }
        history = [
            {"verdict": a["status"], "on": a["occurred_on"], **orjson.loads(a["detail"])}
            for a in assessments
        ]
        claim["verdict"] = claim["status"]
        claim["assessment"] = history[-1] if history else None
        claim["assessments"] = history
        return claim

    # -- timelines and search ------------------------------------------------------------
    def timeline(
        self,
        *,
        when: When,
        topic: str | None = None,
        actor: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Everything about a topic or an actor, in world order, with its sources."""
        key = f"topic:{topic}" if topic else f"actor:{actor}"
        k = when.known_or_forever
        where = [
            "k.key = ?",
            "k.world_on <= ?",
            "e.recorded_at <= ?",
            "(r.retracted_at IS NULL OR r.retracted_at > ?)",
        ]
        params: list[Any] = [key, when.day, k, k]
        if cursor:
            after = decode_cursor(cursor, [str, int])
            where.append("(k.world_on > ? OR (k.world_on = ? AND k.position > ?))")
            params += [after[0], after[0], after[1]]
        with self.timeline_view.read() as sql:
            rows = sql.rows(
                "SELECT e.*, k.world_on AS world FROM t_keys k "
                "JOIN t_entries e ON e.position = k.position "
                "JOIN t_records r ON r.record_id = e.record_id WHERE "
                + " AND ".join(where)
                + " ORDER BY k.world_on, k.position LIMIT ?",
                [*params, limit + 1],
            )
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "position": r["position"],
                "occurred_on": r["world_on"],
                "precision": r["precision"],
                "recorded_at": r["recorded_at"],
                "type": r["type"],
                "record": {"kind": r["kind"], "id": r["record_id"]},
                "summary": r["summary"],
                "sources": orjson.loads(r["sources"]),
            }
            for r in rows
        ]
        last = rows[-1] if more else None
        return Page(items, encode_cursor([last["world_on"], last["position"]]) if last else None)

    def search(
        self,
        q: str,
        *,
        when: When,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Full text over texts, quotes and summaries; best matches first."""
        words = [w for w in q.split() if w.strip('"')]
        if not words:
            return Page([])
        start = int(decode_cursor(cursor, int)) if cursor else 0
        k = when.known_or_forever
        with self.timeline_view.read() as sql:
            if sql.dialect == "sqlite":
                match = " ".join('"' + w.replace('"', "") + '"' for w in words)
                query = (
                    "SELECT s.record_id, s.kind, "
                    "snippet(t_search, 3, '[', ']', '…', 16) AS snippet, r.title "
                    "FROM t_search s JOIN t_records r ON r.record_id = s.record_id "
                    "WHERE t_search MATCH ? AND r.recorded_at <= ? "
                    "AND (r.retracted_at IS NULL OR r.retracted_at > ?)"
                )
                params: list[Any] = [match, k, k]
                order = " ORDER BY bm25(t_search), s.record_id, s.part"
            else:
                query = (
                    "SELECT s.record_id, s.kind, ts_headline('english', s.body, q, "
                    "'StartSel=[,StopSel=],MaxWords=30,MinWords=10') AS snippet, r.title "
                    "FROM t_search s JOIN t_records r ON r.record_id = s.record_id, "
                    "websearch_to_tsquery('english', ?) q "
                    "WHERE s.tsv @@ q AND r.recorded_at <= ? "
                    "AND (r.retracted_at IS NULL OR r.retracted_at > ?)"
                )
                params = [" ".join(words), k, k]
                order = " ORDER BY ts_rank(s.tsv, q) DESC, s.record_id, s.part"
            if kind:
                query += " AND s.kind = ?"
                params.append(kind)
            # A record matches on its text or on what happened to it: one hit per record.
            found = sql.rows(query + order + " LIMIT ?", [*params, (start + limit + 1) * 4])
        best: dict[str, dict[str, Any]] = {}
        for row in found:
            best.setdefault(row["record_id"], row)
        rows = list(best.values())[start : start + limit + 1]
        more = len(rows) > limit
        items = [
            {
                "record": {"kind": r["kind"], "id": r["record_id"]},
                "title": r["title"],
                "snippet": r["snippet"],
            }
            for r in rows[:limit]
        ]
        return Page(items, encode_cursor(start + limit) if more else None)

    # -- what the deadline watcher has not yet noticed -------------------------------------
    def unnoticed_deadlines(self, day: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Unresolved commitments whose deadline passed before `day` with no notice yet."""
        with self.records_view.read() as sql:
            found: list[dict[str, Any]] = sql.rows(
                "SELECT b.cid, b.due_on, b.status FROM v_board b WHERE b.rec_to = ? "
                "AND b.world_from <= ? AND b.world_to > ? AND b.retracted = 0 "
                "AND b.status IN (?,?,?) AND b.due_on < ? AND NOT EXISTS (SELECT 1 FROM "
                "v_notices n WHERE n.record_id = b.cid AND n.kind = 'deadline' "
                "AND n.on_date = b.due_on) ORDER BY b.due_key, b.cid LIMIT ?",
                [FOREVER_RECORDED, day, day, *_UNRESOLVED, day, limit],
            )
        return found

    def unnoticed_inquiries(self, day: str) -> list[dict[str, Any]]:
        """Inquiries still awaiting an answer after their follow-up date, with no notice."""
        page = self.records("inquiry", when=When(day, None), status="awaiting", limit=MAX_LIMIT)
        due = [i for i in page.items if i.get("overdue")]
        if not due:
            return []
        with self.records_view.read() as sql:
            noticed = {
                (r["record_id"], r["on_date"])
                for r in sql.rows(
                    "SELECT record_id, on_date FROM v_notices WHERE kind = 'inquiry' AND "
                    f"record_id IN ({','.join('?' * len(due))})",
                    [i["id"] for i in due],
                )
            }
        return [i for i in due if (i["id"], i["follow_up_on"]) not in noticed]

    # -- read-your-writes ----------------------------------------------------------------
    def positions(self) -> dict[str, int]:
        return {
            "records": self.records_view.max_tracking_id("records") or 0,
            "timeline": self.timeline_view.max_tracking_id("timeline") or 0,
        }

    def wait(self, position: int, timeout: float) -> bool:
        """Wait until every view has caught up to `position`; False if it did not in time."""
        try:
            self.records_view.wait("records", position, timeout=timeout)
            self.timeline_view.wait("timeline", position, timeout=timeout)
        except TimeoutError:
            return False
        return True
