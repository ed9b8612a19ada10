"""PostgreSQL for the benchmarks: fresh schemas of their own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from ledger.config import Settings
from ledger.integrity import signing_key_path

PG_BASE = os.environ.get("LEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def schemas(prefix: str) -> Iterator[Callable[[str], str] | None]:
    """A function that gives the URL of a new schema for a name, or None (said so) if
    PostgreSQL cannot be reached. The schemas and the signing keys made for them go at the
    end."""
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3, autocommit=True):
            pass
    except psycopg.Error:
        print("  PostgreSQL: not reachable, skipped")
        yield None
        return
    made: list[str] = []

    def url(name: str) -> str:
        schema = f"{prefix}_{name}_{uuid.uuid4().hex[:6]}"
        made.append(schema)
        return f"{PG_BASE}?schema={schema}"

    try:
        yield url
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            for schema in made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        for schema in made:
            signing_key_path(Settings(database_url=f"{PG_BASE}?schema={schema}")).unlink(
                missing_ok=True
            )
