"""Where views are stored: eventsourcing tracking recorders extended with view tables.

A view is a `TrackingRecorder` subclass (SQLite or PostgreSQL) that writes its rows and its
tracking position in one transaction, so each event counts exactly once. On SQLite the views
live in a file of their own beside the event store (`ledger.db` -> `ledger-views.db`), so
followers never wait on the store's write lock; on PostgreSQL they share the store's schema.

SQL here is written once, with `?` placeholders, in the subset both databases share.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol

import psycopg
from eventsourcing.persistence import (
    InfrastructureFactory,
    OperationalError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier

from ledger.config import StoreURL
from ledger.store import persistence_env, schema_lock

log = logging.getLogger("ledger.followers")

#: The end of time, for intervals still open.
FOREVER = "9999-12-31"
FOREVER_RECORDED = "9999-12-31T23:59:59.999999Z"


class Sql:
    """A cursor in one transaction, with dict rows and `?` placeholders on both databases."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        # On SQLite, the sqlite3 cursor inside eventsourcing's wrapper, for its description.
        self.cursor = getattr(cursor, "sqlite_cursor", cursor)
        self.dialect = dialect

    def _q(self, query: str) -> str:
        return query if self.dialect == "sqlite" else query.replace("?", "%s")

    def run(self, query: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self._q(query), tuple(params))

    def many(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row. On PostgreSQL an INSERT ... VALUES, or a DELETE by
        a conjunction of `column = ?`, takes all the rows in one statement, a column to an
        array: a round trip per row costs more than the row itself."""
        if not rows:
            return
        if self.dialect == "postgres" and (statement := _row_statement(query)) is not None:
            verb, table, columns, tail = statement
            types = self._column_types(table)
            columns = columns or list(types)
            arrays = ", ".join(f"%b::{types[c]}[]" for c in columns)
            names = ", ".join(columns)
            text = (
                f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"
                + tail.replace("%", "%%")
                if verb == "insert"
                else f"DELETE FROM {table} WHERE ({names}) IN (SELECT * FROM unnest({arrays}))"
            )
            self.cursor.execute(text, [list(column) for column in zip(*rows, strict=True)])
            return
        self.cursor.executemany(self._q(query), [tuple(r) for r in rows])

    def _column_types(self, table: str) -> dict[str, str]:
        """A PostgreSQL table's columns (in the search path), each with its type."""
        if table not in _PG_COLUMN_TYPES:
            self.cursor.execute(
                "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type "
                "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
                "AND NOT a.attisdropped ORDER BY a.attnum",
                (table,),
            )
            _PG_COLUMN_TYPES[table] = {r["name"]: r["type"] for r in self.cursor.fetchall()}
        return _PG_COLUMN_TYPES[table]

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self._q(query), tuple(params))
        found: list[Any] = self.cursor.fetchall()
        if self.dialect == "postgres":
            return found  # psycopg's dict rows, fresh for each fetch
        # A sqlite3.Row finds a column by name by comparing it with each name in turn.
        names = [d[0] for d in self.cursor.description or ()]
        return [dict(zip(names, r, strict=True)) for r in found]

    def one(self, query: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(query, params)
        return found[0] if found else None


_INSERT_ROWS = re.compile(
    r"^INSERT INTO (\w+)\s*(?:\(([\w\s,]+)\))?\s*VALUES\s*\(\?(?:\s*,\s*\?)*\)([^?]*)$",
    re.IGNORECASE | re.DOTALL,
)
_DELETE_ROWS = re.compile(
    r"^DELETE FROM (\w+) WHERE (\w+\s*=\s*\?(?:\s+AND\s+\w+\s*=\s*\?)*)$", re.IGNORECASE
)


def _columns(text: str, separator: str) -> list[str]:
    return [part.split("=")[0].strip() for part in re.split(separator, text.strip())]


@functools.lru_cache(maxsize=256)
def _row_statement(query: str) -> tuple[str, str, list[str] | None, str] | None:
    """A statement run once per row, when it can take all the rows at once: whether it
    inserts or deletes, its table, the columns the rows give (None: all of them, in order)
    and what follows the rows (an ON CONFLICT clause)."""
    query = query.strip()
    if (insert := _INSERT_ROWS.match(query)) is not None:
        table, listed, tail = insert.groups()
        return "insert", table, _columns(listed, ",") if listed else None, tail
    if (delete := _DELETE_ROWS.match(query)) is not None:
        return "delete", delete.group(1), _columns(delete.group(2), r"\s+AND\s+"), ""
    return None


#: The column types of view tables on PostgreSQL, by table (every schema has the same).
_PG_COLUMN_TYPES: dict[str, dict[str, str]] = {}


def table_columns(sql: Sql, table: str) -> list[str]:
    """The names of a table's columns (in the search path on PostgreSQL)."""
    if sql.dialect == "sqlite":
        return [r["name"] for r in sql.rows("SELECT name FROM pragma_table_info(?)", [table])]
    return [
        r["name"]
        for r in sql.rows(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            [table],
        )
    ]


def _table_name(statement: str) -> str | None:
    """The name a CREATE TABLE IF NOT EXISTS statement gives its table, if it is one."""
    found = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) ", statement)
    return found.group(1) if found else None


def index_name(statement: str) -> str:
    """The name a CREATE INDEX IF NOT EXISTS statement gives its index."""
    found = re.match(r"CREATE INDEX IF NOT EXISTS (\w+) ON ", statement)
    if found is None:
        raise ValueError(f"not a CREATE INDEX IF NOT EXISTS statement: {statement!r}")
    return found.group(1)


class ViewStore(Protocol):
    """What followers and queries need of a view recorder, on either database."""

    dialect: str

    def write(self) -> Any: ...

    def read(self) -> Any: ...

    def track(self, sql: Sql, tracking: Tracking) -> None: ...

    def drop_query_indexes(self) -> None: ...

    def build_query_indexes(self) -> None: ...

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def wait(
        self, application_name: str, notification_id: int | None, timeout: float = 1.0
    ) -> None: ...

    def close(self) -> None: ...


def in_lists(ids: Sequence[str], size: int = 400) -> Iterator[tuple[list[str], str]]:
    """Ids a few hundred at a time, each list with its `?` marks for an `IN (...)`: a batch
    reads the rows it needs in a few statements rather than one (a round trip on PostgreSQL)
    per id, within the databases' limits on parameters."""
    for start in range(0, len(ids), size):
        chunk = list(ids[start : start + size])
        yield chunk, ",".join("?" * len(chunk))


#: Which version of its follower wrote each view's rows (`VERSION` of its view class),
#: shared by the views of a store.
VERSIONS = (
    "CREATE TABLE IF NOT EXISTS view_versions (name TEXT PRIMARY KEY, version BIGINT NOT NULL)"
)


class StaleBatch(Exception):
    """The follower was reset, or moved on in another process, while a batch was computed."""


class _ViewTables:
    """A view's tables: `TABLES` for both databases, plus any per database; and the one
    transaction a follower's batch is written in."""

    TABLES: ClassVar[list[str]] = []
    SQLITE_TABLES: ClassVar[list[str]] = []
    POSTGRES_TABLES: ClassVar[list[str]] = []
    #: Indexes the follower itself never reads in a long catch-up: such a catch-up drops them
    #: and builds them again at its end, as sorting a table once costs far less than adding
    #: each row to each index. Opening a view creates any that are missing, so a process
    #: that dies in a long catch-up leaves them to be built by the next one.
    QUERY_INDEXES: ClassVar[list[str]] = []
    #: Run before the query indexes are built: more for sorting than a follower's batch needs.
    INDEX_BUILD: ClassVar[tuple[str, ...]] = ()
    #: Tables SQLite keeps in the order of their primary key (WITHOUT ROWID): one B-tree
    #: instead of a table and an index of its key, so a row found by its key costs one
    #: descent instead of two, and each insert writes one tree fewer.
    CLUSTERED: ClassVar[tuple[str, ...]] = ()
    #: Raised when the follower comes to write other rows for the same events. The batch
    #: that starts a view from the beginning records it (`view_versions`); a view written by
    #: an earlier version is replayed when the views are opened (`Followers`).
    VERSION: ClassVar[int] = 1
    dialect: ClassVar[str]

    @classmethod
    def ddl(cls) -> list[str]:
        if cls.dialect == "sqlite":
            tables = [
                f"{statement} WITHOUT ROWID"
                if _table_name(statement) in cls.CLUSTERED
                else statement
                for statement in [*cls.TABLES, *cls.SQLITE_TABLES]
            ]
        else:
            tables = [*cls.TABLES, *cls.POSTGRES_TABLES]
        return [VERSIONS, *tables, *cls.QUERY_INDEXES]

    def drop_query_indexes(self) -> None:
        if not self.QUERY_INDEXES:
            return  # no write transaction (and on SQLite no writer lock) for nothing
        with self.write() as sql:  # type: ignore[attr-defined]
            for statement in self.QUERY_INDEXES:
                sql.run(f"DROP INDEX IF EXISTS {index_name(statement)}")

    def build_query_indexes(self) -> None:
        if not self.QUERY_INDEXES:
            return
        with self.write() as sql:  # type: ignore[attr-defined]
            for setting in self.INDEX_BUILD:
                sql.run(setting)
            for statement in self.QUERY_INDEXES:
                sql.run(statement)

    @contextmanager
    def batch(self, tracking: Tracking, after: int | None) -> Iterator[Sql]:
        """A batch's rows and its tracking, in one transaction. With `after`, the batch is
        refused (StaleBatch) unless the follower is still where the batch began."""
        with self.write() as sql:  # type: ignore[attr-defined]
            if after is not None:
                self.check_tracking(sql, tracking.application_name, after)  # type: ignore[attr-defined]
            if after == 0:
                self.mark_version(sql, tracking.application_name, self.VERSION)
            yield sql
            self.track(sql, tracking)  # type: ignore[attr-defined]

    @staticmethod
    def stored_version(sql: Sql, name: str) -> int | None:
        """The version recorded for a follower's view, if any."""
        row = sql.one("SELECT version FROM view_versions WHERE name = ?", [name])
        return None if row is None else int(row["version"])

    @staticmethod
    def mark_version(sql: Sql, name: str, version: int) -> None:
        sql.run(
            "INSERT INTO view_versions (name, version) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            [name, version],
        )


#: One writer at a time per SQLite file in this process. The views of a store share a file
#: but not a connection pool; a transaction that reads and then writes fails at once (it
#: does not wait) if another connection committed in between, so writers in one process
#: (the followers, the webhook sender, admin requests such as a redelivery) queue here.
_SQLITE_WRITERS: dict[str, threading.RLock] = {}
_SQLITE_WRITERS_LOCK = threading.Lock()


def _sqlite_writer(path: str) -> threading.RLock:
    with _SQLITE_WRITERS_LOCK:
        return _SQLITE_WRITERS.setdefault(path, threading.RLock())


class SQLiteView(_ViewTables, SQLiteTrackingRecorder):
    dialect = "sqlite"
    # A second thread sorts beside the first (1M events: the slices' indexes 10.3 -> 8.0 s).
    INDEX_BUILD = ("PRAGMA threads = 2",)

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._writer = _sqlite_writer(str(Path(datastore.pool.db_name).resolve()))

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.ddl()]

    @contextmanager
    def write(self) -> Iterator[Sql]:
        with self._writer, self.datastore.get_connection(commit=True) as conn:
            # Rows and tracking commit together, so a view that loses its last transactions
            # to a power cut re-reads them from the log: the views need not wait for fsync.
            cursor = conn.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA cache_size=-65536")
            with conn.transaction(commit=True) as c:
                yield Sql(c, "sqlite")

    @contextmanager
    def read(self) -> Iterator[Sql]:
        with self.datastore.transaction(commit=False) as c:
            yield Sql(c, "sqlite")

    def track(self, sql: Sql, tracking: Tracking) -> None:
        self._insert_tracking(sql.cursor, tracking)

    def tracked(self, sql: Sql, name: str) -> int:
        """Where the follower is, as this transaction sees it."""
        row = sql.one("SELECT notification_id FROM tracking WHERE application_name = ?", [name])
        return int(row["notification_id"]) if row else 0

    def check_tracking(self, sql: Sql, name: str, after: int) -> None:
        if self.tracked(sql, name) != after:
            raise StaleBatch(name)

    def lock_versions(self, sql: Sql) -> None:
        """Take the file's write lock first (waiting for it), so that what this transaction
        reads next cannot change before it writes."""
        sql.run("UPDATE view_versions SET version = version WHERE name = ''")

    def reset_tracking(self, sql: Sql, name: str) -> None:
        sql.run("DELETE FROM tracking WHERE application_name = ?", [name])

    def close(self) -> None:
        self.datastore.close()


class PostgresView(_ViewTables, PostgresTrackingRecorder):
    dialect = "postgres"
    INDEX_BUILD = ("SET LOCAL maintenance_work_mem = '256MB'",)

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        # View SQL names its tables unqualified: they are looked up in the store's schema.
        schema = Identifier(self.datastore.schema)
        self.sql_create_statements.append(SQL("SET LOCAL search_path TO {}, public").format(schema))
        self.sql_create_statements.extend(SQL(statement).format() for statement in self.ddl())
        self._search_path = SQL("SET search_path TO {}, public").format(schema)
        #: Connections of the pool whose session already looks in the schema.
        self._in_schema: weakref.WeakSet[Any] = weakref.WeakSet()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection of the pool, its session's search path set once (not a statement in
        every transaction)."""
        with self.datastore.get_connection() as conn:
            if conn not in self._in_schema:
                conn.execute(self._search_path)
                self._in_schema.add(conn)
            yield conn

    @contextmanager
    def write(self) -> Iterator[Sql]:
        with self._connection() as conn, conn.transaction():
            yield Sql(conn.cursor(), "postgres")

    @contextmanager
    def read(self) -> Iterator[Sql]:
        """One snapshot for all the statements of a read, as on SQLite: a page's keys and
        then its rows are read as of one moment, even while a follower commits or a rebuild
        empties the view in between. (The pool's connections are in autocommit mode: the
        transaction is begun and ended here, and leaves no setting on the connection.)"""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield Sql(conn.cursor(), "postgres")
            finally:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    # A connection lost meanwhile fails here too: the error that lost it is
                    # the one to report, and the pool discards the connection.
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")

    def track(self, sql: Sql, tracking: Tracking) -> None:
        self._insert_tracking(sql.cursor, tracking)

    def tracked(self, sql: Sql, name: str, *, lock: bool = False) -> int:
        """Where the follower is; with `lock`, its tracking row is held to the transaction's
        end (a batch and a concurrent rebuild's reset are ordered by it)."""
        row = sql.one(
            f'SELECT notification_id FROM "{self.tracking_table_name}" '
            f"WHERE application_name = ?{' FOR UPDATE' if lock else ''}",
            [name],
        )
        return int(row["notification_id"]) if row else 0

    def check_tracking(self, sql: Sql, name: str, after: int) -> None:
        if self.tracked(sql, name, lock=True) != after:
            raise StaleBatch(name)

    def lock_versions(self, sql: Sql) -> None:
        """Openers of the views decide one at a time whether a view is outdated."""
        sql.run("LOCK TABLE view_versions IN SHARE ROW EXCLUSIVE MODE")

    def reset_tracking(self, sql: Sql, name: str) -> None:
        sql.run(f'DELETE FROM "{self.tracking_table_name}" WHERE application_name = ?', [name])

    def close(self) -> None:
        self.datastore.close()


def views_path(store: StoreURL) -> str:
    """The SQLite file the views of a SQLite store live in."""
    path = Path(store.sqlite_path)
    return str(path.with_name(f"{path.stem}-views{path.suffix or '.db'}"))


#: Times opening a PostgreSQL view starts again after losing a deadlock. Its tables and
#: indexes are created in one transaction, and an index that exists still takes its
#: table's lock there, table after table, while a follower's batch in another process may
#: be writing the same tables in another order. PostgreSQL ends one of the two
#: transactions; the DDL is idempotent, so the opener tries again.
_DDL_RETRIES = 5


def open_view(store: StoreURL, name: str, classes: tuple[type[Any], type[Any]]) -> Any:
    """Construct (and create the tables of) one follower's view, on the store's database."""
    sqlite_class, postgres_class = classes
    env = dict(persistence_env(store))
    env.pop("APPLICATION_RECORDER_TOPIC", None)
    if store.is_sqlite:
        env["SQLITE_DBNAME"] = views_path(store)
        view_class = sqlite_class
    else:
        view_class = postgres_class
    with schema_lock(store):
        factory = InfrastructureFactory[TrackingRecorder].construct(env=Environment(name, env))
        for _ in range(_DDL_RETRIES):
            try:
                return factory.tracking_recorder(view_class)
            except OperationalError as error:
                if not isinstance(error.__cause__, psycopg.errors.DeadlockDetected):
                    raise
                log.info("opening view %s met a follower's batch in a deadlock; again", name)
                time.sleep(0.05)
        return factory.tracking_recorder(view_class)
