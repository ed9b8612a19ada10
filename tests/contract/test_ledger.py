"""The application service and store, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from ledger.app import Ledger
from ledger.clock import ManualClock
from ledger.commands import slug_id
from ledger.config import Settings
from ledger.errors import (
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    RuleViolation,
    StaleVersion,
)
from tests.contract.helpers import WHO, run, seed

EVIDENCE = {"stance": "context", "sources": ["source/article"], "note": "n"}


def test_a_record_reads_back_as_written_with_server_set_recorded_at_and_by(
    ledger: Ledger, clock: ManualClock
) -> None:
    seed(ledger)
    commitment = ledger.get_record("commitment", slug_id("commitment/meet-ice"))
    assert commitment.kind == "directive"
    assert commitment.assignee == str(slug_id("actor/chief"))
    assert commitment.due == {
        "on": "2017-09-22",
        "text": "by the end of next week",
        "precision": "week",
        "basis": "said Friday 2017-09-15; end of next week = Friday 2017-09-22",
    }
    assert commitment.status == "open"
    (made,) = ledger.history("commitment", commitment.id)
    assert made["type"] == "commitment.made"
    assert made["recorded_by"] == WHO
    assert made["recorded_at"] == clock.now().isoformat()
    assert made["occurred_at"] == "2017-09-08"
    assert made["precision"] == "week"


def test_positions_increase_and_each_write_reports_its_own(ledger: Ledger) -> None:
    seed(ledger)
    first = run(ledger, "claim.evidence", "claim/19-of-23", **EVIDENCE)
    second = run(ledger, "claim.evidence", "claim/19-of-23", **EVIDENCE)
    assert second.position > first.position
    assert (first.version, second.version) == (2, 3)
    assert ledger.last_position() == second.position
    positions = [e["position"] for e in ledger.log_events(after=0, limit=1000)]
    assert positions == sorted(set(positions))


def test_a_reference_to_a_missing_record_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    seed(ledger)
    before = ledger.last_position()
    with pytest.raises(InvalidInput) as refused:
        run(
            ledger,
            "commitment.create",
            kind="promise",
            made_by="actor/nobody",
            text="x",
            made_at="2017-09-15",
            sources=["source/article"],
        )
    assert refused.value.field == "made_by"
    with pytest.raises(InvalidInput) as wrong_kind:
        run(
            ledger,
            "claim.create",
            made_by="actor/chief",
            text="x",
            made_at="2017-09-15",
            sources=["actor/mayor"],
        )
    assert wrong_kind.value.field == "sources"
    assert ledger.last_position() == before


def test_changing_a_missing_record_is_not_found(ledger: Ledger) -> None:
    seed(ledger)
    with pytest.raises(NotFound):
        run(ledger, "claim.evidence", "claim/none", **EVIDENCE)
    with pytest.raises(NotFound):
        run(ledger, "claim.evidence", "commitment/meet-ice", **EVIDENCE)


def test_creating_an_existing_id_is_a_conflict(ledger: Ledger) -> None:
    seed(ledger)
    before = ledger.last_position()
    with pytest.raises(Conflict):
        run(ledger, "actor.create", "actor/mayor", name="Another", kind="person")
    assert ledger.last_position() == before


def test_a_forbidden_move_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    seed(ledger)
    withdraw = {"occurred_at": "2017-09-20", "reason": "dropped", "sources": ["source/article"]}
    run(ledger, "commitment.status", "commitment/meet-ice", status="withdrawn", **withdraw)
    before = ledger.last_position()
    with pytest.raises(RuleViolation, match="withdrawn commitment cannot become fulfilled"):
        run(ledger, "commitment.status", "commitment/meet-ice", status="fulfilled", **withdraw)
    assert ledger.last_position() == before


def test_a_stale_expected_version_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    seed(ledger)
    run(ledger, "claim.evidence", "claim/19-of-23", expected_version=1, **EVIDENCE)
    before = ledger.last_position()
    with pytest.raises(StaleVersion) as stale:
        run(ledger, "claim.evidence", "claim/19-of-23", expected_version=1, **EVIDENCE)
    assert stale.value.current == 2
    assert ledger.last_position() == before


def test_an_action_changes_its_targets_in_the_same_transaction(ledger: Ledger) -> None:
    seed(ledger)
    written = run(
        ledger,
        "action.create",
        "action/meeting",
        actor="actor/chief",
        kind="meeting",
        occurred_at="2017-09-25",
        summary="met ICE",
        fulfils=["commitment/meet-ice"],
        meets=["demand/no-287g"],
        contradicts=["claim/19-of-23"],
        sources=["source/article"],
    )
    commitment = ledger.get_record("commitment", slug_id("commitment/meet-ice"))
    demand = ledger.get_record("demand", slug_id("demand/no-287g"))
    claim = ledger.get_record("claim", slug_id("claim/19-of-23"))
    assert commitment.status == "fulfilled"
    assert commitment.status_history[-1]["action"] == str(written.id)
    assert commitment.status_history[-1]["occurred_at"] == "2017-09-25"
    assert demand.status == "met"
    assert claim.evidence[-1]["stance"] == "contradicts"
    events = ledger.log_events(after=0, limit=100)[-4:]
    assert [e["type"] for e in events] == [
        "action.recorded",
        "commitment.status_changed",
        "demand.responded",
        "claim.evidence_added",
    ]
    assert written.position == events[-1]["position"]


def test_an_action_whose_link_is_forbidden_writes_nothing_at_all(ledger: Ledger) -> None:
    seed(ledger)
    run(
        ledger,
        "demand.response",
        "demand/no-287g",
        status="met",
        occurred_at="2017-09-20",
        sources=["source/article"],
    )
    before = ledger.last_position()
    with pytest.raises(RuleViolation) as refused:
        run(
            ledger,
            "action.create",
            "action/vote",
            actor="actor/mayor",
            kind="meeting",
            occurred_at="2017-09-25",
            summary="x",
            fulfils=["commitment/meet-ice"],
            meets=["demand/no-287g"],
            sources=["source/article"],
        )
    assert refused.value.field == "meets"
    assert ledger.last_position() == before
    assert ledger.kind_of(slug_id("action/vote")) is None
    assert ledger.get_record("commitment", slug_id("commitment/meet-ice")).status == "open"


def test_a_deadline_extension_keeps_the_original(ledger: Ledger) -> None:
    seed(ledger)
    run(
        ledger,
        "commitment.deadline",
        "commitment/meet-ice",
        on="2017-10-06",
        text="two more weeks",
        precision="week",
        basis="granted 2017-09-22; two weeks later",
        reason="more meetings needed",
        granted_by="actor/mayor",
        sources=["source/article"],
    )
    commitment = ledger.get_record("commitment", slug_id("commitment/meet-ice"))
    assert commitment.original_due["on"] == "2017-09-22"
    assert commitment.due["on"] == "2017-10-06"
    assert commitment.extensions[0]["granted_by"] == str(slug_id("actor/mayor"))


def test_corrections_record_the_old_value_and_retractions_stay_readable(ledger: Ledger) -> None:
    seed(ledger)
    run(
        ledger,
        "claim.correction",
        "claim/19-of-23",
        field="text",
        value="officers acted properly in 19 of the 23 calls cited",
        reason="quote completed",
    )
    run(ledger, "claim.retraction", "claim/19-of-23", reason="entered twice")
    claim = ledger.get_record("claim", slug_id("claim/19-of-23"))
    assert claim.corrections[0]["old"] == "officers acted properly in 19 of the 23 calls"
    assert claim.text.endswith("calls cited")
    assert claim.retracted is True
    assert [e["type"] for e in ledger.history("claim", claim.id)] == [
        "claim.made",
        "claim.corrected",
        "claim.retracted",
    ]
    with pytest.raises(RuleViolation):
        run(ledger, "claim.evidence", "claim/19-of-23", **EVIDENCE)


def test_a_corrected_reference_must_exist(ledger: Ledger) -> None:
    seed(ledger)
    with pytest.raises(InvalidInput) as refused:
        run(
            ledger,
            "commitment.correction",
            "commitment/meet-ice",
            field="assignee",
            value="actor/nobody",
            reason="wrong person",
        )
    assert refused.value.field == "value"
    run(
        ledger,
        "commitment.correction",
        "commitment/meet-ice",
        field="assignee",
        value="actor/residents",
        reason="wrong person",
    )
    corrected = ledger.get_record("commitment", slug_id("commitment/meet-ice"))
    assert corrected.assignee == str(slug_id("actor/residents"))


def test_an_idempotency_key_returns_the_first_result_across_a_restart(
    settings: Settings, clock: ManualClock
) -> None:
    first_app = Ledger(settings, clock=clock)
    seed(first_app)
    first = run(first_app, "claim.evidence", "claim/19-of-23", key="retry-1", **EVIDENCE)
    first_app.close()

    restarted = Ledger(settings, clock=clock)
    try:
        again = run(restarted, "claim.evidence", "claim/19-of-23", key="retry-1", **EVIDENCE)
        assert again.replayed
        assert (again.id, again.version, again.position) == (
            first.id,
            first.version,
            first.position,
        )
        assert restarted.last_position() == first.position
        assert len(restarted.get_record("claim", first.id).evidence) == 1
        with pytest.raises(IdempotencyMismatch):
            run(
                restarted,
                "claim.evidence",
                "claim/19-of-23",
                key="retry-1",
                **{**EVIDENCE, "note": "other"},
            )
        # Keys belong to their principal: another caller's same key is a new request.
        other = run(
            restarted,
            "claim.evidence",
            "claim/19-of-23",
            key="retry-1",
            principal="key:x",
            **EVIDENCE,
        )
        assert not other.replayed
    finally:
        restarted.close()


def test_concurrent_writers_on_one_record_never_lose_an_update(
    settings: Settings, clock: ManualClock
) -> None:
    setup = Ledger(settings, clock=clock)
    seed(setup)
    setup.close()
    writers = [Ledger(settings, clock=clock) for _ in range(4)]
    per_writer = 15
    errors: list[BaseException] = []

    def write(app: Ledger, n: int) -> None:
        try:
            for i in range(per_writer):
                run(app, "claim.evidence", "claim/19-of-23", **{**EVIDENCE, "note": f"{n}-{i}"})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w, n)) for n, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        claim = writers[0].get_record("claim", slug_id("claim/19-of-23"))
        notes = sorted(e["note"] for e in claim.evidence)
        assert notes == sorted(f"{n}-{i}" for n in range(4) for i in range(per_writer))
        assert claim.version == 1 + 4 * per_writer
    finally:
        for w in writers:
            w.close()


def test_with_expected_versions_exactly_one_of_two_racing_writers_wins(
    settings: Settings, clock: ManualClock
) -> None:
    setup = Ledger(settings, clock=clock)
    seed(setup)
    setup.close()
    apps = [Ledger(settings, clock=clock) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write(app: Ledger) -> None:
        barrier.wait()
        try:
            run(app, "claim.evidence", "claim/19-of-23", expected_version=1, **EVIDENCE)
            outcomes.append("applied")
        except StaleVersion:
            outcomes.append("stale")

    try:
        for _round in range(5):
            outcomes.clear()
            version = apps[0].get_record("claim", slug_id("claim/19-of-23")).version
            if version != 1:
                break
            threads = [threading.Thread(target=write, args=(a,)) for a in apps]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(outcomes) == ["applied", "stale"]
        assert apps[1].get_record("claim", slug_id("claim/19-of-23")).version == 2
    finally:
        for a in apps:
            a.close()


def test_recorded_at_comes_from_the_ledger_clock(ledger: Ledger, clock: ManualClock) -> None:
    seed(ledger)
    clock.set(datetime(2017, 9, 23, 9, 30, tzinfo=UTC))
    run(ledger, "claim.evidence", "claim/19-of-23", **EVIDENCE)
    clock.advance(timedelta(days=1))
    run(ledger, "claim.evidence", "claim/19-of-23", **EVIDENCE)
    stamps = [e["recorded_at"] for e in ledger.history("claim", slug_id("claim/19-of-23"))]
    assert stamps[1:] == ["2017-09-23T09:30:00+00:00", "2017-09-24T09:30:00+00:00"]
