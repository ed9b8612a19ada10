"""The compose topology without Docker: the API with 2 worker processes and 2 `ledger worker`
processes on the local PostgreSQL. Writes go through the API, views are fed by the workers,
and one worker dying does not stop them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_postgres

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_api_with_two_processes_and_two_workers_on_postgres(pg_url: str, tmp_path: Path) -> None:
    require_postgres()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": pg_url,
        "LEDGER_RUN_FOLLOWERS": "false",
        "LEDGER_SIGNING_KEY_FILE": str(tmp_path / "signing-key"),
        "LEDGER_WRITE_RATE": "1000",
        "LEDGER_WRITE_BURST": "1000",
    }
    key = subprocess.run(
        [str(BIN / "ledger"), "keys", "create", "--name", "topology", "--scope", "editor"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    api = subprocess.Popen(
        [str(BIN / "ledger"), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = [
        subprocess.Popen(
            [str(BIN / "ledger"), "worker", "--poll", "0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    auth = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(150):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            source = http.post(
                "/v1/sources", headers=auth, json={"url": "https://e.org/s", "title": "S"}
            ).json()["id"]
            actor = http.post(
                "/v1/actors", headers=auth, json={"name": "Mayor", "kind": "person"}
            ).json()["id"]

            def promise(n: int) -> int:
                response = http.post(
                    "/v1/commitments",
                    headers=auth,
                    json={
                        "kind": "promise",
                        "made_by": actor,
                        "text": f"promise {n}",
                        "made_at": "2017-09-15",
                        "due": {"on": "2017-09-22"},
                        "sources": [source],
                    },
                )
                assert response.status_code == 201, response.text
                return int(response.headers["X-Ledger-Position"])

            positions = [promise(n) for n in range(20)]
            board = http.get("/v1/commitments", params={"min_position": positions[-1]})
            assert board.status_code == 200, board.text
            assert len(board.json()["items"]) == 20
            # Kill one worker; the other holds (or takes over) every follower.
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            positions = [promise(n) for n in range(20, 30)]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                board = http.get("/v1/commitments", params={"limit": 100})
                if len(board.json()["items"]) == 30:
                    break
                time.sleep(0.2)
            assert len(board.json()["items"]) == 30
            metrics = http.get("/metrics").text
            assert "ledger_http_requests_total" in metrics
            assert "ledger_follower_lag_events" in metrics
            ready = http.get("/readyz").json()
            assert ready["status"] == "ready"
            assert http.get("/v1/integrity/checkpoint").status_code == 200
    finally:
        for process in (api, *workers):
            if process.poll() is None:
                process.terminate()
        for process in (api, *workers):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
