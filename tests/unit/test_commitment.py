"""Commitment rules: parties, sources, deadlines, the status table, pledges, extensions."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain import Commitment, InvalidInput, RuleViolation
from ledger.domain.vocab import COMMITMENT_MOVES, COMMITMENT_STATUSES, COMMITMENT_UNRESOLVED
from tests.unit import builders as b
from tests.unit.builders import (
    CHIEF,
    DUE,
    EDITOR,
    MAYOR,
    SRC,
    SRC2,
    Clock,
    all_pairs,
    path_to,
    refused,
    replay,
    state,
)


def move(record: Commitment, status: str, clock: Clock | None = None, **kw: Any) -> None:
    fields: dict[str, Any] = {
        "status": status,
        "occurred_at": "2017-09-20",
        "reason": f"now {status}",
        "sources": [SRC],
        "recorded_by": EDITOR,
        "at": (clock or Clock())(),
    }
    fields.update(kw)
    record.change_status(**fields)


def reach(status: str, **kw: Any) -> Commitment:
    record = b.commitment(kind="promise", assignee=None, **kw)
    clock = Clock()
    for step in path_to(status, COMMITMENT_MOVES, "open"):
        move(record, step, clock)
    assert record.status == status
    return record


def extend(record: Commitment, on: str, **kw: Any) -> None:
    fields: dict[str, Any] = {
        "due": {"on": on, "precision": "day"},
        "reason": "more time",
        "granted_by": MAYOR,
        "sources": [SRC2],
        "recorded_by": EDITOR,
        "at": b.T0,
    }
    fields.update(kw)
    record.extend_deadline(**fields)


# ---------------------------------------------------------------------------------------
# Parties, sources and deadlines


@pytest.mark.parametrize("assignee", [None, ""])
def test_a_directive_needs_an_assignee(assignee: str | None) -> None:
    with pytest.raises(InvalidInput) as info:
        b.commitment(kind="directive", assignee=assignee)
    assert info.value.field == "assignee"


@pytest.mark.parametrize("kind", ["directive", "promise", "pledge"])
def test_an_actor_cannot_be_its_own_assignee(kind: str) -> None:
    with pytest.raises(InvalidInput) as info:
        b.commitment(kind=kind, made_by=MAYOR, assignee=MAYOR)
    assert info.value.field == "assignee"


@pytest.mark.parametrize("kind", ["promise", "pledge"])
def test_promises_and_pledges_need_no_assignee(kind: str) -> None:
    record = b.commitment(kind=kind, assignee=None)
    assert record.kind == kind
    assert record.assignee is None


def test_a_directive_records_its_assignee() -> None:
    record = b.commitment(kind="directive", made_by=MAYOR, assignee=CHIEF)
    assert (record.made_by, record.assignee) == (MAYOR, CHIEF)


@pytest.mark.parametrize("sources", [[], ()])
def test_a_commitment_must_cite_a_source(sources: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        b.commitment(sources=sources)
    assert info.value.field == "sources"


def test_a_deadline_in_words_needs_its_basis() -> None:
    with pytest.raises(InvalidInput) as info:
        b.commitment(due={"on": "2017-09-22", "text": "by the end of next week"})
    assert info.value.field == "due.basis"


@pytest.mark.parametrize(
    ("due", "field"),
    [
        ({"text": "soon", "basis": "said so"}, "due.on"),
        ({"on": ""}, "due.on"),
        ({"on": "2017-09-22", "precision": "fortnight"}, "due.precision"),
        ({"on": "2017-09-22", "text": "next week", "basis": ""}, "due.basis"),
    ],
)
def test_a_deadline_must_be_complete(due: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        b.commitment(due=due)
    assert info.value.field == field


def test_a_deadline_keeps_the_words_the_date_and_the_basis() -> None:
    record = b.commitment(due=dict(DUE))
    assert record.due == DUE
    assert record.original_due == DUE
    record2 = b.commitment(due={"on": "2017-12-31", "precision": "year"})
    assert record2.due == {"on": "2017-12-31", "precision": "year"}


def test_a_commitment_without_due() -> None:
    record = b.commitment(due=None)
    assert record.due is None
    assert record.original_due is None


# ---------------------------------------------------------------------------------------
# The status table


def test_the_status_table_covers_every_status() -> None:
    assert set(COMMITMENT_MOVES) == set(COMMITMENT_STATUSES)
    for targets in COMMITMENT_MOVES.values():
        assert targets <= set(COMMITMENT_STATUSES)


@pytest.mark.parametrize("status", COMMITMENT_STATUSES)
def test_every_status_can_be_reached_from_open(status: str) -> None:
    assert reach(status).status == status


@pytest.mark.parametrize(("current", "new"), all_pairs(COMMITMENT_STATUSES))
def test_the_status_table_is_enforced(current: str, new: str) -> None:
    record = reach(current)
    version = record.version
    if new in COMMITMENT_MOVES[current]:
        move(record, new)
        assert record.status == new
        assert record.version == version + 1
        assert record.status_history[-1]["previous"] == current
        assert record.status_history[-1]["status"] == new
        assert isinstance(record.pending_events[-1], Commitment.StatusChanged)
    else:
        with refused(record, RuleViolation, field="status"):
            move(record, new)
        with refused(record, RuleViolation, field="status"):
            record.check_status_change(new)


def test_check_status_change_allows_without_changing_anything() -> None:
    record = reach("in_progress")
    before = state(record)
    record.check_status_change("fulfilled")
    assert state(record) == before


def test_fulfilling_a_withdrawn_commitment_is_refused_with_a_clear_message() -> None:
    record = reach("withdrawn")
    with refused(record, RuleViolation, field="status") as info:
        move(record, "fulfilled")
    assert (
        info.value.message
        == "a withdrawn commitment cannot become fulfilled (it can become: nothing)"
    )
    assert str(info.value) == info.value.message


def test_a_refused_move_names_the_moves_that_remain() -> None:
    record = reach("fulfilled")
    with refused(record, RuleViolation) as info:
        move(record, "broken")
    assert "cannot become broken" in info.value.message
    assert "it can become: reversed" in info.value.message


@pytest.mark.parametrize("status", COMMITMENT_STATUSES)
def test_the_same_status_twice_is_refused(status: str) -> None:
    record = reach(status)
    with refused(record, RuleViolation, field="status", match=f"already {status}"):
        move(record, status)


@pytest.mark.parametrize("status", ["done", "overdue", "unassessed", ""])
def test_an_unknown_status_is_refused(status: str) -> None:
    record = b.commitment()
    with refused(record, InvalidInput, field="status"):
        move(record, status)


def test_overdue_is_derived_never_stored() -> None:
    assert "overdue" not in COMMITMENT_STATUSES


def test_a_status_change_records_reason_sources_action_and_confidence() -> None:
    record = b.commitment()
    action_id = "a" * 32
    at = b.T0.replace(day=29)
    record.change_status(
        status="fulfilled",
        occurred_at="2017-09",
        precision="month",
        reason="report delivered to council",
        sources=[SRC, SRC2],
        action=action_id,
        confidence="possible",
        recorded_by="cli:erin",
        at=at,
    )
    assert record.status == "fulfilled"
    assert record.status_history == [
        {
            "status": "fulfilled",
            "occurred_at": "2017-09",
            "precision": "month",
            "sources": [SRC, SRC2],
            "recorded_at": at.isoformat(),
            "recorded_by": "cli:erin",
            "previous": "open",
            "reason": "report delivered to council",
            "action": action_id,
            "confidence": "possible",
        }
    ]


@pytest.mark.parametrize(
    ("override", "exc", "field"),
    [
        ({"reason": ""}, InvalidInput, "reason"),
        ({"sources": []}, InvalidInput, "sources"),
        ({"confidence": "likely"}, InvalidInput, "confidence"),
        ({"precision": "hour"}, InvalidInput, "precision"),
    ],
)
def test_a_status_change_needs_reason_sources_and_known_words(
    override: dict[str, Any], exc: type[Exception], field: str
) -> None:
    record = b.commitment()
    with refused(record, exc, field=field):  # type: ignore[arg-type]
        move(record, "in_progress", **override)


def test_unresolved_means_open_in_progress_or_stalled() -> None:
    for status in COMMITMENT_STATUSES:
        assert reach(status).unresolved is (status in COMMITMENT_UNRESOLVED)
    assert frozenset({"open", "in_progress", "stalled"}) == COMMITMENT_UNRESOLVED


# ---------------------------------------------------------------------------------------
# Pledges


@pytest.mark.parametrize("current", ["open", "in_progress", "stalled", "broken"])
def test_a_pledge_without_due_cannot_be_fulfilled(current: str) -> None:
    record = b.commitment(kind="pledge", assignee=None, due=None)
    for step in path_to(current, COMMITMENT_MOVES, "open"):
        move(record, step)
    assert "fulfilled" in COMMITMENT_MOVES[current]
    with refused(record, RuleViolation, field="status", match="pledge"):
        move(record, "fulfilled")
    with refused(record, RuleViolation, field="status", match="pledge"):
        record.check_status_change("fulfilled")


def test_a_pledge_without_due_can_be_broken() -> None:
    record = b.commitment(kind="pledge", assignee=None, due=None)
    move(record, "broken")
    assert record.status == "broken"


def test_a_pledge_without_due_can_still_be_partly_kept_or_withdrawn() -> None:
    for status in ("partially_fulfilled", "withdrawn", "in_progress"):
        record = b.commitment(kind="pledge", assignee=None, due=None)
        move(record, status)
        assert record.status == status


def test_a_pledge_with_due_can_be_fulfilled() -> None:
    record = b.commitment(kind="pledge", assignee=None, due={"on": "2018-12-31"})
    move(record, "fulfilled")
    assert record.status == "fulfilled"


def test_a_promise_without_due_can_be_fulfilled() -> None:
    record = b.commitment(kind="promise", assignee=None, due=None)
    move(record, "fulfilled")
    assert record.status == "fulfilled"


# ---------------------------------------------------------------------------------------
# History keeps every rating


def test_fulfilled_then_reversed_keeps_both_ratings() -> None:
    record = b.commitment()
    move(record, "fulfilled", reason="policy adopted")
    move(record, "reversed", reason="successor repealed the policy")
    assert record.status == "reversed"
    assert [(h["previous"], h["status"], h["reason"]) for h in record.status_history] == [
        ("open", "fulfilled", "policy adopted"),
        ("fulfilled", "reversed", "successor repealed the policy"),
    ]
    assert replay(record).status_history == record.status_history


def test_a_broken_promise_can_be_kept_late() -> None:
    record = b.commitment()
    move(record, "broken")
    move(record, "fulfilled")
    assert [h["status"] for h in record.status_history] == ["broken", "fulfilled"]


# ---------------------------------------------------------------------------------------
# Extending a deadline


def test_extend_deadline_updates_due_and_keeps_original_due() -> None:
    record = b.commitment()
    at = b.T0.replace(day=21)
    record.extend_deadline(
        due={"on": "2017-09-29", "precision": "day"},
        reason="chief asked for another week",
        granted_by=MAYOR,
        sources=[SRC2],
        recorded_by="cli:frank",
        at=at,
    )
    assert record.due == {"on": "2017-09-29", "precision": "day"}
    assert record.original_due == DUE
    assert record.status == "open"
    assert record.version == 2
    assert record.extensions == [
        {
            "due": {"on": "2017-09-29", "precision": "day"},
            "previous": DUE,
            "reason": "chief asked for another week",
            "granted_by": MAYOR,
            "sources": [SRC2],
            "recorded_at": at.isoformat(),
            "recorded_by": "cli:frank",
        }
    ]
    event = record.pending_events[-1]
    assert isinstance(event, Commitment.DeadlineExtended)
    assert event.timestamp == at


def test_a_second_extension_chains_from_the_first() -> None:
    record = b.commitment()
    extend(record, "2017-09-29")
    extend(record, "2017-10-13", granted_by=None)
    assert record.due == {"on": "2017-10-13", "precision": "day"}
    assert record.original_due == DUE
    assert [e["previous"]["on"] for e in record.extensions] == ["2017-09-22", "2017-09-29"]
    assert record.extensions[1]["granted_by"] is None


def test_an_earlier_date_is_also_an_extension_event() -> None:
    record = b.commitment()
    extend(record, "2017-09-20")
    assert record.due["on"] == "2017-09-20"  # type: ignore[index]


@pytest.mark.parametrize("status", ["in_progress", "stalled"])
def test_an_unresolved_commitment_can_be_extended(status: str) -> None:
    record = reach(status, due=dict(DUE))
    extend(record, "2017-10-01")
    assert record.due["on"] == "2017-10-01"  # type: ignore[index]


def test_extending_to_the_same_date_is_refused() -> None:
    record = b.commitment()
    with refused(record, RuleViolation, field="on", match="already 2017-09-22"):
        extend(record, "2017-09-22")


def test_extending_without_a_deadline_is_refused() -> None:
    record = b.commitment(due=None)
    with refused(record, RuleViolation, field="on", match="no deadline"):
        extend(record, "2017-10-01")


@pytest.mark.parametrize("status", sorted(set(COMMITMENT_STATUSES) - set(COMMITMENT_UNRESOLVED)))
def test_extending_a_resolved_commitment_is_refused(status: str) -> None:
    record = reach(status, due=dict(DUE))
    with refused(record, RuleViolation, field="on", match=status):
        extend(record, "2017-10-01")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"due": {"on": "2017-10-01", "text": "a week later"}}, "deadline.basis"),
        ({"due": {"precision": "day"}}, "deadline.on"),
        ({"due": {"on": "2017-10-01", "precision": "aeon"}}, "deadline.precision"),
        ({"reason": " "}, "reason"),
        ({"sources": []}, "sources"),
    ],
)
def test_an_extension_must_be_complete(override: dict[str, Any], field: str) -> None:
    record = b.commitment()
    with refused(record, InvalidInput, field=field):
        extend(record, "2017-10-01", **override)


def test_the_table_matches_the_domain_text() -> None:
    """DOMAIN.md: nothing goes back to `open` (not yet rated); only a kept or partly kept
    commitment can be `reversed`; a withdrawn or reversed commitment is final."""
    assert all("open" not in targets for targets in COMMITMENT_MOVES.values())
    assert {s for s, t in COMMITMENT_MOVES.items() if "reversed" in t} == {
        "fulfilled",
        "partially_fulfilled",
    }
    assert COMMITMENT_MOVES["withdrawn"] == COMMITMENT_MOVES["reversed"] == frozenset()
    for unresolved in COMMITMENT_UNRESOLVED:
        assert {"fulfilled", "partially_fulfilled", "broken", "withdrawn"} <= COMMITMENT_MOVES[
            unresolved
        ]
