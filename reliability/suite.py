"""`make reliability`: proof under stress, with a table of figures.

    python -m reliability [--size small|full]

- writers: P processes x N commands over HTTP on PostgreSQL on the same 10 records, each with
  the If-Match it read: every command applied or refused with 409/412, no lost update, and the
  records equal a replay of the log;
- crash: kill -9 of a `ledger worker` at random moments while it catches up (seed printed):
  views equal a full rebuild and `ledger verify` passes;
- outage: a webhook receiver down for an (injected) ten minutes: every delivery arrives;
- tamper: random edits, deletions and reorders of stored events: each caught by verify.
The full size is the issue's; `make test` runs the small one (tests/e2e/test_reliability.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

BIN = Path(sys.executable).parent
PG = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SIZES = {
    "small": {"writers": 4, "commands": 60, "kills": 4, "tampers": 12, "outage_events": 20},
    "full": {"writers": 8, "commands": 1000, "kills": 20, "tampers": 100, "outage_events": 200},
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _schema() -> tuple[str, str]:
    name = f"rel_{uuid.uuid4().hex[:10]}"
    return name, f"{PG}?schema={name}"


def _drop(schema: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(BIN / "ledger"), *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def _writer(base: str, key: str, claims: list[str], n: int, seed: int, out: Any) -> None:
    rng = random.Random(seed)
    counts = {"applied": 0, "refused": 0, "other": 0}
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(n):
            if i == 0:
                time.sleep(0.2 * seed)
            claim = rng.choice(claims)
            try:
                etag = http.get(f"/v1/claims/{claim}").headers["ETag"]
                response = http.post(
                    f"/v1/claims/{claim}/evidence",
                    headers={"Authorization": f"Bearer {key}", "If-Match": etag},
                    json={"stance": "context", "sources": ["source/s"], "note": f"{seed}-{i}"},
                )
            except (httpx.HTTPError, KeyError):
                counts["other"] += 1
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                counts["applied"] += 1
            elif response.status_code in (409, 412):
                counts["refused"] += 1
            else:
                counts["other"] += 1
    out.put(counts)


def writers(size: dict[str, int]) -> dict[str, Any]:
    schema, url = _schema()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "LEDGER_WRITE_RATE": "100000",
        "LEDGER_WRITE_BURST": "100000",
        "LEDGER_WATCH_EVERY": "3600",
    }
    with tempfile.TemporaryDirectory() as tmp:
        seed = [
            {
                "op": "source.create",
                "id": "source/s",
                "data": {"url": "https://e.org/s", "title": "S"},
            },
            {"op": "actor.create", "id": "actor/a", "data": {"name": "A", "kind": "person"}},
        ]
        seed += [
            {
                "op": "claim.create",
                "id": f"claim/c{i}",
                "data": {
                    "made_by": "actor/a",
                    "text": f"claim {i}",
                    "made_at": "2017-09-15",
                    "sources": ["source/s"],
                },
            }
            for i in range(10)
        ]
        (Path(tmp) / "seed.jsonl").write_text("".join(json.dumps(c) + "\n" for c in seed))
        env["LEDGER_SIGNING_KEY_FILE"] = f"{tmp}/signing-key"
        _cli(env, "import", f"{tmp}/seed.jsonl")
        key = _cli(env, "keys", "create", "--name", "writers").split()[-1]
        port = _port()
        server_log = Path(tmp) / "server.log"
        server = subprocess.Popen(
            [str(BIN / "ledger"), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=server_log.open("w"),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            claims = [f"c{i}" for i in range(10)]
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            procs = [
                ctx.Process(target=_writer, args=(base, key, claims, size["commands"], n, queue))
                for n in range(size["writers"])
            ]
            for p in procs:
                p.start()
            totals = {"applied": 0, "refused": 0, "other": 0}
            for _ in procs:
                try:
                    got = queue.get(timeout=600)
                except Exception:
                    print(server_log.read_text()[-3000:], file=sys.stderr)
                    raise
                for k, v in got.items():
                    totals[k] += v
            for p in procs:
                p.join()
            evidence = 0
            with httpx.Client(base_url=base, timeout=30) as http:
                for claim in claims:
                    record = http.get(f"/v1/claims/{claim}").json()
                    evidence += len(record["evidence"])
                    history = http.get(f"/v1/claims/{claim}/history").json()["items"]
                    added = sum(1 for e in history if e["type"] == "claim.evidence_added")
                    assert added == len(record["evidence"])
            lost = totals["applied"] - evidence
            if totals["other"]:
                print(server_log.read_text()[-3000:], file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=20)
            _drop(schema)
    return {"commands": size["writers"] * size["commands"], **totals, "lost_updates": lost}


def crash(size: dict[str, int]) -> dict[str, Any]:
    seed = int(os.environ.get("LEDGER_CRASH_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    from ledger.app import Ledger
    from ledger.cli import read_commands
    from ledger.config import Settings
    from projections.runner import FOLLOWERS, Followers
    from projections.verify import verify_local
    from tests.contract.test_followers_crash import generated_commands

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        env = {**os.environ, "LEDGER_DATABASE_URL": url}
        ledger = Ledger(Settings(database_url=url))
        numbered, _ = read_commands(
            generated_commands(Path(tmp) / "log.jsonl", 300 * size["kills"])
        )
        ledger.import_commands([c for _, c in numbered], principal="cli:reliability")
        head = ledger.last_position()
        followers = Followers(ledger)
        kills = 0
        for _ in range(size["kills"] * 2):
            worker = subprocess.Popen(
                [
                    str(BIN / "ledger"),
                    "worker",
                    "--poll",
                    "0.05",
                    "--batch",
                    "10",
                    "--watch-every",
                    "3600",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.5, 1.0))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            if min(followers.position(n) for n in FOLLOWERS if n != "outbox") >= head:
                break
            kills += 1
            if kills >= size["kills"]:
                break
        followers.catch_up()
        before = {n: followers.snapshot(n) for n in ("records", "timeline", "integrity")}
        for name in before:
            followers.rebuild(name)
        followers.catch_up()
        after = {n: followers.snapshot(n) for n in before}
        verdict = verify_local(ledger, followers)
        followers.close()
        ledger.close()
    return {
        "seed": seed,
        "kills_mid_catch_up": kills,
        "views_equal_rebuild": before == after,
        "verify": verdict.ok,
    }


def outage(size: dict[str, int]) -> dict[str, Any]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from api.services import Services
    from ledger.clock import ManualClock
    from ledger.config import Settings
    from projections.outbox import Sender

    received: set[int] = set()
    state = {"down_until": None}
    clock = ManualClock(datetime(2017, 9, 15, 12, tzinfo=UTC))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            down = state["down_until"] is not None and clock.now() < state["down_until"]
            self.send_response(503 if down else 200)
            self.end_headers()
            if not down:
                received.add(body["position"])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        services = Services.open(
            Settings(database_url=f"sqlite:///{tmp}/l.db", webhook_allow_private=True), clock=clock
        )
        from tests.contract.helpers import run, seed

        seed(services.ledger)
        sub = services.admin.create_subscription(
            url=f"http://127.0.0.1:{server.server_address[1]}/hook",
            types=["claim.*"],
            actors=[],
            topics=[],
            description=None,
            enabled=True,
            from_position=services.ledger.last_position(),
            recorded_by="cli:reliability",
        )
        state["down_until"] = clock.now() + timedelta(minutes=10)
        positions = [
            run(
                services.ledger,
                "claim.evidence",
                "claim/19-of-23",
                stance="context",
                sources=["source/article"],
                note=str(i),
            ).position
            for i in range(size["outage_events"])
        ]
        services.followers.catch_up()
        sender = Sender(
            services.followers.views["outbox"], services.admin, clock, allow_private=True
        )
        attempts = 0
        for _ in range(60):
            attempts += sender.run_once()
            clock.advance(timedelta(minutes=1))
        sender.close()
        items, _ = services.followers.outbox.deliveries(str(sub.id), limit=500)
        services.close()
    server.shutdown()
    return {
        "events": len(positions),
        "delivered": len(received & set(positions)),
        "attempts": attempts,
        "lost": len(set(positions) - received),
        "all_marked_delivered": all(i["status"] == "delivered" for i in items),
    }


def tamper(size: dict[str, int]) -> dict[str, Any]:
    from ledger.app import Ledger
    from ledger.config import Settings
    from projections.runner import Followers
    from projections.verify import verify_local
    from tests.contract.helpers import run, seed

    rng = random.Random(11)
    caught = 0
    kinds: dict[str, int] = {"edit": 0, "delete": 0, "swap": 0}
    for round_ in range(size["tampers"]):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/l.db"
            ledger = Ledger(Settings(database_url=url))
            seed(ledger)
            for i in range(20):
                run(
                    ledger,
                    "claim.evidence",
                    "claim/19-of-23",
                    stance="context",
                    sources=["source/article"],
                    note=f"n{i}",
                )
            followers = Followers(ledger)
            followers.catch_up()
            head = ledger.last_position()
            kind = ("edit", "delete", "swap")[round_ % 3]
            kinds[kind] += 1
            with sqlite3.connect(f"{tmp}/l.db") as conn:
                a = rng.randrange(1, head + 1)
                if kind == "edit":
                    state = bytes(
                        conn.execute(
                            "SELECT state FROM stored_events WHERE rowid=?", (a,)
                        ).fetchone()[0]
                    )
                    i = rng.randrange(len(state))
                    flipped = bytes([state[i] ^ (1 << rng.randrange(8))])
                    conn.execute(
                        "UPDATE stored_events SET state=? WHERE rowid=?",
                        (state[:i] + flipped + state[i + 1 :], a),
                    )
                elif kind == "delete":
                    conn.execute("DELETE FROM stored_events WHERE rowid=?", (a,))
                else:
                    b = rng.choice([p for p in range(1, head + 1) if p != a])
                    sa, sb = (
                        conn.execute(
                            "SELECT state FROM stored_events WHERE rowid=?", (p,)
                        ).fetchone()[0]
                        for p in (a, b)
                    )
                    conn.execute("UPDATE stored_events SET state=? WHERE rowid=?", (sb, a))
                    conn.execute("UPDATE stored_events SET state=? WHERE rowid=?", (sa, b))
            verdict = verify_local(ledger, followers)
            caught += 0 if verdict.ok else 1
            followers.close()
            ledger.close()
    return {"tampered": size["tampers"], "caught": caught, **kinds}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m reliability")
    parser.add_argument("--size", choices=list(SIZES), default="full")
    args = parser.parse_args()
    size = SIZES[args.size]
    rows = []
    w = writers(size)
    rows.append(
        (
            "concurrent writers",
            f"{w['commands']} commands: {w['applied']} applied, "
            f"{w['refused']} refused 409/412, {w['other']} other",
            w["lost_updates"] == 0 and w["other"] == 0,
            f"lost updates {w['lost_updates']}",
        )
    )
    c = crash(size)
    rows.append(
        (
            "kill -9 while catching up",
            f"{c['kills_mid_catch_up']} kills (seed {c['seed']})",
            c["views_equal_rebuild"] and c["verify"],
            f"views = rebuild: {c['views_equal_rebuild']}, verify: {c['verify']}",
        )
    )
    o = outage(size)
    rows.append(
        (
            "receiver outage (10 min)",
            f"{o['events']} events, {o['attempts']} attempts",
            o["lost"] == 0 and o["all_marked_delivered"],
            f"lost {o['lost']}",
        )
    )
    t = tamper(size)
    rows.append(
        (
            "tampering",
            f"{t['tampered']} edits/deletions/swaps",
            t["caught"] == t["tampered"],
            f"caught {t['caught']} of {t['tampered']}",
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"\nreliability ({args.size})")
    for name, what, ok, figure in rows:
        print(f"  {name:<{width}}  {'PASS' if ok else 'FAIL'}  {figure}  ({what})")
    if not all(r[2] for r in rows):
        sys.exit(1)
