"""What the reliability checks share: stores on PostgreSQL, the `ledger` command, processes
that can be killed with SIGKILL and started again, and a webhook receiver that checks every
signature as it arrives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BIN = Path(sys.executable).parent
LEDGER = str(BIN / "ledger")
PG = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_postgres() -> None:
    """The suite runs on PostgreSQL: without a server it fails, never passes silently."""
    try:
        with psycopg.connect(PG, connect_timeout=3):
            pass
    except psycopg.Error as e:
        raise SystemExit(f"reliability: PostgreSQL is not reachable at {PG}: {e}") from None


@contextmanager
def pg_store() -> Iterator[str]:
    """A store URL on a PostgreSQL schema of its own, dropped afterwards."""
    schema = f"rel_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{PG}?schema={schema}"
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def ledger_env(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of every `ledger` process of one store: no write limits, a signing
    key of its own, and no private webhook addresses unless `extra` allows them."""
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_WEBHOOK_ALLOW_PRIVATE"}
    env.pop("PORT", None)
    env.update(
        {
            "LEDGER_DATABASE_URL": url,
            "LEDGER_SIGNING_KEY_FILE": str(tmp / "signing-key"),
            "LEDGER_WRITE_RATE": "1000000",
            "LEDGER_WRITE_BURST": "1000000",
            "LEDGER_WATCH_EVERY": "3600",
        }
    )
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ledger ARGS` to the end."""
    return subprocess.run(
        [LEDGER, *args], env=env, check=check, capture_output=True, text=True, timeout=600
    )


def new_key(env: dict[str, str], name: str, scope: str = "editor") -> str:
    return cli(env, "keys", "create", "--name", name, "--scope", scope).stdout.split()[-1]


def write_jsonl(path: Path, lines: Iterable[object]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


class Process:
    """A `ledger` command in a process group of its own, so that SIGKILL takes the whole of
    it at once (the server's worker processes too) and it can be started again."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                [LEDGER, *self.args],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def kill9(self) -> None:
        if self.popen is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a graceful stop), then SIGKILL if it does not end in time."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                self.kill9()
        # Leftovers of the group (a server's worker processes) go too.
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int | None:
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""


def server(env: dict[str, str], port: int, log: Path, workers: int = 2) -> Process:
    return Process(["serve", "--port", str(port), "--workers", str(workers)], env, log)


def worker(env: dict[str, str], log: Path, *extra: str) -> Process:
    args = ["worker", "--poll", "0.1", "--watch-every", "3600", *extra]
    return Process(args, env, log)


def wait_healthy(base: str, timeout: float = 60.0, path: str = "/healthz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base}{path} did not answer within {timeout:.0f}s")


def eventually(probe: Any, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(every)
    return bool(probe())


class SignedReceiver:
    """A webhook receiver on 127.0.0.1 that verifies each request's Standard Webhooks
    signature (with the `standardwebhooks` library) as it arrives, answers 204 to a good one
    and 400 to a bad one, and keeps the verified `webhook-id`s (de-duplicated) and their
    bodies. A request cut short by a sender killed mid-post counts as torn, not as bad; while
    `down()` says so it answers 503 to everything."""

    def __init__(self) -> None:
        self.secret: str | None = None
        #: While this says so, the receiver is down: it answers 503 and keeps nothing.
        self.down: Callable[[], bool] = lambda: False
        self.lock = threading.Lock()
        self.ids: dict[str, dict[str, Any]] = {}
        self.counts = {"requests": 0, "verified": 0, "bad_signature": 0, "torn": 0, "down": 0}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                status = receiver.receive(body, length, dict(self.headers))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def receive(self, body: bytes, length: int, headers: dict[str, str]) -> int:
        with self.lock:
            self.counts["requests"] += 1
            if self.down():
                self.counts["down"] += 1
                return 503
            if len(body) < length:
                self.counts["torn"] += 1
                return 400
            lowered = {k.lower(): v for k, v in headers.items()}
            try:
                payload = Webhook(self.secret or "whsec_").verify(body, lowered)
            except (WebhookVerificationError, ValueError):
                self.counts["bad_signature"] += 1
                return 400
            self.counts["verified"] += 1
            self.ids.setdefault(lowered["webhook-id"], payload)
            return 204

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
