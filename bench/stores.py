"""SQLite stores built once per `python -m bench` run and shared by the benchmarks of the same
data shape: bench/views builds its stores and catches their followers up (that is what it
measures); bench/pages then serves the same stores instead of building them again."""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

_caught_up: dict[tuple[int, int], str] = {}
_directory: tempfile.TemporaryDirectory[str] | None = None


def directory() -> Path:
    """A directory for stores kept until the run ends."""
    global _directory
    if _directory is None:
        _directory = tempfile.TemporaryDirectory(prefix="ledger-bench-")
        atexit.register(_directory.cleanup)
    return Path(_directory.name)


def keep(n_events: int, seed: int, url: str) -> None:
    """A store of `n_events` built with `seed`, its followers at the head of its log."""
    _caught_up[(n_events, seed)] = url


def caught_up(n_events: int, seed: int) -> str | None:
    """The URL of a kept store of that shape, if an earlier benchmark of this run built one."""
    return _caught_up.get((n_events, seed))
