"""The event store: eventsourcing's SQLite and PostgreSQL recorders, extended.

The extensions go through the library's own extension point (`APPLICATION_RECORDER_TOPIC`):

- events are inserted with one `executemany` per transaction;
- an idempotency key is written in the same transaction as the events it produced, so a
  retry after a crash or a restart finds it and appends nothing;
- `restore` inserts an exported log keeping its positions;
- `select_record` reads one record's events together with their log positions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import JSONTranscoder, Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import get_topic
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from ledger.config import StoreURL
from ledger.integrity import erase_fields


@dataclass
class IdempotencyRecord:
    """A command's idempotency key and what it produced. `n_events` says how many of the
    transaction's events are this command's, so the recorder can fill in its position."""

    principal: str
    key: str
    request_hash: str
    result: dict[str, Any]
    n_events: int = field(default=0)


@dataclass(frozen=True)
class StoredKey:
    request_hash: str
    result: dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FastJSONTranscoder(JSONTranscoder):
    """eventsourcing's JSON transcoding, encoded and decoded with orjson.

    The format is the library's: plain JSON, with registered types (the event timestamp)
    written as `{"_type_": ..., "_data_": ...}`. Public event payloads hold only plain JSON
    values (ids as strings), which orjson writes as the standard library would.
    """

    _OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self._encode_obj, option=self._OPTIONS)

    def decode(self, data: bytes) -> Any:
        return self._revive(orjson.loads(data))

    def _revive(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._decode_obj(value)
            return {k: self._revive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        return value


def _result_json(result: dict[str, Any]) -> str:
    return orjson.dumps(result).decode()


def _assign_positions(records: Sequence[IdempotencyRecord], ids: Sequence[int]) -> None:
    end = 0
    for record in records:
        end += record.n_events
        record.result["position"] = ids[end - 1] if end else None


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """The public log on SQLite (table `stored_events`, WAL)."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.keys_table = "idempotency_keys"

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS idempotency_keys ("
            "principal TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, "
            "result TEXT NOT NULL, created_at TEXT NOT NULL, "
            "PRIMARY KEY (principal, key)) WITHOUT ROWID",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        for record_id, fields, before in kwargs.get("erase") or ():
            c.execute(
                f"SELECT originator_version, state FROM {self.events_table_name} "
                "WHERE originator_id = ? AND originator_version < ?",
                (record_id.hex, before),
            )
            for row in c.fetchall():
                erased = erase_fields(bytes(row["state"]), fields)
                if erased is not None:
                    c.execute(
                        f"UPDATE {self.events_table_name} SET state = ? "
                        "WHERE originator_id = ? AND originator_version = ?",
                        (erased, record_id.hex, row["originator_version"]),
                    )
        c.executemany(
            self.insert_events_statement,
            [
                (
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for s in stored_events
            ],
        )
        # The transaction holds the write lock from its first insert, and a new row's rowid
        # is the largest so far plus one, so this batch's positions are contiguous.
        c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name}")
        last = int(c.fetchone()[0])
        ids = list(range(last - len(stored_events) + 1, last + 1))
        keys: Sequence[IdempotencyRecord] = kwargs.get("idempotency") or ()
        if keys:
            _assign_positions(keys, ids)
            now = _now()
            c.executemany(
                "INSERT INTO idempotency_keys VALUES (?,?,?,?,?)",
                [(k.principal, k.key, k.request_hash, _result_json(k.result), now) for k in keys],
            )
        return ids

    def first_topics(self, ids: Sequence[UUID]) -> dict[UUID, str]:
        """The topic of each existing record's first event, for the ids that exist."""
        found: dict[UUID, str] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(ids), 500):
                chunk = [i.hex for i in ids[start : start + 500]]
                c.execute(
                    f"SELECT originator_id, topic FROM {self.events_table_name} "
                    f"WHERE originator_version=1 AND originator_id IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
                for row in c.fetchall():
                    found[UUID(row["originator_id"])] = row["topic"]
        return found

    def find_keys(self, principal: str, keys: Sequence[str]) -> dict[str, StoredKey]:
        found: dict[str, StoredKey] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                c.execute(
                    "SELECT key, request_hash, result FROM idempotency_keys "
                    f"WHERE principal=? AND key IN ({','.join('?' * len(chunk))})",
                    [principal, *chunk],
                )
                for row in c.fetchall():
                    found[row["key"]] = StoredKey(row["request_hash"], json.loads(row["result"]))
        return found

    def redacted_fields(self, ids: Sequence[UUID]) -> dict[str, set[str]]:
        """The fields each record has had withheld, from its `Redacted` events."""
        out: dict[str, set[str]] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(ids), 500):
                chunk = [i.hex for i in ids[start : start + 500]]
                c.execute(
                    f"SELECT originator_id, state FROM {self.events_table_name} "
                    f"WHERE topic LIKE '%.Redacted' AND originator_id IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                )
                for row in c.fetchall():
                    fields = orjson.loads(row["state"]).get("fields", [])
                    out.setdefault(str(UUID(row["originator_id"])), set()).update(fields)
        return out

    def select_record(self, originator_id: UUID) -> list[Notification]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid, * FROM {self.events_table_name} "
                "WHERE originator_id=? ORDER BY originator_version",
                (originator_id.hex,),
            )
            return [
                Notification(
                    id=row["rowid"],
                    originator_id=UUID(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in c.fetchall()
            ]

    def restore(self, rows: Sequence[tuple[int, StoredEvent]]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                f"INSERT INTO {self.events_table_name} "
                "(rowid, originator_id, originator_version, topic, state) VALUES (?,?,?,?,?)",
                [
                    (pos, UUID(str(s.originator_id)).hex, s.originator_version, s.topic, s.state)
                    for pos, s in rows
                ],
            )


class SQLiteAdminRecorder(SQLiteApplicationRecorder):
    """The admin-only log (keys, webhook subscriptions) beside the public one."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "admin_events"):
        super().__init__(datastore, events_table_name)


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """The public log on PostgreSQL (table `ledger_events`)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "ledger_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.keys_table = events_table_name.removesuffix("_events") + "_idempotency_keys"
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
                "principal text NOT NULL, key text NOT NULL, request_hash text NOT NULL, "
                "result jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (principal, key))"
            ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.keys_table))
        )

    def _insert_events(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """Before the events go in, in their transaction: erase what they redact."""
        table = SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )
        for record_id, fields, before in kwargs.get("erase") or ():
            curs.execute(
                SQL(
                    "SELECT originator_version, state FROM {t} "
                    "WHERE originator_id = %s AND originator_version < %s FOR UPDATE"
                ).format(t=table),
                (record_id, before),
            )
            for row in curs.fetchall():
                erased = erase_fields(bytes(row["state"]), fields)
                if erased is not None:
                    curs.execute(
                        SQL(
                            "UPDATE {t} SET state = %s "
                            "WHERE originator_id = %s AND originator_version = %s"
                        ).format(t=table),
                        (erased, record_id, row["originator_version"]),
                    )

    def _fetch_ids_after_insert_events(
        self,
        curs: psycopg.Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        keys: Sequence[IdempotencyRecord] = kwargs.get("idempotency") or ()
        if keys and ids:
            _assign_positions(keys, ids)
            curs.executemany(
                SQL(
                    "INSERT INTO {schema}.{table} (principal, key, request_hash, result) "
                    "VALUES (%s, %s, %s, %s)"
                ).format(
                    schema=Identifier(self.datastore.schema), table=Identifier(self.keys_table)
                ),
                [(k.principal, k.key, k.request_hash, _result_json(k.result)) for k in keys],
            )
        return ids

    def first_topics(self, ids: Sequence[UUID]) -> dict[UUID, str]:
        """The topic of each existing record's first event, for the ids that exist."""
        statement = SQL(
            "SELECT originator_id, topic FROM {schema}.{table} "
            "WHERE originator_version=1 AND originator_id = ANY(%s)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (list(ids),))
            return {row["originator_id"]: row["topic"] for row in curs.fetchall()}

    def find_keys(self, principal: str, keys: Sequence[str]) -> dict[str, StoredKey]:
        statement = SQL(
            "SELECT key, request_hash, result FROM {schema}.{table} "
            "WHERE principal=%s AND key = ANY(%s)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.keys_table))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (principal, list(keys)))
            return {
                row["key"]: StoredKey(row["request_hash"], row["result"]) for row in curs.fetchall()
            }

    def redacted_fields(self, ids: Sequence[UUID]) -> dict[str, set[str]]:
        """The fields each record has had withheld, from its `Redacted` events."""
        statement = SQL(
            "SELECT originator_id, state FROM {schema}.{table} "
            "WHERE topic LIKE %s AND originator_id = ANY(%s)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        out: dict[str, set[str]] = {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, ("%.Redacted", list(ids)))
            for row in curs.fetchall():
                fields = orjson.loads(bytes(row["state"])).get("fields", [])
                out.setdefault(str(row["originator_id"]), set()).update(fields)
        return out

    def select_record(self, originator_id: UUID) -> list[Notification]:
        statement = SQL(
            "SELECT * FROM {schema}.{table} WHERE originator_id=%s ORDER BY originator_version"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id,))
            return [
                Notification(
                    id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def restore(self, rows: Sequence[tuple[int, StoredEvent]]) -> None:
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            curs.executemany(
                SQL(
                    "INSERT INTO {schema}.{table} "
                    "(notification_id, originator_id, originator_version, topic, state) "
                    "VALUES (%s, %s, %s, %s, %s)"
                ).format(schema=schema, table=table),
                [(pos, s.originator_id, s.originator_version, s.topic, s.state) for pos, s in rows],
            )
            # Later appends continue after the restored positions.
            curs.execute(
                SQL(
                    "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), "
                    "GREATEST((SELECT MAX(notification_id) FROM {schema}.{table}), 1))"
                ).format(schema=schema, table=table),
                (f"{self.datastore.schema}.{self.events_table_name}",),
            )


def persistence_env(store: StoreURL, *, admin: bool = False) -> dict[str, str]:
    """The eventsourcing environment for the public log (or the admin log) of a store."""
    if store.is_sqlite:
        recorder = SQLiteAdminRecorder if admin else SQLiteLedgerRecorder
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": store.sqlite_path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": get_topic(recorder),
            "TRANSCODER_TOPIC": get_topic(FastJSONTranscoder),
        }
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": store.pg_dbname,
        "POSTGRES_HOST": store.pg_host,
        "POSTGRES_PORT": store.pg_port,
        "POSTGRES_USER": store.pg_user,
        "POSTGRES_PASSWORD": store.pg_password,
        "POSTGRES_SCHEMA": store.pg_schema,
        # Each process opens several stores (log, admin log, views): keep idle connections few.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "9",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "TRANSCODER_TOPIC": get_topic(FastJSONTranscoder),
    }
    if not admin:
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(PostgresLedgerRecorder)
    return env


def pg_conninfo(store: StoreURL) -> str:
    return psycopg.conninfo.make_conninfo(
        host=store.pg_host,
        port=store.pg_port,
        user=store.pg_user,
        password=store.pg_password or None,
        dbname=store.pg_dbname,
        connect_timeout=5,
    )


#: The advisory lock that serializes schema creation among processes starting together.
_SCHEMA_LOCK = 0x4C454447  # "LEDG"


@contextmanager
def schema_lock(store: StoreURL) -> Iterator[None]:
    """Hold a lock while tables are created, so processes starting at once don't race."""
    if store.is_sqlite:
        yield
        return
    with psycopg.connect(pg_conninfo(store), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            if store.pg_schema:
                conn.execute(
                    SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(store.pg_schema))
                )
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
