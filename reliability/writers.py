"""Concurrent writers: P processes x N commands over HTTP on PostgreSQL, all on the same 10
records, each change sent with the `If-Match` it read. Every command is applied or refused
with 409/412; no applied change is lost; and the records the API serves equal the records
replayed from the log, and equal the views rebuilt from it."""

from __future__ import annotations

import multiprocessing
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from reliability.support import (
    cli,
    free_port,
    ledger_env,
    new_key,
    pg_store,
    server,
    wait_healthy,
    write_jsonl,
)

CLAIMS = [f"c{i}" for i in range(10)]


def seed_lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {"op": "source.create", "id": "source/s", "data": {"url": "https://e.org/s", "title": "S"}},
        {"op": "actor.create", "id": "actor/a", "data": {"name": "A", "kind": "person"}},
    ]
    lines += [
        {
            "op": "claim.create",
            "id": f"claim/{claim}",
            "data": {
                "made_by": "actor/a",
                "text": f"claim {claim}",
                "made_at": "2017-09-15",
                "sources": ["source/s"],
            },
        }
        for claim in CLAIMS
    ]
    return lines


def writer(base: str, key: str, n: int, number: int, out: Any) -> None:
    """One writer process: read a claim, add evidence with the version it read."""
    rng = random.Random(number)
    counts = {"applied": 0, "refused": 0, "other": 0}
    applied: list[str] = []
    others: list[str] = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(n):
            claim = rng.choice(CLAIMS)
            note = f"w{number}-{i}"
            try:
                etag = http.get(f"/v1/claims/{claim}").headers["ETag"]
                response = http.post(
                    f"/v1/claims/{claim}/evidence",
                    headers={"Authorization": f"Bearer {key}", "If-Match": etag},
                    json={"stance": "context", "sources": ["source/s"], "note": note},
                )
            except (httpx.HTTPError, KeyError) as e:
                counts["other"] += 1
                others.append(f"{type(e).__name__}: {e}")
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                counts["applied"] += 1
                applied.append(note)
            elif response.status_code in (409, 412):
                counts["refused"] += 1
            else:
                counts["other"] += 1
                others.append(f"{response.status_code} {response.text[:200]}")
    out.put({"counts": counts, "applied": applied, "others": others[:5]})


def run(size: dict[str, int]) -> dict[str, Any]:
    from ledger.app import Ledger
    from ledger.commands import slug_id
    from ledger.config import Settings
    from projections.runner import REBUILT_BY_DEFAULT, Followers

    processes, commands = size["writers"], size["commands"]
    with pg_store() as url, tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = ledger_env(url, tmp)
        cli(env, "import", str(write_jsonl(tmp / "seed.jsonl", seed_lines())))
        key = new_key(env, "writers")
        port = free_port()
        api = server(env, port, tmp / "server.log").start()
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, path="/readyz")
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            procs = [
                ctx.Process(target=writer, args=(base, key, commands, n, queue))
                for n in range(processes)
            ]
            started = time.monotonic()
            for p in procs:
                p.start()
            totals = {"applied": 0, "refused": 0, "other": 0}
            applied: list[str] = []
            others: list[str] = []
            for _ in procs:
                got = queue.get(timeout=1800)
                for k, v in got["counts"].items():
                    totals[k] += v
                applied += got["applied"]
                others += got["others"]
            for p in procs:
                p.join()
            seconds = time.monotonic() - started
            served: dict[str, tuple[int, list[str]]] = {}
            with httpx.Client(base_url=base, timeout=30) as http:
                for claim in CLAIMS:
                    record = http.get(f"/v1/claims/{claim}").json()
                    served[claim] = (
                        record["version"],
                        sorted(e["note"] for e in record["evidence"]),
                    )
        finally:
            api.stop()
        # The records as the log replays them, and the views rebuilt from the log.
        ledger = Ledger(Settings(database_url=url, signing_key_file=str(tmp / "signing-key")))
        replayed: dict[str, tuple[int, list[str]]] = {}
        for claim in CLAIMS:
            aggregate: Any = ledger.get_record("claim", slug_id(f"claim/{claim}"))
            replayed[claim] = (aggregate.version, sorted(e["note"] for e in aggregate.evidence))
        followers = Followers(ledger)
        followers.catch_up()
        before = {n: followers.snapshot(n) for n in REBUILT_BY_DEFAULT}
        for n in REBUILT_BY_DEFAULT:
            followers.rebuild(n)
        followers.catch_up()
        rebuilt = before == {n: followers.snapshot(n) for n in REBUILT_BY_DEFAULT}
        followers.close()
        ledger.close()
    in_log = sorted(note for _, notes in replayed.values() for note in notes)
    return {
        "processes": processes,
        "commands": processes * commands,
        **totals,
        "seconds": round(seconds, 1),
        "lost_updates": len(set(applied) - set(in_log)),
        "unacknowledged_in_log": len(set(in_log) - set(applied)),
        "duplicates": len(in_log) - len(set(in_log)),
        "served_equals_replay": served == replayed,
        "views_equal_rebuild": rebuilt,
        "others": others[:5],
    }
