"""The one clock: the ledger's `recorded_at` and the deadline watcher's "now" come from here.

Tests inject a `ManualClock`, so a test can run in 2017 and move time while the ledger runs.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; safe to move from another thread."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def local_date(moment: datetime, timezone: str) -> date:
    """The calendar date of `moment` in the ledger's time zone (`LEDGER_TIMEZONE`)."""
    return moment.astimezone(ZoneInfo(timezone)).date()
