"""bench/import: writing N events three ways in one run.

1. `ledger import`'s code path: parse each JSONL line, check it, apply it, write the log
   (the same functions the command runs, in-process, so interpreter start-up is not timed);
2. eventsourcing as shipped: `Application.save(*500 aggregates)` with the stock SQLite
   recorder, one event per aggregate, payloads of the same size;
3. raw `sqlite3.executemany` of rows of the same size into a WAL database with the same
   `synchronous` setting as the store.

Goal: (1) >= 0.3x the raw rate, which is about twice what the library gives as shipped;
50k events/s for reference. PostgreSQL figures for (1) and (2) are printed too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench.pg import PG_BASE
from ledger.app import Ledger
from ledger.cli import read_commands
from ledger.config import Settings

DEFAULT_EVENTS = 100_000


def command_file(path: Path, n_events: int) -> int:
    """A realistic mix: sources and actors, then commitments, status changes, claims and
    evidence; one event per command."""
    lines: list[dict[str, Any]] = []
    n_actors, n_sources = 200, 100
    for i in range(n_sources):
        lines.append(
            {
                "op": "source.create",
                "id": f"source/s{i}",
                "data": {"url": f"https://example.org/news/{i}", "title": f"Story {i}"},
            }
        )
    for i in range(n_actors):
        lines.append(
            {
                "op": "actor.create",
                "id": f"actor/a{i}",
                "data": {"name": f"Official {i}", "kind": "person", "title": "Council member"},
            }
        )
    i = 0
    while len(lines) < n_events:
        src = [f"source/s{i % n_sources}"]
        lines.append(
            {
                "op": "commitment.create",
                "id": f"commitment/c{i}",
                "data": {
                    "kind": "promise",
                    "made_by": f"actor/a{i % n_actors}",
                    "text": f"We will publish the review of case {i} by the end of the month.",
                    "made_at": "2019-03-01",
                    "due": {
                        "on": "2019-03-31",
                        "precision": "month",
                        "text": "by the end of the month",
                        "basis": "said 2019-03-01",
                    },
                    "topics": [f"topic-{i % 50}"],
                    "sources": src,
                },
            }
        )
        lines.append(
            {
                "op": "commitment.status",
                "id": f"commitment/c{i}",
                "data": {
                    "status": "in_progress",
                    "occurred_at": "2019-03-10",
                    "reason": "the review has started",
                    "sources": src,
                },
            }
        )
        lines.append(
            {
                "op": "claim.create",
                "id": f"claim/k{i}",
                "data": {
                    "made_by": f"actor/a{(i + 1) % n_actors}",
                    "text": f"Response times improved by {i % 40} percent this year.",
                    "made_at": "2019-03-02",
                    "sources": src,
                },
            }
        )
        lines.append(
            {
                "op": "claim.evidence",
                "id": f"claim/k{i}",
                "data": {
                    "stance": "contradicts",
                    "sources": src,
                    "note": "the city's own figures differ",
                },
            }
        )
        i += 1
    lines = lines[:n_events]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return len(lines)


class Note(Aggregate):
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload


class Shipped(Application[uuid.UUID]):
    """eventsourcing's Application exactly as shipped."""


def _payload(n: int) -> dict[str, Any]:
    return {
        "text": f"We will publish the review of case {n} by the end of the month.",
        "made_by": str(uuid.uuid4()),
        "sources": [str(uuid.uuid4())],
        "due": {"on": "2019-03-31", "precision": "month"},
        "topics": ["topic-1"],
    }


def run_ledger(url: str, file: Path) -> tuple[float, int]:
    start = time.perf_counter()
    numbered, problems = read_commands(file)
    assert not problems, problems
    app = Ledger(Settings(database_url=url))
    try:
        result = app.import_commands([c for _, c in numbered], principal="cli:bench")
        assert not result.errors, result.errors[:3]
        elapsed = time.perf_counter() - start
        return elapsed, result.events
    finally:
        app.close()


def run_shipped(env: dict[str, str], n_events: int) -> tuple[float, int, int]:
    app = Shipped(env=env)
    try:
        aggregates = [Note(_payload(n)) for n in range(n_events)]
        size = len(app.mapper.to_stored_event(aggregates[0].pending_events[0]).state)
        start = time.perf_counter()
        for i in range(0, n_events, 500):
            app.save(*aggregates[i : i + 500])
        return time.perf_counter() - start, n_events, size
    finally:
        app.close()


def run_raw(path: str, n_events: int, size: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # eventsourcing leaves SQLite's default synchronous=FULL in place; so does this.
    conn.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    rows = [(uuid.uuid4().hex, 1, "bench:Note.Created", os.urandom(size)) for _ in range(n_events)]
    start = time.perf_counter()
    for i in range(0, n_events, 500):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows[i : i + 500])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _pg_schema() -> str | None:
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3, autocommit=True) as conn:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE SCHEMA "{schema}"')
            return schema
    except psycopg.Error:
        return None


def _drop(schema: str) -> None:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(n_events: int | None = None) -> dict[str, Any]:
    n = n_events or DEFAULT_EVENTS
    results: dict[str, Any] = {"events": n}
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "commands.jsonl"
        command_file(file, n)
        ledger_s, events = run_ledger(f"sqlite:///{tmp}/ledger.db", file)
        sample_state = _sample_state_size(f"sqlite:///{tmp}/ledger.db")
        shipped_s, _, _ = run_shipped(
            {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{tmp}/shipped.db"},
            n,
        )
        raw_s = run_raw(f"{tmp}/raw.db", n, sample_state)
    rates = {
        "ledger_import": events / ledger_s,
        "eventsourcing_save": n / shipped_s,
        "raw_sqlite": n / raw_s,
    }
    results["sqlite"] = rates
    print(f"\nbench/import — {n:,} events, SQLite (WAL), payload ~{sample_state} bytes")
    print(f"  ledger import            {rates['ledger_import']:>10,.0f} events/s")
    print(f"  eventsourcing save(*500) {rates['eventsourcing_save']:>10,.0f} events/s")
    print(f"  raw sqlite3 executemany  {rates['raw_sqlite']:>10,.0f} events/s")
    ratio_raw = rates["ledger_import"] / rates["raw_sqlite"]
    ratio_lib = rates["ledger_import"] / rates["eventsourcing_save"]
    print(f"  ledger / raw  = {ratio_raw:.2f}x   (goal >= 0.30x)")
    print(f"  ledger / library as shipped = {ratio_lib:.2f}x")
    print(f"  reference: {rates['ledger_import']:,.0f} events/s (goal >= 50,000)")
    results["sqlite"]["ratio_to_raw"] = ratio_raw
    results["sqlite"]["ratio_to_library"] = ratio_lib

    schema = _pg_schema()
    if schema is None:
        print("  PostgreSQL: not reachable, skipped")
        return results
    try:
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / "commands.jsonl"
            command_file(file, n)
            pg_s, pg_events = run_ledger(f"{PG_BASE}?schema={schema}", file)
        parts = psycopg.conninfo.conninfo_to_dict(PG_BASE)
        shipped_pg_s, _, _ = run_shipped(
            {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": str(parts["dbname"]),
                "POSTGRES_HOST": str(parts.get("host", "127.0.0.1")),
                "POSTGRES_PORT": str(parts.get("port", "5432")),
                "POSTGRES_USER": str(parts.get("user", "postgres")),
                "POSTGRES_PASSWORD": "",
                "POSTGRES_SCHEMA": schema,
            },
            n,
        )
    finally:
        _drop(schema)
    pg = {"ledger_import": pg_events / pg_s, "eventsourcing_save": n / shipped_pg_s}
    pg["ratio_to_library"] = pg["ledger_import"] / pg["eventsourcing_save"]
    pg["ratio_to_raw_sqlite"] = pg["ledger_import"] / rates["raw_sqlite"]
    results["postgres"] = pg
    print("  PostgreSQL:")
    print(f"  ledger import            {pg['ledger_import']:>10,.0f} events/s")
    print(f"  eventsourcing save(*500) {pg['eventsourcing_save']:>10,.0f} events/s")
    print(f"  ledger / library as shipped = {pg['ratio_to_library']:.2f}x")
    return results


def _sample_state_size(url: str) -> int:
    app = Ledger(Settings(database_url=url))
    try:
        sample = app.store.select_notifications(start=1000, limit=1000)
        return sum(len(n.state) for n in sample) // max(len(sample), 1)
    finally:
        app.close()


if __name__ == "__main__":
    main()
