"""Followers survive kill -9 at any moment, and several workers share followers safely."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.app import Ledger
from ledger.cli import read_commands
from ledger.config import Settings
from projections.runner import Followers

LEDGER = str(Path(sys.executable).parent / "ledger")


def generated_commands(path: Path, commitments: int, prefix: str = "") -> Path:
    """A log with every kind of change the followers handle, several events per record."""
    lines: list[dict[str, object]] = []
    if not prefix:
        lines += [
            {
                "op": "source.create",
                "id": "source/s",
                "data": {"url": "https://e.org/s", "title": "S"},
            },
            {"op": "actor.create", "id": "actor/a", "data": {"name": "A", "kind": "person"}},
            {"op": "actor.create", "id": "actor/b", "data": {"name": "B", "kind": "office"}},
        ]
    src = ["source/s"]
    for n in range(commitments):
        i = f"{prefix}{n}"
        cid = f"commitment/c{i}"
        lines.append(
            {
                "op": "commitment.create",
                "id": cid,
                "data": {
                    "kind": "promise" if n % 3 else "directive",
                    "made_by": "actor/a",
                    "assignee": None if n % 3 else "actor/b",
                    "text": f"promise number {i}",
                    "made_at": f"2018-0{1 + n % 9}-0{1 + n % 9}",
                    "due": {"on": f"2018-1{n % 3}-2{n % 9}"},
                    "topics": [f"t{n % 7}"],
                    "sources": src,
                },
            }
        )
        lines.append(
            {
                "op": "commitment.status",
                "id": cid,
                "data": {
                    "status": "in_progress",
                    "occurred_at": "2018-10-01",
                    "reason": "started",
                    "sources": src,
                },
            }
        )
        if n % 2:
            lines.append(
                {
                    "op": "commitment.deadline",
                    "id": cid,
                    "data": {"on": "2019-01-15", "reason": "more time", "sources": src},
                }
            )
        lines.append(
            {
                "op": "commitment.status",
                "id": cid,
                "data": {
                    "status": ["fulfilled", "broken", "stalled"][n % 3],
                    "occurred_at": "2018-12-01",
                    "reason": "outcome",
                    "sources": src,
                },
            }
        )
        lines.append(
            {
                "op": "claim.create",
                "id": f"claim/k{i}",
                "data": {
                    "made_by": "actor/a",
                    "text": f"claim {i} about response times",
                    "made_at": "2018-03-03",
                    "sources": src,
                },
            }
        )
        lines.append(
            {
                "op": "claim.evidence",
                "id": f"claim/k{i}",
                "data": {"stance": "contradicts", "sources": src, "note": f"figures for {i}"},
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _worker(url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url}
    return subprocess.Popen(
        [LEDGER, "worker", "--poll", "0.05", "--watch-every", "3600", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_until(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.mark.slow
def test_kill_9_at_random_points_while_catching_up_then_views_equal_a_rebuild(
    store_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("LEDGER_CRASH_SEED", random.randrange(1_000_000)))
    print(f"crash test seed: {seed} (LEDGER_CRASH_SEED={seed} repeats it)")
    rng = random.Random(seed)
    ledger = Ledger(Settings(database_url=store_url))
    numbered, problems = read_commands(generated_commands(tmp_path / "log.jsonl", 2500))
    assert not problems
    assert not ledger.import_commands([c for _, c in numbered], principal="cli:test").errors
    head = ledger.last_position()
    followers = Followers(ledger)
    try:
        # Each round starts a worker and kills it while it is still catching up.
        kills_mid_catch_up = 0
        positions = [0]
        while kills_mid_catch_up < 20:
            worker = _worker(store_url, "--batch", "10")
            # Kill it at a random moment once it is at work (starting up takes a while on a
            # loaded machine; a kill before then would test nothing).
            furthest = max(followers.position(n) for n in followers.names)
            _wait_until(
                lambda f=furthest: max(followers.position(n) for n in followers.names) > f, 60
            )
            time.sleep(rng.uniform(0.0, 0.5))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            position = min(followers.position(n) for n in followers.names)
            if position >= head:
                break
            kills_mid_catch_up += 1
            positions.append(position)
        print(f"positions after each kill: {positions}")
        assert kills_mid_catch_up == 20, "the log was too short to be killed 20 times"
        assert positions[-1] > 0  # the workers made progress between kills
        # Finish, then compare with a replay from scratch. (The workers' deadline watcher
        # may have appended notices meanwhile.)
        followers.catch_up()
        head = ledger.last_position()
        assert all(followers.position(n) == head for n in followers.names)
        incremental = {n: followers.snapshot(n) for n in followers.names}
        for name in followers.names:
            followers.rebuild(name)
        followers.catch_up()
        assert {n: followers.snapshot(n) for n in followers.names} == incremental
    finally:
        followers.close()
        ledger.close()


@pytest.mark.slow
def test_a_standby_worker_takes_over_a_follower_when_its_holder_dies(
    pg_url: str, tmp_path: Path
) -> None:
    ledger = Ledger(Settings(database_url=pg_url))
    numbered, _ = read_commands(generated_commands(tmp_path / "log.jsonl", 40))
    ledger.import_commands([c for _, c in numbered], principal="cli:test")
    followers = Followers(ledger)
    first = _worker(pg_url)
    second: subprocess.Popen[bytes] | None = None
    try:
        head = ledger.last_position()
        # At or past `head`: once the views show the overdue commitments, the worker's
        # deadline watcher may append notices and the followers go on to them.
        assert _wait_until(lambda: all(followers.position(n) >= head for n in followers.names), 30)
        second = _worker(pg_url)
        time.sleep(1.0)
        first.send_signal(signal.SIGKILL)
        first.wait()
        numbered, _ = read_commands(generated_commands(tmp_path / "more.jsonl", 60, "x"))
        assert not ledger.import_commands([c for _, c in numbered], principal="cli:test").errors
        head = ledger.last_position()
        started = time.monotonic()
        assert _wait_until(lambda: all(followers.position(n) >= head for n in followers.names), 30)
        print(f"standby caught up {time.monotonic() - started:.1f}s after the holder died")
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        second = None
        # The workers' deadline watcher may have appended notices meanwhile.
        followers.catch_up()
        assert all(followers.position(n) == ledger.last_position() for n in followers.names)
        incremental = {n: followers.snapshot(n) for n in followers.names}
        for name in followers.names:
            followers.rebuild(name)
        followers.catch_up()
        assert {n: followers.snapshot(n) for n in followers.names} == incremental
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        followers.close()
        ledger.close()
