"""Rules of claims, demands, incidents, inquiries, actions and actors."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from ledger.domain import Claim, Demand, Incident, Inquiry, InvalidInput, RuleViolation
from ledger.domain.vocab import (
    CLAIM_VERDICTS,
    DEMAND_MOVES,
    DEMAND_STATUSES,
    EVIDENCE_STANCES,
    INCIDENT_MOVES,
    INCIDENT_REVIEW_STATUSES,
    INQUIRY_MOVES,
    INQUIRY_STATUSES,
)
from tests.unit import builders as b
from tests.unit.builders import (
    EDITOR,
    SRC,
    SRC2,
    T0,
    all_pairs,
    path_to,
    refused,
)

AT = {"recorded_by": EDITOR, "at": T0}

# ---------------------------------------------------------------------------------------
# Claim: evidence


@pytest.mark.parametrize("stance", EVIDENCE_STANCES)
def test_evidence_of_each_stance_is_recorded(stance: str) -> None:
    record = b.claim()
    incident_id, action_id = str(uuid4()), str(uuid4())
    at = T0.replace(day=20)
    record.add_evidence(
        stance=stance,
        sources=[SRC, SRC2],
        note="see page 4",
        incident=incident_id,
        action=action_id,
        recorded_by="cli:gina",
        at=at,
    )
    assert record.evidence == [
        {
            "stance": stance,
            "sources": [SRC, SRC2],
            "note": "see page 4",
            "incident": incident_id,
            "action": action_id,
            "confidence": "established",
            "recorded_at": at.isoformat(),
            "recorded_by": "cli:gina",
        }
    ]
    assert record.version == 2
    assert isinstance(record.pending_events[-1], Claim.EvidenceAdded)
    # Evidence does not assess the claim.
    assert record.verdict == "unassessed"


def test_evidence_can_be_marked_possible() -> None:
    record = b.claim()
    record.add_evidence(
        stance="contradicts", sources=[SRC], incident=str(uuid4()), confidence="possible", **AT
    )
    assert record.evidence[0]["confidence"] == "possible"


def test_evidence_accumulates_in_order() -> None:
    record = b.claim()
    for stance in ("supports", "contradicts", "context", "supports"):
        record.add_evidence(stance=stance, sources=[SRC], **AT)
    assert [e["stance"] for e in record.evidence] == [
        "supports",
        "contradicts",
        "context",
        "supports",
    ]
    assert record.version == 5


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"stance": "refutes"}, "stance"),
        ({"confidence": "likely"}, "confidence"),
        ({"sources": []}, "sources"),
    ],
)
def test_evidence_needs_a_known_stance_confidence_and_a_source(
    override: dict[str, Any], field: str
) -> None:
    record = b.claim()
    fields: dict[str, Any] = {"stance": "supports", "sources": [SRC], **AT}
    fields.update(override)
    with refused(record, InvalidInput, field=field):
        record.add_evidence(**fields)


# ---------------------------------------------------------------------------------------
# Claim: assessment


@pytest.mark.parametrize("verdict", CLAIM_VERDICTS[1:])
def test_each_verdict_can_be_given(verdict: str) -> None:
    record = b.claim()
    at = T0.replace(day=25)
    record.assess(
        verdict=verdict, rationale="the records show it", sources=[SRC2], recorded_by="k", at=at
    )
    assert record.verdict == verdict
    assert record.assessments == [
        {
            "verdict": verdict,
            "rationale": "the records show it",
            "sources": [SRC2],
            "recorded_at": at.isoformat(),
            "recorded_by": "k",
        }
    ]
    assert isinstance(record.pending_events[-1], Claim.Assessed)


@pytest.mark.parametrize("verdict", ["unassessed", "true", "false", ""])
def test_an_assessment_needs_a_real_verdict(verdict: str) -> None:
    record = b.claim()
    with refused(record, InvalidInput, field="verdict"):
        record.assess(verdict=verdict, rationale="r", sources=[SRC], **AT)


def test_reassessing_with_the_same_verdict_is_refused() -> None:
    record = b.claim()
    record.assess(verdict="misleading", rationale="first look", sources=[SRC], **AT)
    with refused(record, RuleViolation, field="verdict", match="already assessed misleading"):
        record.assess(verdict="misleading", rationale="second look", sources=[SRC2], **AT)


def test_a_new_verdict_keeps_the_earlier_assessment() -> None:
    record = b.claim()
    record.assess(verdict="misleading", rationale="one case known", sources=[SRC], **AT)
    record.assess(verdict="inaccurate", rationale="four cases known", sources=[SRC2], **AT)
    assert record.verdict == "inaccurate"
    assert [(a["verdict"], a["rationale"]) for a in record.assessments] == [
        ("misleading", "one case known"),
        ("inaccurate", "four cases known"),
    ]


@pytest.mark.parametrize("rationale", ["", "   ", None])
def test_an_assessment_needs_a_rationale(rationale: str | None) -> None:
    record = b.claim()
    with refused(record, InvalidInput, field="rationale"):
        record.assess(verdict="accurate", rationale=rationale, sources=[SRC], **AT)  # type: ignore[arg-type]


def test_an_assessment_needs_sources() -> None:
    record = b.claim()
    with refused(record, InvalidInput, field="sources"):
        record.assess(verdict="accurate", rationale="r", sources=[], **AT)


# ---------------------------------------------------------------------------------------
# Status tables of demands, incidents and inquiries


def _respond_demand(record: Demand, status: str) -> None:
    record.respond(status=status, occurred_at="2017-09-20", sources=[SRC], **AT)


def _review_incident(record: Incident, status: str) -> None:
    record.review(status=status, occurred_at="2017-09-20", sources=[SRC], **AT)


def _respond_inquiry(record: Inquiry, status: str) -> None:
    record.respond(status=status, occurred_at="2017-09-20", text="an answer", sources=[SRC], **AT)


TABLES = {
    "demand": (b.demand, _respond_demand, DEMAND_MOVES, DEMAND_STATUSES, "status", "responses"),
    "incident": (
        b.incident,
        _review_incident,
        INCIDENT_MOVES,
        INCIDENT_REVIEW_STATUSES,
        "review_status",
        "reviews",
    ),
    "inquiry": (
        b.inquiry,
        _respond_inquiry,
        INQUIRY_MOVES,
        INQUIRY_STATUSES,
        "status",
        "responses",
    ),
}
TABLE_CASES = [
    (name, current, new)
    for name, (_, _, _, statuses, _, _) in TABLES.items()
    for current, new in all_pairs(statuses)
]


def _reach(name: str, status: str) -> Any:
    build, step, moves, statuses, attr, _ = TABLES[name]
    record = build()
    for s in path_to(status, moves, statuses[0]):
        step(record, s)
    assert getattr(record, attr) == status
    return record


@pytest.mark.parametrize("name", TABLES)
def test_each_table_covers_its_statuses(name: str) -> None:
    _, _, moves, statuses, attr, _ = TABLES[name]
    assert set(moves) == set(statuses)
    for targets in moves.values():
        assert targets <= set(statuses)
    assert getattr(TABLES[name][0](), attr) == statuses[0]


@pytest.mark.parametrize(("name", "current", "new"), TABLE_CASES)
def test_the_status_table_is_enforced(name: str, current: str, new: str) -> None:
    _, step, moves, _, attr, history = TABLES[name]
    record = _reach(name, current)
    version = record.version
    if new in moves[current]:
        step(record, new)
        assert getattr(record, attr) == new
        assert record.version == version + 1
        assert getattr(record, history)[-1]["previous"] == current
        assert getattr(record, history)[-1]["status"] == new
    else:
        with refused(record, RuleViolation, field="status"):
            step(record, new)


@pytest.mark.parametrize("name", TABLES)
def test_an_unknown_status_word_is_refused(name: str) -> None:
    build, step, *_ = TABLES[name]
    record = build()
    with refused(record, InvalidInput, field="status"):
        step(record, "overdue")


def test_a_demand_response_can_name_the_commitment_that_answers_it() -> None:
    record = b.demand()
    commitment_id, action_id = str(uuid4()), str(uuid4())
    record.respond(
        status="partially_met",
        occurred_at="2017-10-02",
        note="ordinance passed",
        sources=[SRC2],
        commitment=commitment_id,
        action=action_id,
        **AT,
    )
    (entry,) = record.responses
    assert entry["commitment"] == commitment_id
    assert entry["action"] == action_id
    assert entry["note"] == "ordinance passed"
    assert entry["sources"] == [SRC2]
    assert isinstance(record.pending_events[-1], Demand.Responded)


def test_a_demand_response_needs_a_source() -> None:
    record = b.demand()
    with refused(record, InvalidInput, field="sources"):
        record.respond(status="met", occurred_at="2017-10-02", sources=[], **AT)


def test_check_response_refuses_without_changing_anything() -> None:
    record = _reach("demand", "met")
    with refused(record, RuleViolation, field="status"):
        record.check_response("rejected")
    record2 = b.demand()
    record2.check_response("met")
    assert record2.status == "pending"
    assert record2.version == 1


@pytest.mark.parametrize("status", INCIDENT_REVIEW_STATUSES)
def test_an_incident_can_be_reported_in_any_review_status(status: str) -> None:
    assert b.incident(review_status=status).review_status == status


def test_an_incident_review_records_its_note() -> None:
    record = b.incident()
    record.review(
        status="under_review",
        occurred_at="2017-09-20",
        note="PSU opened a case",
        sources=[SRC],
        **AT,
    )
    assert record.reviews[0]["note"] == "PSU opened a case"
    assert record.reviews[0]["previous"] == "reported"


def test_an_incident_review_needs_a_source() -> None:
    record = b.incident()
    with refused(record, InvalidInput, field="sources"):
        record.review(status="closed", occurred_at="2017-09-20", sources=[], **AT)


# ---------------------------------------------------------------------------------------
# Inquiry answers


@pytest.mark.parametrize("status", ["answered", "partially_answered"])
@pytest.mark.parametrize("text", [None, "", "  "])
def test_an_answer_needs_its_text(status: str, text: str | None) -> None:
    record = b.inquiry()
    with refused(record, InvalidInput, field="text"):
        record.respond(status=status, occurred_at="2017-09-20", text=text, sources=[SRC], **AT)


def test_declining_needs_no_text() -> None:
    record = b.inquiry()
    record.respond(status="declined", occurred_at="2017-09-18", sources=[SRC], **AT)
    assert record.status == "declined"
    assert record.responses[0]["text"] is None


def test_declined_then_answered_is_allowed() -> None:
    record = b.inquiry()
    record.respond(status="declined", occurred_at="2017-09-18", sources=[SRC], **AT)
    record.respond(
        status="answered",
        occurred_at="2017-10-01",
        text="The four calls were...",
        sources=[SRC2],
        **AT,
    )
    assert record.status == "answered"
    assert [(r["previous"], r["status"], r["text"]) for r in record.responses] == [
        ("awaiting", "declined", None),
        ("declined", "answered", "The four calls were..."),
    ]


def test_an_answered_inquiry_is_final() -> None:
    record = _reach("inquiry", "answered")
    with refused(record, RuleViolation, field="status", match="nothing"):
        record.respond(status="declined", occurred_at="2017-10-02", sources=[SRC], **AT)


def test_follow_up_after_zero_is_allowed() -> None:
    assert b.inquiry(follow_up_after=0).follow_up_after == 0


# ---------------------------------------------------------------------------------------
# Action


def test_a_vote_keeps_its_tally() -> None:
    tally = {"yes": 20, "no": 6, "abstain": 0}
    record = b.action(kind="vote", tally=tally)
    tally["yes"] = 0
    assert record.tally == {"yes": 20, "no": 6, "abstain": 0}


def test_a_vote_may_have_no_tally() -> None:
    assert b.action(kind="vote", tally=None).tally is None


@pytest.mark.parametrize("kind", ["meeting", "policy_announced", "statement", "other"])
def test_only_a_vote_has_a_tally(kind: str) -> None:
    with pytest.raises(InvalidInput) as info:
        b.action(kind=kind, tally={"yes": 1})
    assert info.value.field == "tally"
    assert b.action(kind=kind, tally=None).kind == kind


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("fulfils", "breaks"),
        ("fulfils", "partially_fulfils"),
        ("partially_fulfils", "breaks"),
    ],
)
def test_the_same_commitment_in_two_outcome_links_is_refused(first: str, second: str) -> None:
    target = str(uuid4())
    with pytest.raises(InvalidInput) as info:
        b.action(**{first: [target], second: [str(uuid4()), target]})
    assert info.value.field == second
    assert target in info.value.message
    assert first in info.value.message


def test_an_action_can_fulfil_one_commitment_and_break_another() -> None:
    kept, broken = str(uuid4()), str(uuid4())
    record = b.action(fulfils=[kept], breaks=[broken])
    assert (record.fulfils, record.breaks) == ([kept], [broken])


def test_naming_a_commitment_twice_in_one_link_counts_it_once() -> None:
    target = str(uuid4())
    record = b.action(fulfils=[target, target])
    assert record.fulfils == [target]


def test_supporting_and_contradicting_the_same_claim_is_refused() -> None:
    claim_id = str(uuid4())
    with pytest.raises(InvalidInput) as info:
        b.action(supports=[claim_id], contradicts=[str(uuid4()), claim_id])
    assert info.value.field == "contradicts"


def test_an_action_can_support_one_claim_and_contradict_another() -> None:
    a, c = str(uuid4()), str(uuid4())
    record = b.action(supports=[a, a], contradicts=[c])
    assert (record.supports, record.contradicts) == ([a], [c])


def test_an_action_keeps_its_links_and_confidence() -> None:
    meets = [str(uuid4())]
    record = b.action(kind="policy_announced", tally=None, meets=meets, confidence="possible")
    assert record.meets == meets
    assert record.confidence == "possible"
    assert record.fulfils == record.partially_fulfils == record.breaks == []


# ---------------------------------------------------------------------------------------
# Actor


def test_a_title_change_is_an_event_with_its_date() -> None:
    record = b.actor(title="Mayor of Louisville")
    record.change_title(title="Former mayor", valid_from="2020-12-01", sources=[SRC2], **AT)
    assert record.title == "Former mayor"
    assert record.titles == [
        {"title": "Mayor of Louisville", "from": None, "sources": []},
        {"title": "Former mayor", "from": "2020-12-01", "sources": [SRC2]},
    ]
    assert record.version == 2


def test_an_actor_without_title_starts_with_no_titles() -> None:
    record = b.actor(title=None)
    assert record.titles == []
    record.change_title(title="Chief", valid_from="2012-01-01", sources=[SRC], **AT)
    assert record.titles == [{"title": "Chief", "from": "2012-01-01", "sources": [SRC]}]


def test_the_same_title_again_is_refused() -> None:
    record = b.actor(title="Mayor of Louisville")
    with refused(record, RuleViolation, field="title"):
        record.change_title(
            title="Mayor of Louisville", valid_from="2017-01-01", sources=[SRC], **AT
        )


@pytest.mark.parametrize(
    ("override", "field"), [({"title": ""}, "title"), ({"sources": []}, "sources")]
)
def test_a_title_change_needs_a_title_and_a_source(override: dict[str, Any], field: str) -> None:
    record = b.actor()
    fields: dict[str, Any] = {
        "title": "Former mayor",
        "valid_from": "2020-12-01",
        "sources": [SRC],
        **AT,
    }
    fields.update(override)
    with refused(record, InvalidInput, field=field):
        record.change_title(**fields)


def test_the_tables_match_the_domain_text() -> None:
    """DOMAIN.md: no status leads back to the first one; a declined inquiry may still be
    answered; a met demand and an answered inquiry are final."""
    for _, _, moves, statuses, _, _ in TABLES.values():
        assert all(statuses[0] not in targets for targets in moves.values())
    assert {"answered", "partially_answered"} <= INQUIRY_MOVES["declined"]
    assert DEMAND_MOVES["met"] == INQUIRY_MOVES["answered"] == frozenset()
