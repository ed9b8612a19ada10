"""Opening a view tries again when PostgreSQL ends its DDL transaction to break a deadlock
with a follower's batch, and only then."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from ledger.config import StoreURL
from projections import db


class _Factory:
    """Stands in for eventsourcing's factory: fails with each of `errors` in turn, then
    gives a view."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    def tracking_recorder(self, view_class: type[Any]) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "view"


def _deadlock() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return error


def _open(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, factory: _Factory) -> Any:
    monkeypatch.setattr(db.InfrastructureFactory, "construct", lambda **kwargs: factory)
    monkeypatch.setattr(db.time, "sleep", lambda seconds: None)
    return db.open_view(StoreURL(f"sqlite:///{tmp_path}/l.db"), "records", (object, object))


def test_a_deadlock_while_creating_the_tables_is_tried_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    factory = _Factory([_deadlock(), _deadlock()])
    assert _open(monkeypatch, tmp_path, factory) == "view"
    assert factory.calls == 3


def test_other_errors_are_not_tried_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    factory = _Factory([OperationalError("connection refused")])
    with pytest.raises(OperationalError, match="connection refused"):
        _open(monkeypatch, tmp_path, factory)
    assert factory.calls == 1


def test_deadlocks_that_go_on_are_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    factory = _Factory([_deadlock() for _ in range(db._DDL_RETRIES + 1)])
    with pytest.raises(OperationalError, match="deadlock"):
        _open(monkeypatch, tmp_path, factory)
    assert factory.calls == db._DDL_RETRIES + 1
