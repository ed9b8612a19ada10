"""Running the followers: in-process (what `make serve` uses) or as `ledger worker`.

Each follower reads the log from its own tracking position, a batch at a time, and commits
its rows with the tracking of the batch's last event (exactly once). Followers at the same
position share one read and decode of the log. One process holds each follower at a time:
on PostgreSQL by an advisory lock on a connection of its own, on SQLite by a lock on a file
beside the views; a process that dies releases its locks, and another takes over within a
poll interval.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking

from ledger.admin import Admin
from ledger.app import Ledger
from ledger.clock import Clock, SystemClock
from ledger.config import Settings, StoreURL
from ledger.integrity import Signer
from ledger.store import pg_conninfo
from projections import slices
from projections.db import Sql, StaleBatch, open_view, views_path
from projections.integrity import (
    INTEGRITY_TABLES,
    IntegrityProjection,
    IntegrityQueries,
    PostgresIntegrityView,
    SQLiteIntegrityView,
)
from projections.outbox import (
    OUTBOX_TABLES,
    OutboxProjection,
    OutboxQueries,
    PostgresOutboxView,
    SQLiteOutboxView,
)
from projections.queries import Views
from projections.records import (
    RECORD_TABLES,
    PostgresRecordsView,
    RecordsProjection,
    SQLiteRecordsView,
)
from projections.timeline import (
    TIMELINE_TABLES,
    PostgresTimelineView,
    SQLiteTimelineView,
    TimelineProjection,
)

log = logging.getLogger("ledger.followers")
#: Tables whose rows record when something happened, not what the log holds.
SIGNED_AT_TIMES = frozenset({"i_checkpoints"})
#: A catch-up that starts at least this many events behind (a rebuild, a first start) is
#: a *bulk* catch-up for that follower: it drops the indexes only queries read, and at its
#: end builds them again, then refreshes the PostgreSQL planner's statistics of the
#: follower's tables, so a rebuilt view is planned for its real size at once, without waiting
#: for autovacuum (which a server may run late, or not at all). Meanwhile queries of that
#: view still answer, from what it holds so far, but without those indexes. The records
#: follower also writes the board's month slices only at the end (`slices.begin_bulk`).
BULK_AFTER = 50_000
#: Most events a follower takes in one transaction. Long catch-ups (a rebuild, a first start)
#: run faster in fewer, larger transactions: each commit writes the index pages it touched,
#: and a page touched by many events of a batch is written once. At 100k events, 20,000
#: per batch caught up 1.2x as fast as 5,000, for about 85 MB more memory.
BATCH = 20_000
#: Followers `ledger rebuild` replays when none is named. The outbox is left out: replaying
#: it would deliver every webhook again.
REBUILT_BY_DEFAULT = ("records", "timeline", "integrity")


class _CyclePause:
    """Python's cycle collector held off while a batch is applied. A batch's events and rows
    live until its end, so the collector would otherwise find them in its oldest generation
    and walk every object of the process again and again for nothing: at 1M events that
    doubled the time to read and decode the log. What a batch leaves is freed as it ends (by
    reference counts, as almost all of it is); the collector, on again once no batch in the
    process is running, finds any cycles later. If it was off to begin with, it stays off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._was_on = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._was_on = gc.isenabled()
                gc.disable()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0 and self._was_on:
                    gc.enable()


_CYCLES = _CyclePause()


@dataclass(frozen=True)
class FollowerSpec:
    name: str
    projection: type[Any]
    views: tuple[type[Any], type[Any]]
    tables: tuple[str, ...]


FOLLOWERS: dict[str, FollowerSpec] = {
    "records": FollowerSpec(
        "records", RecordsProjection, (SQLiteRecordsView, PostgresRecordsView), RECORD_TABLES
    ),
    "timeline": FollowerSpec(
        "timeline",
        TimelineProjection,
        (SQLiteTimelineView, PostgresTimelineView),
        TIMELINE_TABLES,
    ),
    "integrity": FollowerSpec(
        "integrity",
        IntegrityProjection,
        (SQLiteIntegrityView, PostgresIntegrityView),
        INTEGRITY_TABLES,
    ),
    "outbox": FollowerSpec(
        "outbox", OutboxProjection, (SQLiteOutboxView, PostgresOutboxView), OUTBOX_TABLES
    ),
}


class Followers:
    """A store's views: where they live, how they are fed, and the queries over them."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        clock: Clock | None = None,
        admin: Admin | None = None,
        names: tuple[str, ...] = (),
    ) -> None:
        self.ledger = ledger
        self.admin = admin
        self.settings: Settings = ledger.settings
        self.store: StoreURL = self.settings.store
        available = tuple(n for n in FOLLOWERS if n != "outbox" or admin is not None)
        self.names = names or available
        self.views = {n: open_view(self.store, n, FOLLOWERS[n].views) for n in FOLLOWERS}
        self.signer = Signer.from_settings(self.settings)
        self.projections = {
            n: FOLLOWERS[n].projection(self.views[n], self.settings.timezone)
            for n in ("records", "timeline")
        }
        self.projections["integrity"] = IntegrityProjection(
            self.views["integrity"],
            signer=self.signer,
            every=self.settings.checkpoint_every,
            clock=clock or ledger.clock,
            mapper=ledger.mapper,
        )
        now = clock or ledger.clock
        base_url = self.settings.public_url
        if admin is not None:
            self.projections["outbox"] = OutboxProjection(
                self.views["outbox"], ledger=ledger, admin=admin, base_url=base_url
            )
        self.outbox = OutboxQueries(self.views["outbox"], ledger, now, base_url)
        self.integrity = IntegrityQueries(
            self.views["integrity"], self.signer, clock or ledger.clock
        )
        self.queries = Views(
            self.views["records"],
            self.views["timeline"],
            timezone=self.settings.timezone,
            clock=clock or ledger.clock,
        )
        #: Seconds each follower has spent applying batches in this process.
        self.spent: dict[str, float] = dict.fromkeys(FOLLOWERS, 0.0)
        #: Seconds long catch-ups have spent at their end: writing the board's month slices
        #: and building the query indexes again.
        self.bulk_spent: dict[str, float] = {"slices": 0.0, "indexes": 0.0}
        if self._board_predates_slices():
            log.info("the board has no month slices: the records view is built again")
            self.rebuild("records")
        for name in REBUILT_BY_DEFAULT:
            self._replay_if_outdated(name)

    def _replay_if_outdated(self, name: str) -> None:
        """Replay a view (as `rebuild` does) if an earlier version of its follower wrote it
        (`VERSION` of its view). A view that has followed the log without a version written
        is of version 1. Openers decide one at a time, under a lock, so two processes
        starting together replay a view once; the batch that then starts it again records
        the version of the code that writes it."""
        view = self.views[name]
        with view.read() as sql:
            recorded = view.stored_version(sql, name)
        if recorded is not None and recorded >= view.VERSION:
            return
        with view.write() as sql:
            view.lock_versions(sql)
            recorded = view.stored_version(sql, name)
            if recorded is None and view.tracked(sql, name) == 0:
                return  # nothing written yet: its first batch records the version
            stored = 1 if recorded is None else recorded
            if stored >= view.VERSION:
                if recorded is None:
                    view.mark_version(sql, name, stored)
                return
            log.info("the %s view was written by an earlier version: replaying it", name)
            self._empty(sql, name)
            sql.run("DELETE FROM view_versions WHERE name = ?", [name])

    def _board_predates_slices(self) -> bool:
        """Whether the records view was built before the board had month slices, or before
        they had their present columns (opening the view then dropped them)."""
        with self.views["records"].read() as sql:
            rows = sql.one("SELECT 1 AS x FROM v_board LIMIT 1")
            # Horizons a long catch-up keeps count too: its end writes the slices.
            return rows is not None and not sql.one("SELECT 1 AS x FROM v_board_horizon LIMIT 1")

    def close(self) -> None:
        for view in self.views.values():
            view.close()

    def position(self, name: str) -> int:
        return int(self.views[name].max_tracking_id(name) or 0)

    def lag(self) -> dict[str, int]:
        head = self.ledger.last_position()
        return {name: max(0, head - self.position(name)) for name in self.names}

    def catch_up(
        self,
        names: tuple[str, ...] | None = None,
        *,
        batch: int = BATCH,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
        bulk_after: int = BULK_AFTER,
    ) -> int:
        """Feed the named followers until they reach the head of the log (or `limit` events);
        returns how many events were processed. Followers at one position share each read."""
        names = names or self.names
        head = self.ledger.last_position()
        ahead = limit if limit is not None else head
        bulk = [n for n in names if min(ahead, head - self.position(n)) >= bulk_after]
        try:
            for name in bulk:
                self.views[name].drop_query_indexes()
                if name == "records":
                    with self.views[name].write() as sql:
                        slices.begin_bulk(sql)
            return self._feed(names, batch, limit, progress, stop)
        finally:
            started = time.perf_counter()
            # When stopping, the slices are left to the next catch-up.
            stopping = stop is not None and stop.is_set()
            with _CYCLES.paused():
                wrote = "records" in names and not stopping and self._end_bulk_slices()
            if wrote:
                self.bulk_spent["slices"] += time.perf_counter() - started
            started = time.perf_counter()
            for name in bulk:
                self.views[name].build_query_indexes()
                self._analyze(name)
            if bulk:
                self.bulk_spent["indexes"] += time.perf_counter() - started

    def _end_bulk_slices(self) -> bool:
        """Write the board's slices, if a long catch-up of the records follower (this one,
        or one a dead process left) put them off; whether it did."""
        view = self.views["records"]
        with view.read() as sql:
            if not slices.Horizons.stored(sql).bulk:
                return False
        with view.write() as sql:
            slices.end_bulk(sql, self.settings.timezone)
        return True

    def _feed(
        self,
        names: tuple[str, ...],
        batch: int,
        limit: int | None,
        progress: Callable[[int], None] | None,
        stop: threading.Event | None,
    ) -> int:
        done = 0
        while not (stop and stop.is_set()):
            positions = {name: self.position(name) for name in names}
            start = min(positions.values())
            size = batch if limit is None else min(batch, limit - done)
            if size <= 0:
                break
            with _CYCLES.paused():
                notifications = self.ledger.store.select_notifications(
                    start=start, limit=size, inclusive_of_start=False
                )
                if not notifications:
                    break
                events = [
                    (self.ledger.mapper.to_domain_event(n), n.id, n.state) for n in notifications
                ]
                last, count = notifications[-1].id, len(notifications)
                for name, position in positions.items():
                    mine = [item for item in events if item[1] > position]
                    if mine:
                        self._commit(name, mine, position, last)
                # Freed here, not walked by the collector once it is on again.
                del notifications, events, mine
            done += count
            if progress:
                progress(count)
        return done

    def _analyze(self, name: str) -> None:
        view = self.views[name]
        if view.dialect != "postgres":
            return  # SQLite's planner is left to its rules: the queries are written for them
        with view.write() as sql:
            for table in FOLLOWERS[name].tables:
                sql.run(f"ANALYZE {table}")

    def _commit(
        self, name: str, events: list[tuple[Any, int, bytes]], after: int, last: int
    ) -> None:
        projection = self.projections[name]
        start = time.perf_counter()
        try:
            projection.process_batch(events, Tracking(name, last), after=after)
        except StaleBatch:
            log.info("follower %s moved on meanwhile; reading again", name)
        finally:
            self.spent[name] += time.perf_counter() - start

    def rebuild(self, name: str) -> None:
        """Empty a follower's tables and tracking in one transaction; whoever holds the
        follower then replays the log into it from the start."""
        with self.views[name].write() as sql:
            self._empty(sql, name)

    def _empty(self, sql: Sql, name: str) -> None:
        self.views[name].reset_tracking(sql, name)
        for table in FOLLOWERS[name].tables:
            sql.run(f"DELETE FROM {table}")

    def snapshot(self, name: str) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of a follower's tables, sorted: to compare a rebuild with the original."""
        read = {}
        with self.views[name].read() as sql:
            for table in FOLLOWERS[name].tables:
                if table in SIGNED_AT_TIMES:
                    continue  # signatures of the tree at moments, not derived from the log
                columns = "record_id, kind, part, body" if table == "t_search" else "*"
                read[table] = sql.rows(f"SELECT {columns} FROM {table}")
        # Sorted once the transaction is over: a long pause inside one is cut off on
        # PostgreSQL (the store's idle-in-transaction timeout).
        return {
            table: sorted(tuple(str(v) for v in r.values()) for r in rows)
            for table, rows in read.items()
        }


# -- holding a follower ----------------------------------------------------------------
class FollowerLock:
    """Exclusive hold of one follower by one process, released when the process dies."""

    def __init__(self, store: StoreURL, name: str) -> None:
        self.store = store
        self.name = name
        self._conn: psycopg.Connection[Any] | None = None
        self._file: Any = None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.store.is_sqlite:
            path = Path(views_path(self.store) + f".{self.name}.lock")
            handle = path.open("a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._file = handle
            return True
        conn = psycopg.connect(pg_conninfo(self.store), autocommit=True)
        key = int.from_bytes(
            hashlib.sha256(f"{self.store.pg_schema}/{self.name}".encode()).digest()[:8],
            "big",
            signed=True,
        )
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row and row[0]:
            self._conn = conn
            return True
        conn.close()
        return False

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
                self._file.close()
            self._file = None


class Runner:
    """Feeds followers in a background thread, and runs periodic jobs (the deadline watcher)
    beside them. `start()`/`stop()`, or use as a context manager."""

    def __init__(
        self,
        followers: Followers,
        *,
        poll: float = 0.2,
        batch: int = BATCH,
        jobs: list[tuple[float, Callable[[], Any]]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.followers = followers
        self.poll = poll
        self.batch = batch
        self.jobs = jobs or []
        self.clock = clock or SystemClock()
        self.locks = {n: FollowerLock(followers.store, n) for n in followers.names}
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="followers", daemon=True)
        followers.ledger.listeners.append(lambda _position: self.wake.set())

    def start(self) -> Runner:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake.set()
        self._thread.join(timeout)
        for lock in self.locks.values():
            lock.release()

    def __enter__(self) -> Runner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def held(self) -> tuple[str, ...]:
        return tuple(n for n, lock in self.locks.items() if lock.held)

    def _run(self) -> None:
        next_run = [0.0 for _ in self.jobs]
        while not self.stopping.is_set():
            try:
                held = tuple(n for n, lock in self.locks.items() if lock.try_acquire())
                worked = (
                    self.followers.catch_up(held, batch=self.batch, stop=self.stopping)
                    if held
                    else 0
                )
                now = time.monotonic()
                for i, (every, job) in enumerate(self.jobs):
                    if now >= next_run[i]:
                        next_run[i] = now + every
                        job()
            except Exception as e:  # keep following; the error is logged and kept
                self.error = e
                log.exception("follower runner error")
                worked = 0
            if not worked:
                self.wake.wait(self.poll)
                self.wake.clear()


@contextlib.contextmanager
def running(followers: Followers, **kwargs: Any) -> Iterator[Runner]:
    runner = Runner(followers, **kwargs).start()
    try:
        yield runner
    finally:
        runner.stop()
