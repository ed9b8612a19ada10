"""bench/api: recording a claim over HTTP against two baselines, same server settings, worker
count and load generator for all three, in one run.

1. the ledger: `POST /v1/claims` (auth, validation, append on SQLite, followers running);
2. the baseline: a bare FastAPI endpoint that validates the same body with pydantic and
   inserts one row with sqlite3 into a WAL database;
3. a hello-world endpoint, for reference.
Goal: (1) >= 0.5x the requests/s of (2), p99 <= 3x the p99 of (2). Reads of the board are
measured the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
BASELINE = """
import sqlite3, threading
from fastapi import FastAPI
from ledger.commands import ClaimCreate
app = FastAPI()
local = threading.local()
def conn():
    c = getattr(local, "c", None)
    if c is None:
        c = sqlite3.connect("{db}", isolation_level=None, check_same_thread=False)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE IF NOT EXISTS claims (id INTEGER PRIMARY KEY, body TEXT)")
        local.c = c
    return c
@app.post("/claims", status_code=201)
def record(body: ClaimCreate):
    cur = conn().execute("INSERT INTO claims (body) VALUES (?)", (body.model_dump_json(),))
    return {{"id": cur.lastrowid}}
@app.get("/hello")
def hello():
    return {{"hello": "world"}}
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def _load(
    url: str, method: str, body: Any, headers: dict[str, str], seconds: float, concurrency: int
) -> tuple[float, float]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop:
            start = time.perf_counter()
            response = await client.request(method, url, json=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            if response.status_code >= 400:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as c:
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.quantiles(latencies, n=100)[98]


def main(
    n_events: int | None = None, seconds: float = 8.0, concurrency: int = 16, workers: int = 1
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": f"sqlite:///{tmp}/ledger.db",
            "LEDGER_WRITE_RATE": "1000000",
            "LEDGER_WRITE_BURST": "1000000",
            "LEDGER_WATCH_EVERY": "3600",
        }
        seed = [
            {
                "op": "source.create",
                "id": "source/s",
                "data": {"url": "https://e.org/s", "title": "S"},
            },
            {"op": "actor.create", "id": "actor/a", "data": {"name": "A", "kind": "person"}},
        ]
        (Path(tmp) / "seed.jsonl").write_text("".join(json.dumps(c) + "\n" for c in seed))
        subprocess.run(
            [str(BIN / "ledger"), "import", f"{tmp}/seed.jsonl"],
            env=env,
            check=True,
            capture_output=True,
        )
        key = subprocess.run(
            [str(BIN / "ledger"), "keys", "create", "--name", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        (Path(tmp) / "baseline.py").write_text(BASELINE.format(db=f"{tmp}/baseline.db"))
        ledger_port, base_port = _port(), _port()
        uvicorn_args = ["--workers", str(workers), "--log-level", "warning"]
        servers = [
            subprocess.Popen(
                [
                    str(BIN / "ledger"),
                    "serve",
                    "--port",
                    str(ledger_port),
                    "--workers",
                    str(workers),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [str(BIN / "uvicorn"), "baseline:app", "--port", str(base_port), *uvicorn_args],
                cwd=tmp,
                env={**env, "PYTHONPATH": os.getcwd()},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        try:
            _wait(f"http://127.0.0.1:{ledger_port}/healthz")
            _wait(f"http://127.0.0.1:{base_port}/hello")
            body = {
                "made_by": "actor/a",
                "text": "Response times improved by 12 percent.",
                "made_at": "2019-03-02",
                "sources": ["source/s"],
            }
            auth = {"Authorization": f"Bearer {key}"}
            run = asyncio.run
            ledger = run(
                _load(
                    f"http://127.0.0.1:{ledger_port}/v1/claims",
                    "POST",
                    body,
                    auth,
                    seconds,
                    concurrency,
                )
            )
            baseline = run(
                _load(
                    f"http://127.0.0.1:{base_port}/claims", "POST", body, {}, seconds, concurrency
                )
            )
            hello = run(
                _load(f"http://127.0.0.1:{base_port}/hello", "GET", None, {}, seconds, concurrency)
            )
            board = run(
                _load(
                    f"http://127.0.0.1:{ledger_port}/v1/commitments",
                    "GET",
                    None,
                    {},
                    seconds,
                    concurrency,
                )
            )
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=20)
    results = {
        "ledger_write": {"rps": ledger[0], "p99_ms": ledger[1] * 1000},
        "baseline_write": {"rps": baseline[0], "p99_ms": baseline[1] * 1000},
        "hello": {"rps": hello[0], "p99_ms": hello[1] * 1000},
        "board_read": {"rps": board[0], "p99_ms": board[1] * 1000},
    }
    print(
        f"\nbench/api — {concurrency} concurrent clients, {workers} server worker(s), "
        f"{seconds:.0f} s each, SQLite"
    )
    for name, r in results.items():
        print(f"  {name:<15} {r['rps']:>8,.0f} req/s   p99 {r['p99_ms']:7.1f} ms")
    print(
        f"  ledger write / baseline = {ledger[0] / baseline[0]:.2f}x rps (goal >= 0.5x), "
        f"p99 {ledger[1] / baseline[1]:.2f}x (goal <= 3x)"
    )
    print(
        f"  ledger write / hello-world = {ledger[0] / hello[0]:.2f}x; "
        f"board read / hello-world = {board[0] / hello[0]:.2f}x"
    )
    return results
