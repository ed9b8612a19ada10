"""`ledger verify --url` audits a real server from a saved checkpoint and a pinned key, and
says so when the server rewrote history."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
SEED = [
    {"op": "source.create", "id": "source/a", "data": {"url": "https://e.org/a", "title": "A"}},
    {"op": "actor.create", "id": "actor/m", "data": {"name": "Mayor", "kind": "person"}},
    {
        "op": "claim.create",
        "id": "claim/c",
        "data": {
            "made_by": "actor/m",
            "text": "all is well",
            "made_at": "2017-09-15",
            "sources": ["source/a"],
        },
    },
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ledger"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(BIN / "ledger"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not become ready")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.mark.slow
def test_remote_audit_accepts_appends_and_catches_a_rewrite(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": f"sqlite:///{db}",
        "LEDGER_CHECKPOINT_EVERY": "0",
        "LEDGER_WATCH_EVERY": "3600",
    }
    (tmp_path / "seed.jsonl").write_text("".join(json.dumps(c) + "\n" for c in SEED))
    assert _cli(env, "import", str(tmp_path / "seed.jsonl")).returncode == 0
    key = _cli(env, "keys", "create", "--name", "audit", "--scope", "editor").stdout.split()[-1]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(env, port)
    try:
        pinned = httpx.get(f"{base}/v1/integrity/key").json()["vkey"]
        (tmp_path / "pinned.vkey").write_text(pinned)
        saved = tmp_path / "checkpoint.txt"
        saved.write_text(httpx.get(f"{base}/v1/integrity/checkpoint").text)
        assert saved.read_text().splitlines()[1] == "3"
        more = [
            {
                "op": "claim.evidence",
                "id": "claim/c",
                "data": {"stance": "contradicts", "sources": ["source/a"], "note": f"n{i}"},
            }
            for i in range(5)
        ]
        (tmp_path / "more.jsonl").write_text("".join(json.dumps(c) + "\n" for c in more))
        assert _cli(env, "import", str(tmp_path / "more.jsonl")).returncode == 0
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/readyz").json()["lag"]["records"] and time.monotonic() < deadline:
            time.sleep(0.2)
        signed = httpx.post(
            f"{base}/v1/integrity/checkpoint", headers={"Authorization": f"Bearer {key}"}
        )
        assert signed.status_code == 200, signed.text
        assert signed.text.splitlines()[1] == "8"
        audit = _cli(
            env,
            "verify",
            "--url",
            base,
            "--checkpoint",
            str(saved),
            "--key",
            str(tmp_path / "pinned.vkey"),
            "--save",
        )
        assert audit.returncode == 0, audit.stderr
        assert "append-only: 3 -> 8" in audit.stderr
        assert saved.read_text().splitlines()[1] == "8"
    finally:
        _stop(server)

    # The operator rewrites an early event and rebuilds the tree, signing with the same key.
    with sqlite3.connect(db) as conn:
        state = conn.execute("SELECT state FROM stored_events WHERE rowid = 3").fetchone()[0]
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = 3",
            (bytes(state).replace(b"all is well", b"all is fine"),),
        )
    for views in tmp_path.glob("ledger-views.db*"):
        views.unlink()
    server = _serve(env, port)
    try:
        audit = _cli(env, "verify", "--url", base, "--checkpoint", str(saved), "--key", pinned)
        assert audit.returncode == 1
        assert "history was rewritten" in audit.stderr
    finally:
        _stop(server)
