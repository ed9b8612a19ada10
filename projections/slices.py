"""Month slices of the board: what keeps `at` and `known_at` queries flat as history grows.

A board row (see `timeline_math`) is valid over a rectangle of world time x recording time.
A page of the board "on day D, as known at K" must find the rows whose rectangle holds
(D, K), in due-date order, and stop after one page. Scanning every row ordered by due date
and testing each would cost in proportion to the whole history; instead each row is also
written as one small *slice* per calendar month it covers, along one of two axes:

- `w` (world): every current row (not superseded in recording time), once per world month
  from its start to its end. "On day D" reads the slices of D's month: the rows alive at
  some moment of that month, of which a steady share is alive on D itself.
- `r` (recorded): every row that runs on in world time as known when it was written (the
  commitment's latest segment then, or one reaching past the day it was recorded), once per
  recording month of its validity. "As the ledger showed it on day K" (D not before K's
  day) reads the slices of K's month.

Rows that run on forever are sliced up to a *horizon*: the latest world month the ledger's
facts reach (never past the month they were recorded in) and the latest recording month.
When a horizon moves on, the slices of the new months are written in bulk; a query beyond a
horizon reads the rows that run on directly. Slices carry the columns board filters test
and an index per filter, so every filtered first page is one short index range, whatever
the length of the history. Slices also carry what a board item shows: on SQLite their
indexes hold it too, so a page's rows are read from one index range instead of being looked
up one by one among every row of the history. A query whose world date is before its ledger
date reads the rows themselves (the general case).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from ledger.clock import local_date
from ledger.domain.vocab import COMMITMENT_UNRESOLVED
from projections.db import FOREVER_RECORDED, Sql
from projections.timeline_math import FOREVER

#: Columns a slice copies from its row (the row's key first): what the filters test and
#: what a board item shows (see `query_indexes` for where a page reads the latter).
SLICE_COLUMNS = (
    "cid",
    "world_from",
    "rec_from",
    "world_to",
    "rec_to",
    "status",
    "due_on",
    "due_key",
    "kind",
    "made_by",
    "assignee",
    "retracted",
    "status_since",
    "due_precision",
    "due_text",
    "due_basis",
    "original_due_on",
    "last_reason",
    "last_sources",
)

_TESTED = "rec_from, rec_to, world_from, world_to, retracted, status, due_on"

#: The test of an unresolved commitment, spelled with its values: a query that tests it in
#: these words may read the `unresolved` index, which holds only the slices it admits.
UNRESOLVED = "status IN ({})".format(", ".join(f"'{s}'" for s in sorted(COMMITMENT_UNRESOLVED)))

TABLES = [
    "CREATE TABLE IF NOT EXISTS v_board_slices (axis TEXT NOT NULL, bucket TEXT NOT NULL, "
    "cid TEXT NOT NULL, world_from TEXT NOT NULL, rec_from TEXT NOT NULL, "
    "world_to TEXT NOT NULL, rec_to TEXT NOT NULL, status TEXT NOT NULL, due_on TEXT, "
    "due_key TEXT NOT NULL, kind TEXT NOT NULL, made_by TEXT NOT NULL, assignee TEXT, "
    "retracted INTEGER NOT NULL, status_since TEXT NOT NULL, due_precision TEXT, "
    "due_text TEXT, due_basis TEXT, original_due_on TEXT, last_reason TEXT, "
    "last_sources TEXT NOT NULL, PRIMARY KEY (axis, bucket, cid, world_from, rec_from))",
    "CREATE INDEX IF NOT EXISTS v_slices_row ON v_board_slices (cid, world_from, rec_from)",
    "CREATE TABLE IF NOT EXISTS v_board_horizon (axis TEXT PRIMARY KEY, bucket TEXT NOT NULL)",
]
#: The rest of a slice's columns: what else a board item shows.
_SHOWN = ", ".join(c for c in SLICE_COLUMNS if c not in {"cid", "due_key", *_TESTED.split(", ")})


def query_indexes(*, showing_items: bool) -> list[str]:
    """Each filter's index: in page order, then what the two clocks and the filters test, so
    a page is found in the index alone. `showing_items` adds the rest of what a board item
    shows, so a page's rows are read from one short range of the index too, instead of
    being looked up one by one (SQLite: its indexes take long text; PostgreSQL's do not,
    past about 2.7 kB, and there the page's rows are looked up). Only directives have an
    assignee: its index holds the slices that name one. Overdue commitments are unresolved
    ones: theirs holds only unresolved slices, so an overdue page is one range in due order
    instead of one per status, each read a page deep and merged."""
    shown = f", {_SHOWN}" if showing_items else ""
    return [
        f"CREATE INDEX IF NOT EXISTS v_slices_{name} ON v_board_slices "
        f"(axis, bucket, {lead}due_key, cid, {_TESTED}{shown}){where}"
        for name, lead, where in (
            ("order", "", ""),
            ("status", "status, ", ""),
            ("made_by", "made_by, ", ""),
            ("assignee", "assignee, ", " WHERE assignee IS NOT NULL"),
            ("unresolved", "", f" WHERE {UNRESOLVED}"),
        )
    ]


SLICE_TABLES = ("v_board_slices", "v_board_horizon")

_COLUMNS = ", ".join(SLICE_COLUMNS)
_slice_columns = operator.itemgetter(*SLICE_COLUMNS)
_INSERT_SELECT = f"INSERT INTO v_board_slices (axis, bucket, {_COLUMNS}) SELECT"
_INSERT = (
    f"INSERT INTO v_board_slices (axis, bucket, {_COLUMNS}) "
    f"VALUES (?,?,{','.join('?' * len(SLICE_COLUMNS))}) ON CONFLICT DO NOTHING"
)


@functools.lru_cache(maxsize=65536)
def months(first: str, last: str) -> tuple[str, ...]:
    """Every month from `first` to `last` ('YYYY-MM'), both included."""
    found = []
    year, month = int(first[:4]), int(first[5:7])
    while (key := f"{year:04d}-{month:02d}") <= last:
        found.append(key)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(found)


def _month_end(month: str) -> str:
    """The last day of a month, as an ISO date."""
    year, m = int(month[:4]), int(month[5:7])
    first_next = date(year + 1, 1, 1) if m == 12 else date(year, m + 1, 1)
    return (first_next - timedelta(days=1)).isoformat()


@functools.lru_cache(maxsize=65536)
def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def runs_ahead(row: dict[str, Any], timezone: str) -> bool:
    """Whether the row ends, in world time, after the day it was recorded (a fact dated
    ahead of its recording drew that end): such a row can hold "on the day of K"."""
    end: str = row["world_to"]
    if end == FOREVER or end < row["rec_from"][:10]:
        return end == FOREVER
    moment = datetime.fromisoformat(row["rec_from"].replace("Z", "+00:00"))
    return bool(end > local_date(moment, timezone).isoformat())


#: While a long catch-up leaves the slices alone (`begin_bulk`), the horizons its batches have
#: reached are stored under these names instead of "w" and "r", with "" for none.
_BULK = {"w": "bulk:w", "r": "bulk:r"}


class Horizons:
    """The board's two horizons, read once per batch, moved by the batch's facts. `bulk`:
    read from where a long catch-up keeps them, and the slices are left alone."""

    def __init__(self, before: dict[str, str | None], *, bulk: bool = False) -> None:
        self.before: dict[str, str | None] = {"w": before.get("w"), "r": before.get("r")}
        self.now: dict[str, str | None] = dict(self.before)
        self.bulk = bulk

    @classmethod
    def stored(cls, sql: Sql) -> Horizons:
        rows = {r["axis"]: r["bucket"] for r in sql.rows("SELECT * FROM v_board_horizon")}
        if _BULK["w"] in rows:
            return cls({axis: rows.get(name) or None for axis, name in _BULK.items()}, bulk=True)
        return cls(rows)

    def see(self, world_day: str, recorded: str) -> None:
        """A fact of world day `world_day` recorded at `recorded` (a recording key)."""
        # A fact dated ahead moves the world horizon only as far as its recording month.
        for axis, month in (("w", min(world_day[:7], recorded[:7])), ("r", recorded[:7])):
            if self.now[axis] is None or month > str(self.now[axis]):
                self.now[axis] = month

    def new_months(self, axis: str) -> list[str]:
        """The months an axis's horizon has reached in this batch."""
        before, now = self.before[axis], self.now[axis]
        if before is None or now is None:
            return []
        return [month for month in months(before, now) if month != before]

    def slices(self, row: dict[str, Any], timezone: str) -> Iterator[tuple[str, str]]:
        """The (axis, month) slices of a board row, given the horizons."""
        horizon_w, horizon_r = self.now["w"], self.now["r"]
        if row["rec_to"] == FOREVER_RECORDED and horizon_w is not None:
            end = horizon_w if row["world_to"] == FOREVER else _day_before(row["world_to"])[:7]
            for month in months(row["world_from"][:7], min(end, horizon_w)):
                yield "w", month
        if horizon_r is not None and runs_ahead(row, timezone):
            end = horizon_r if row["rec_to"] == FOREVER_RECORDED else row["rec_to"][:7]
            for month in months(row["rec_from"][:7], end):
                yield "r", month


def write(
    sql: Sql,
    horizons: Horizons,
    touched: set[tuple[str, str, str]],
    rows: list[dict[str, Any]],
    timezone: str,
) -> None:
    """Replace the slices of the `touched` board rows (`rows` are those that remain, as
    written) and slice what runs on into months the horizons have just reached. Runs after
    the board rows themselves are written. In a long catch-up, only the horizons move."""
    if horizons.bulk:
        _write_horizons(sql, horizons)
        return
    sql.many(
        "DELETE FROM v_board_slices WHERE cid = ? AND world_from = ? AND rec_from = ?",
        list(touched),
    )
    # Every current row alive at some moment of a new world month.
    for month in horizons.new_months("w"):
        sql.run(
            f"{_INSERT_SELECT} 'w', ?, {_COLUMNS} FROM v_board WHERE rec_to = ? "
            "AND world_to > ? AND world_from <= ? ON CONFLICT DO NOTHING",
            [month, FOREVER_RECORDED, f"{month}-01", _month_end(month)],
        )
    # What still runs on at the old recording horizon runs on into each new month.
    for month in horizons.new_months("r"):
        sql.run(
            f"{_INSERT_SELECT} 'r', ?, {_COLUMNS} FROM v_board_slices WHERE axis = 'r' "
            "AND bucket = ? AND rec_to = ? ON CONFLICT DO NOTHING",
            [month, horizons.before["r"], FOREVER_RECORDED],
        )
    sql.many(_INSERT, _sliced(horizons, rows, timezone))
    _write_horizons(sql, horizons)


def _sliced(horizons: Horizons, rows: list[dict[str, Any]], timezone: str) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for row in rows:
        columns = _slice_columns(row)
        found.extend((axis, month, *columns) for axis, month in horizons.slices(row, timezone))
    return found


def _write_horizons(sql: Sql, horizons: Horizons) -> None:
    for axis in ("w", "r"):
        if horizons.now[axis] != horizons.before[axis]:
            _put(sql, _BULK[axis] if horizons.bulk else axis, horizons.now[axis] or "")


def _put(sql: Sql, name: str, bucket: str) -> None:
    sql.run(
        "INSERT INTO v_board_horizon (axis, bucket) VALUES (?, ?) "
        "ON CONFLICT (axis) DO UPDATE SET bucket = excluded.bucket",
        [name, bucket],
    )


# -- long catch-ups -----------------------------------------------------------------------
# Rewriting a row's slices at each of its changes costs a long catch-up (a rebuild, a first
# start) more than all the rest of the records follower. Such a catch-up writes no slices
# until its end, then all of them at once. Meanwhile the board has no horizons, so it reads
# its rows directly (the general case, always right). The horizons the catch-up reaches are
# stored with each batch, under other names: a process that dies before the end leaves
# them, and whoever catches the follower up next ends the work.


def begin_bulk(sql: Sql) -> None:
    horizons = Horizons.stored(sql)
    if horizons.bulk:
        return  # an earlier catch-up's, not ended: it goes on from there
    sql.run("DELETE FROM v_board_horizon")
    for axis, name in _BULK.items():
        _put(sql, name, horizons.now[axis] or "")


#: Board rows read at a time when all slices are written again.
_CHUNK = 20_000


def end_bulk(sql: Sql, timezone: str) -> None:
    """Write every slice again, from the board rows and the horizons a long catch-up reached,
    then store those horizons as the board's."""
    horizons = Horizons.stored(sql)
    if not horizons.bulk:
        return
    sql.run("DELETE FROM v_board_slices")
    after = ("", "", "")
    while True:
        # Only rows with a slice: current ones (world axis), or ones that may run ahead of
        # the day they were recorded (recording axis, see `runs_ahead`).
        rows = sql.rows(
            "SELECT * FROM v_board WHERE (cid, world_from, rec_from) > (?, ?, ?) "
            "AND (rec_to = ? OR world_to >= substr(rec_from, 1, 10)) "
            "ORDER BY cid, world_from, rec_from LIMIT ?",
            [*after, FOREVER_RECORDED, _CHUNK],
        )
        if not rows:
            break
        sql.many(_INSERT, _sliced(horizons, rows, timezone))
        last = rows[-1]
        after = (last["cid"], last["world_from"], last["rec_from"])
    sql.run("DELETE FROM v_board_horizon")
    for axis, bucket in horizons.now.items():
        if bucket is not None:
            _put(sql, axis, bucket)
