"""Shared fixtures: every storage test runs on SQLite and on the local PostgreSQL.

PostgreSQL tests use a fresh schema each, dropped afterwards. Without a reachable server they
are skipped on a developer's machine and fail under CI (`CI=true`), never silently pass.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ledger.admin import Admin
from ledger.app import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings
from ledger.integrity import signing_key_path

PG_BASE = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEMO_FILE = Path(__file__).resolve().parents[1] / "ledger" / "demo" / "louisville-2017.jsonl"


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return str(e)


def require_postgres() -> None:
    problem = _pg_reachable()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable at {PG_BASE}: {problem}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL on a schema of its own; the schema and the signing key made for
    it go afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = f"{PG_BASE}?schema={schema}"
    yield url
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    signing_key_path(Settings(database_url=url)).unlink(missing_ok=True)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: once per store."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(database_url=store_url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2017, 9, 15, 18, 0, tzinfo=UTC))


@pytest.fixture
def ledger(settings: Settings, clock: ManualClock) -> Iterator[Ledger]:
    app = Ledger(settings, clock=clock)
    yield app
    app.close()


@pytest.fixture
def admin(settings: Settings, clock: ManualClock) -> Iterator[Admin]:
    app = Admin(settings, clock=clock)
    yield app
    app.close()
