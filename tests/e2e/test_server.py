"""End to end: the real server (`ledger serve`) in a process of its own, on a SQLite file,
driven over real HTTP through a whole story on today's calendar: a promise whose fuzzy
deadline has passed, the deadline watcher noticing it, an extension, a late fulfilment,
and every view and feed that should show it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from icalendar import Calendar

ROOT = Path(__file__).resolve().parents[2]
LEDGER = str(ROOT / ".venv" / "bin" / "ledger")
ATOM = "{http://www.w3.org/2005/Atom}"
TOPIC = "e2e-recommendations"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(probe: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A running `ledger serve` on a fresh store; yields its base URL and environment."""
    port = free_port()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/e2e.db",
        "LEDGER_WATCH_EVERY": "0.5",
        "LEDGER_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("PORT", None)
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [LEDGER, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready, "the server to be ready", timeout=60)
        yield base, env
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def editor_key(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [LEDGER, "keys", "create", "--name", "e2e", "--scope", "editor"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def atom_titles(http: httpx.Client, path: str) -> list[str]:
    response = http.get(path)
    assert response.status_code == 200
    feed = ET.fromstring(response.content)
    return [e.findtext(f"{ATOM}title") or "" for e in feed.findall(f"{ATOM}entry")]


def calendar_event(http: httpx.Client, commitment: str) -> Any:
    response = http.get("/v1/feeds/deadlines.ics")
    assert response.status_code == 200
    events = Calendar.from_ical(response.content).walk("VEVENT")
    return next(e for e in events if str(e["uid"]).startswith(commitment))


@pytest.mark.slow
def test_a_late_promise_over_real_http(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = server
    key = editor_key(env, tmp_path)
    today = datetime.now(UTC).date()
    made, due = today - timedelta(days=10), today - timedelta(days=3)
    extended = today - timedelta(days=1)  # still passed: the fulfilment today is late
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as http:

        def write(path: str, body: dict[str, Any], **headers: str) -> tuple[dict[str, Any], str]:
            response = http.post(path, json=body, headers=headers)
            assert response.status_code in (200, 201), response.text
            return response.json(), response.headers["X-Ledger-Position"]

        source, _ = write(
            "/v1/sources",
            {"url": "https://example.org/council-minutes", "title": "Council minutes"},
        )
        actor, _ = write(
            "/v1/actors",
            {"name": "Bryan Warren", "kind": "person", "sources": [source["id"]]},
        )
        promise, position = write(
            "/v1/commitments",
            {
                "kind": "promise",
                "made_by": actor["id"],
                "text": "I will have recommendations for the mayor by the end of next week.",
                "made_at": made.isoformat(),
                "due": {
                    "on": due.isoformat(),
                    "text": "by the end of next week",
                    "precision": "week",
                    "basis": f"said {made}; end of next week = {due}",
                },
                "topics": [TOPIC],
                "sources": [source["id"]],
            },
        )
        cid = promise["id"]

        def board_item(position: str) -> dict[str, Any]:
            page = http.get("/v1/commitments", params={"topic": TOPIC, "min_position": position})
            assert page.status_code == 200, page.text
            [item] = page.json()["items"]
            return dict(item)

        overdue = board_item(position)
        assert overdue["overdue"] is True
        assert overdue["days_overdue"] == 3
        assert overdue["due"]["text"] == "by the end of next week"

        def deadline_passed() -> list[dict[str, Any]]:
            events = http.get("/v1/events", params={"limit": 500}).json()["items"]
            return [
                e
                for e in events
                if e["type"] == "commitment.deadline_passed" and e["data"].get("commitment") == cid
            ]

        [notice] = eventually(deadline_passed, "the deadline watcher's notice")
        assert notice["recorded_by"] == "system:deadline-watcher"
        assert notice["data"]["due_on"] == due.isoformat()

        queue = http.get("/v1/follow-ups", params={"min_position": notice["position"]}).json()
        assert [i["reason_code"] for i in queue["items"] if i["id"] == cid] == ["deadline_passed"]
        feed_before = atom_titles(http, f"/v1/feeds/topics/{TOPIC}.atom")
        assert calendar_event(http, cid).decoded("dtstart") == due

        etag = http.get(f"/v1/commitments/{cid}").headers["ETag"]
        _, position = write(
            f"/v1/commitments/{cid}/deadline",
            {
                "on": extended.isoformat(),
                "reason": "the mayor's office gave him two more days",
                "granted_by": actor["id"],
                "sources": [source["id"]],
            },
            **{"If-Match": etag},
        )
        extended_item = board_item(position)
        assert extended_item["due"]["on"] == extended.isoformat()
        assert extended_item["original_due"]["on"] == due.isoformat()
        assert extended_item["days_overdue"] == 1
        assert extended_item["days_overdue_original"] == 3
        assert calendar_event(http, cid).decoded("dtstart") == extended

        action, position = write(
            "/v1/actions",
            {
                "actor": actor["id"],
                "kind": "report_delivered",
                "occurred_at": today.isoformat(),
                "summary": "Warren delivered his recommendations to the mayor",
                "fulfils": [cid],
                "topics": [TOPIC],
                "sources": [source["id"]],
            },
        )
        fresh = {"min_position": position}
        page = http.get("/v1/commitments", params={**fresh, "topic": TOPIC}).json()
        [kept] = page["items"]
        assert kept["status"] == "fulfilled"
        assert kept["fulfilled_late"] is True
        assert kept["overdue"] is False

        card = http.get(f"/v1/actors/{actor['id']}/scorecard", params=fresh).json()
        assert card["commitments"]["made"] == 1
        assert card["commitments"]["kept"] == 1
        assert card["commitments"]["kept_late"] == 1
        assert card["commitments"]["keep_rate"] == 1.0

        queue = http.get("/v1/follow-ups", params=fresh).json()
        assert cid not in [i["id"] for i in queue["items"]]

        history = http.get(f"/v1/commitments/{cid}/history").json()["items"]
        assert [e["type"] for e in history] == [
            "commitment.made",
            "commitment.deadline_extended",
            "commitment.status_changed",
        ]
        assert history[-1]["data"]["action"] == action["id"]
        assert history[-1]["data"]["status"] == "fulfilled"

        feed_after = atom_titles(http, f"/v1/feeds/topics/{TOPIC}.atom")
        assert len(feed_after) > len(feed_before)
        assert any("action.recorded" in t for t in feed_after)
        assert not any("action.recorded" in t for t in feed_before)

        event = calendar_event(http, cid)
        assert "Status: fulfilled" in str(event["description"])
        assert f"Originally due {due}" in str(event["description"])
