"""The reliability suite's own machinery: its table and exit status, the receiver that checks
webhook signatures, the guard that catches refused requests that write, and two of its
checks run small."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from api.services import Services
from ledger.config import Settings
from ledger.webhooks import new_secret
from reliability import outage, suite, tamper
from reliability.bad_input import WriteGuard, documented_wait
from reliability.suite import Row, render_markdown, render_text
from reliability.support import SignedReceiver
from tests.contract.helpers import run

ROWS = [
    Row("writers", True, "0 lost", "0 lost updates", "8 x 1000"),
    Row("tamper | edits", False, "caught 99 of 100", "100 of 100 caught"),
]
META = {"finished_at": "2026-01-02 03:04 UTC", "size": "full", "seed": 7, "commit": "abc",
        "cpus": 2, "python": "3.11.7", "seconds": 12.0}  # fmt: skip


def test_the_table_shows_each_figure_beside_its_goal() -> None:
    text = render_text(ROWS, "reliability (full)").splitlines()
    assert text[0] == "reliability (full)"
    assert text[1].split() == ["writers", "PASS", "0", "lost"]
    assert text[2].strip() == "goal: 0 lost updates"
    assert text[3].strip() == "(8 x 1000)"
    assert "FAIL  caught 99 of 100" in text[4]
    assert text[-1] == "  1 of 2 rows pass"
    markdown = render_markdown(ROWS, "reliability (full)", META).splitlines()
    assert markdown[0] == "# reliability (full)"
    assert "seed 7" in markdown[2] and "commit `abc`" in markdown[2]
    assert "| writers | PASS | 0 lost | 0 lost updates | 8 x 1000 (0 s) |" in markdown
    assert "| tamper \\| edits | **FAIL** | caught 99 of 100 | 100 of 100 caught |  (0 s) |" in (
        markdown
    )
    assert "1 of 2 rows pass." in markdown


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The suite writing into `tmp_path`, with no PostgreSQL needed."""
    monkeypatch.setattr(suite, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(suite, "REPORT", tmp_path / "REPORT.md")
    monkeypatch.setattr(suite, "HERE", tmp_path / "reliability")
    monkeypatch.setattr("reliability.support.require_postgres", lambda: None)
    monkeypatch.setenv("LEDGER_CRASH_SEED", "42")
    return tmp_path


def test_a_failing_row_makes_the_suite_exit_non_zero(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fine(size: dict[str, int], seed: int) -> Row:
        return Row("fine", True, f"seed {seed}, {size['tampers']} tampers", "goal")

    def broken(size: dict[str, int], seed: int) -> Row:
        raise RuntimeError("the server did not start")

    monkeypatch.setattr(suite, "CHECKS", {"fine": fine, "broken": broken})
    with pytest.raises(SystemExit) as exited:
        suite.main(["--size", "small"])
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "seed 42" in out
    assert "fine    PASS  seed 42, 9 tampers" in out
    assert "broken  FAIL  error: RuntimeError: the server did not start" in out
    data = json.loads((isolated / "results" / "latest.json").read_text())
    assert data["ok"] is False and data["size"] == "small" and data["seed"] == 42
    assert [(r["check"], r["ok"]) for r in data["rows"]] == [("fine", True), ("broken", False)]
    assert "| broken | **FAIL** |" in (isolated / "results" / "latest.md").read_text()
    assert not (isolated / "REPORT.md").exists()  # only a complete full run writes it


def test_a_complete_full_run_that_passes_writes_the_report_and_exits_zero(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        suite, "CHECKS", {"only": lambda size, seed: Row("only", True, "ok", "goal")}
    )
    suite.main(["--size", "full"])
    assert "| only | PASS | ok | goal |" in (isolated / "REPORT.md").read_text()
    suite.main(["--size", "full", "--only", "only"])
    with pytest.raises(SystemExit):
        suite.main(["--only", "nothing"])


def _post(receiver: SignedReceiver, secret: str, body: str, msg: str) -> int:
    headers = {
        "webhook-id": msg,
        "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
        "webhook-signature": Webhook(secret).sign(msg, datetime.now(UTC), body),
        "content-type": "application/json",
    }
    return httpx.post(receiver.url, content=body, headers=headers, timeout=5).status_code


def test_the_receiver_keeps_verified_webhooks_once_and_refuses_bad_signatures() -> None:
    receiver = SignedReceiver()
    secret = new_secret()
    receiver.secret = secret
    try:
        assert _post(receiver, secret, '{"position": 1}', "msg_1") == 204
        assert _post(receiver, secret, '{"position": 1}', "msg_1") == 204  # a redelivery
        assert _post(receiver, new_secret(), '{"position": 2}', "msg_2") == 400
        receiver.down = lambda: True
        assert _post(receiver, secret, '{"position": 3}', "msg_3") == 503
    finally:
        receiver.close()
    assert receiver.ids == {"msg_1": {"position": 1}}
    assert receiver.counts == {
        "requests": 4,
        "verified": 2,
        "bad_signature": 1,
        "torn": 0,
        "down": 1,
    }


async def test_the_guard_counts_refused_requests_that_wrote_and_real_server_errors(
    sqlite_url: str,
) -> None:
    services = Services.open(Settings(database_url=sqlite_url))
    written = iter(range(100))

    def write() -> None:
        run(services.ledger, "source.create", url="https://e.org/s", title=f"S{next(written)}")

    answers = {
        "/written": (422, [], b"{}", write),
        "/clean": (404, [], b"{}", None),
        "/created": (201, [], b"{}", write),
        "/waiting": (503, [(b"retry-after", b"1")], b'{"type":"x/views-behind"}', None),
        "/broken": (500, [], b"Internal Server Error", None),
    }

    async def app(scope: Any, receive: Any, send: Any) -> None:
        status, headers, body, effect = answers[scope["path"]]
        if effect is not None:
            effect()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    guard = WriteGuard(app, services)
    try:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for path in answers:
                await client.post(path)
    finally:
        services.close()
    assert guard.statuses == {422: 1, 404: 1, 201: 1, 503: 1, 500: 1}
    assert guard.written_by_refused == ["POST /written -> 422: (0, 0, 0) -> (1, 0, 0)"]
    assert guard.waits == 1
    assert [e.split(":")[0] for e in guard.server_errors] == ["POST /broken -> 500"]


def test_only_a_documented_wait_is_excused_from_the_server_error_check() -> None:
    wait = (
        "FailureGroup: Schemathesis found 1 distinct failure\n\n- ST101 Server error\n\n"
        '[503] Service Unavailable:\n\n    `{"type":"https://ledger.invalid/problems/'
        'views-behind","status":503}`\n'
    )
    assert documented_wait(wait)
    assert not documented_wait(wait.replace("503", "500"))
    assert not documented_wait(wait + "\n- ST102 Response violates schema\n")
    assert not documented_wait("FailureGroup: something else")


def test_every_tampering_is_caught_by_ledger_verify() -> None:
    got = tamper.run({"tampers": 3}, seed=5)
    assert got == {
        "tampered": 3,
        "caught": 3,
        "verified_before": 3,
        "edit": 1,
        "delete": 1,
        "swap": 1,
        "missed": [],
    }


def test_an_outage_loses_no_delivery() -> None:
    got = outage.run({"outage_events": 5})
    assert got["events"] == 5 and got["delivered"] == 5 and got["lost"] == 0
    assert got["arrived_while_down"] == 0 and got["refused_while_down"] >= 5
    assert got["bad_signatures"] == 0 and got["all_marked_delivered"]
