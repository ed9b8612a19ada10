"""Export and restore keep the log exactly, between SQLite and PostgreSQL both ways."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.admin import Admin
from ledger.app import Ledger
from ledger.clock import ManualClock
from ledger.config import Settings
from ledger.errors import Conflict
from tests.contract.helpers import run, seed


def _populate(app: Ledger) -> None:
    seed(app)
    run(
        app,
        "commitment.status",
        "commitment/meet-ice",
        status="in_progress",
        occurred_at="2017-09-15",
        reason="still reviewing the implications",
        sources=["source/article"],
    )
    run(
        app,
        "claim.evidence",
        "claim/19-of-23",
        stance="context",
        sources=["source/article"],
        note="his office has not said which four are under review",
        confidence="possible",
    )
    run(
        app,
        "claim.assessment",
        "claim/19-of-23",
        verdict="unsupported",
        rationale="the calls are not named",
        sources=["source/article"],
    )
    run(
        app,
        "actor.correction",
        "actor/chief",
        field="title",
        value="Chief of Police",
        reason="title was missing",
    )
    run(app, "demand.redaction", "demand/no-287g", fields=["text"], reason="test redaction")


@pytest.fixture(params=["sqlite->postgres", "postgres->sqlite"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    sqlite = f"sqlite:///{tmp_path}/one.db"
    pg = request.getfixturevalue("pg_url")
    yield (sqlite, pg) if request.param == "sqlite->postgres" else (pg, sqlite)


def _states(app: Ledger) -> list[tuple[int, str, int, str, bytes]]:
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in app.store.select_notifications(start=1, limit=10_000)
    ]


def test_export_then_restore_into_the_other_store_gives_the_same_export(
    two_stores: tuple[str, str], clock: ManualClock
) -> None:
    source_url, target_url = two_stores
    source = Ledger(Settings(database_url=source_url), clock=clock)
    target = Ledger(Settings(database_url=target_url), clock=clock)
    try:
        _populate(source)
        lines = list(source.export_lines())
        assert len(lines) == source.last_position() > 10
        assert target.restore(lines) == len(lines)
        assert list(target.export_lines()) == lines
        # The stored payloads are the same bytes, which the integrity proofs rely on.
        assert _states(target) == _states(source)
        # Records rebuild the same from the restored events.
        from ledger.commands import slug_id

        claim_id = slug_id("claim/19-of-23")
        assert vars(target.get_record("claim", claim_id)) == vars(
            source.get_record("claim", claim_id)
        )
        # New writes continue after the restored positions.
        written = run(
            target, "claim.evidence", "claim/19-of-23", stance="context", sources=["source/article"]
        )
        assert written.position == len(lines) + 1
    finally:
        source.close()
        target.close()


def test_restore_refuses_a_store_that_holds_events(ledger: Ledger) -> None:
    seed(ledger)
    lines = list(ledger.export_lines())
    before = ledger.last_position()
    with pytest.raises(Conflict):
        ledger.restore(lines)
    assert ledger.last_position() == before


def test_keys_live_in_the_admin_log_not_the_public_one(ledger: Ledger, admin: Admin) -> None:
    seed(ledger)
    before = list(ledger.export_lines())
    issued = admin.create_key(name="newsroom", scope="editor", recorded_by="cli:test")
    assert list(ledger.export_lines()) == before
    assert issued.key not in "".join(before)
    found = admin.authenticate(issued.key)
    assert found is not None and found.allows("editor") and not found.allows("admin")
    assert found.digest != issued.key and issued.key not in repr(vars(found))
    admin.revoke_key("newsroom", reason="left", recorded_by="cli:test")
    revoked = admin.authenticate(issued.key)
    assert revoked is not None and not revoked.allows("reader")
    assert admin.authenticate("lk_not-a-key") is None
    assert [e["type"] for e in admin.audit()] == ["ApiKey.Issued", "ApiKey.Revoked"]


def _open_both(url: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        settings = Settings(database_url=url)
        Ledger(settings).close()
        Admin(settings).close()
        queue.put("ok")
    except BaseException as e:  # reported to the parent
        queue.put(repr(e))


def test_several_processes_starting_at_once_create_the_tables_safely(store_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    processes = [ctx.Process(target=_open_both, args=(store_url, queue)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [queue.get(timeout=5) for _ in processes] == ["ok"] * 4
    app = Ledger(Settings(database_url=store_url))
    try:
        seed(app)
        assert app.last_position() == 7
    finally:
        app.close()
