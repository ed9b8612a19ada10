"""Who may write, and where webhooks may go, against the real server and worker on
PostgreSQL (LEDGER_WEBHOOK_ALLOW_PRIVATE unset).

- `auth_matrix`: every POST, PATCH and DELETE of the served OpenAPI, with each caller that
  must be refused (the cases of tests/api/test_auth.py: no key, an unknown key, a malformed
  header, an empty bearer, a reader key, a revoked key; and an editor key where an admin key
  is needed): each answers 401 or 403 and nothing is written (the public log, the admin log
  and the webhook deliveries are where they were).
- `ssrf`: subscriptions to loopback, private, link-local, carrier-grade NAT and cloud
  metadata addresses and to host names that resolve to 127.0.0.1; every delivery is refused
  by the worker's sender before any connection is made, and a receiver listening on
  127.0.0.1 gets nothing.
"""

from __future__ import annotations

import re
import socket
import tempfile
from pathlib import Path
from typing import Any

import httpx

from reliability.support import (
    SignedReceiver,
    cli,
    eventually,
    free_port,
    ledger_env,
    new_key,
    pg_store,
    server,
    wait_healthy,
    worker,
    write_jsonl,
)

SEED = [
    {"op": "source.create", "id": "source/s", "data": {"url": "https://e.org/s", "title": "S"}},
    {"op": "actor.create", "id": "actor/a", "data": {"name": "A", "kind": "person"}},
    {
        "op": "commitment.create",
        "id": "commitment/c",
        "data": {
            "kind": "promise",
            "made_by": "actor/a",
            "text": "a promise",
            "made_at": "2017-09-15",
            "due": {"on": "2017-09-22"},
            "sources": ["source/s"],
        },
    },
]
ADMIN_PATHS = ("/v1/keys", "/v1/webhooks", "/v1/deliveries")


def _marks(url: str, tmp: Path) -> tuple[int, int, int]:
    """Where the public log, the admin log and the webhook deliveries stand."""
    from ledger.admin import Admin
    from ledger.app import Ledger
    from ledger.config import Settings
    from projections.runner import Followers

    settings = Settings(database_url=url, signing_key_file=str(tmp / "signing-key"))
    ledger, admin = Ledger(settings), Admin(settings)
    followers = Followers(ledger)
    try:
        with followers.views["outbox"].read() as sql:
            row = sql.one("SELECT COUNT(*) AS n FROM w_deliveries")
        return (
            ledger.last_position(),
            int(admin.recorder.max_notification_id() or 0),
            int(row["n"]) if row else 0,
        )
    finally:
        followers.close()
        admin.close()
        ledger.close()


def _stack(tmp: Path, url: str) -> tuple[dict[str, str], dict[str, str]]:
    """The seeded store and its keys (editor, admin, reader, revoked)."""
    env = ledger_env(url, tmp, LEDGER_RUN_FOLLOWERS="false")
    cli(env, "import", str(write_jsonl(tmp / "seed.jsonl", SEED)))
    keys = {
        "editor": new_key(env, "desk"),
        "admin": new_key(env, "root", "admin"),
        "reader": new_key(env, "viewer", "reader"),
        "revoked": new_key(env, "gone"),
    }
    cli(env, "keys", "revoke", "gone", "--reason", "left")
    return env, keys


def run(size: dict[str, int]) -> dict[str, Any]:
    with pg_store() as url, tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env, keys = _stack(tmp, url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api = server(env, port, tmp / "api.log")
        sender = worker(env, tmp / "worker.log")
        receiver = SignedReceiver()
        try:
            api.start()
            sender.start()
            wait_healthy(base)
            with httpx.Client(base_url=base, timeout=30) as http:
                matrix = auth_matrix(http, keys, url, tmp)
                refusals = ssrf(http, keys, receiver)
        finally:
            sender.stop()
            api.stop()
            receiver.close()
    return {"auth": matrix, "ssrf": refusals}


def auth_matrix(http: httpx.Client, keys: dict[str, str], url: str, tmp: Path) -> dict[str, Any]:
    from tests.api.conftest import Keys
    from tests.api.test_auth import refusals

    admin = {"Authorization": f"Bearer {keys['admin']}"}
    hook = http.post("/v1/webhooks", headers=admin, json={"url": "https://example.org/h"})
    hook.raise_for_status()
    real = {
        "actors": "a",
        "sources": "s",
        "commitments": "c",
        "webhooks": hook.json()["id"],
        "keys": "desk",
        "deliveries": hook.json()["id"],
    }
    spec = http.get("/openapi.json").json()
    cases = refusals(Keys(**keys))
    before = _marks(url, tmp)
    wrong: list[str] = []
    requests = 0
    operations = 0
    for path, methods in spec["paths"].items():
        for method in ("post", "patch", "delete"):
            if method not in methods:
                continue
            operations += 1
            plural = path.split("/")[2]
            filled = re.sub(r"\{[^}]+\}", real.get(plural, "c"), path)
            callers = list(cases)
            if path.startswith(ADMIN_PATHS):
                editor = {"Authorization": f"Bearer {keys['editor']}"}
                callers.append(("editor key", editor, 403, "insufficient-scope"))
            for case, headers, status, slug in callers:
                # Over the wire a header value loses its surrounding blanks ("Bearer ").
                sent = {k: v.strip() for k, v in headers.items()}
                response = http.request(method.upper(), filled, json={}, headers=sent)
                requests += 1
                problem = response.headers.get("content-type", "").startswith(
                    "application/problem+json"
                )
                if response.status_code != status or not problem:
                    wrong.append(f"{method.upper()} {filled} with {case}: {response.status_code}")
                elif not response.json()["type"].endswith("/" + slug):
                    wrong.append(
                        f"{method.upper()} {filled} with {case}: {response.json()['type']}"
                    )
    after = _marks(url, tmp)
    return {
        "operations": operations,
        "requests": requests,
        "wrong": len(wrong),
        "written": after != before,
        "marks": [before, after],
        "examples": wrong[:5],
    }


def _loopback_names() -> list[str]:
    """Host names that resolve to 127.0.0.1 here: localhost, and this machine's own name
    where it does."""
    names = ["localhost"]
    try:
        own = socket.gethostname()
        if own != "localhost" and socket.gethostbyname(own).startswith("127."):
            names.append(own)
    except OSError:
        pass
    return names


def ssrf(http: httpx.Client, keys: dict[str, str], receiver: SignedReceiver) -> dict[str, Any]:
    port = receiver.port
    targets = {
        "loopback 127.0.0.1": f"http://127.0.0.1:{port}/hook",
        "loopback ::1": f"http://[::1]:{port}/hook",
        "loopback 127.1.2.3": f"http://127.1.2.3:{port}/hook",
        "IPv4-mapped ::ffff:127.0.0.1": f"http://[::ffff:127.0.0.1]:{port}/hook",
        "unspecified 0.0.0.0": f"http://0.0.0.0:{port}/hook",
        "private 10.0.0.1": "http://10.0.0.1/hook",
        "private 172.16.0.1": "http://172.16.0.1/hook",
        "private 192.168.1.1": "https://192.168.1.1/hook",
        "private fd00::1": "http://[fd00::1]/hook",
        "CGNAT 100.64.0.1": "http://100.64.0.1/hook",
        "link-local 169.254.1.1": "http://169.254.1.1/hook",
        "link-local fe80::1": "http://[fe80::1]/hook",
        "metadata 169.254.169.254": "http://169.254.169.254/latest/meta-data/",
        "metadata fd00:ec2::254": "http://[fd00:ec2::254]/latest/meta-data/",
    }
    for host in _loopback_names():
        targets[f"name {host} -> 127.0.0.1"] = f"http://{host}:{port}/hook"
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    editor = {"Authorization": f"Bearer {keys['editor']}"}
    subscriptions: dict[str, str] = {}
    not_created: list[str] = []
    for label, target in targets.items():
        response = http.post("/v1/webhooks", headers=admin, json={"url": target, "types": ["*"]})
        if response.status_code == 201:
            subscriptions[label] = response.json()["id"]
        elif response.status_code != 422:
            not_created.append(f"{label}: {response.status_code} {response.text[:200]}")
    # One event for every subscription, and a ping of each.
    written = http.post(
        "/v1/commitments/c/status",
        headers=editor,
        json={
            "status": "in_progress",
            "occurred_at": "2017-09-18",
            "reason": "started",
            "sources": ["source/s"],
        },
    )
    written.raise_for_status()
    for sid in subscriptions.values():
        http.post(f"/v1/webhooks/{sid}/ping", headers=admin).raise_for_status()

    def attempts(sid: str) -> list[dict[str, Any]]:
        items = http.get(f"/v1/webhooks/{sid}/deliveries", headers=admin).json()["items"]
        return [a for item in items for a in item["attempts"]]

    def all_tried() -> bool:
        return all(len(attempts(sid)) >= 2 for sid in subscriptions.values())

    tried = eventually(all_tried, timeout=60, every=0.5)
    refused, reached = [], []
    for label, sid in subscriptions.items():
        tries = attempts(sid)
        if tries and all(
            a["status_code"] is None and str(a["error"]).startswith("refused") for a in tries
        ):
            refused.append(label)
        else:
            reached.append(f"{label}: {[(a['status_code'], a['error']) for a in tries][:2]}")
    return {
        "targets": len(targets),
        "refused_at_creation": len(targets) - len(subscriptions) - len(not_created),
        "refused_at_delivery": len(refused),
        "not_refused": reached[:5] + not_created[:5],
        "all_attempted": tried,
        "receiver_requests": receiver.counts["requests"],
    }
