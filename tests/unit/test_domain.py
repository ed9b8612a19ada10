"""What every record shares: creation, its events, replay, corrections, retraction, redaction;
and the deadline watcher's notices. No store is involved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from ledger.domain import (
    RECORD_CLASSES,
    Action,
    Actor,
    Claim,
    Commitment,
    DeadlineNotice,
    Demand,
    Incident,
    Inquiry,
    InquiryNotice,
    InvalidInput,
    Record,
    RuleViolation,
    Source,
)
from tests.unit import builders as b
from tests.unit.builders import (
    CHIEF,
    COUNCIL,
    DUE,
    EDITOR,
    GROUP,
    MAYOR,
    REPORTER,
    SRC,
    SRC2,
    SYSTEM,
    T0,
    Script,
    refused,
    replay,
    state,
)

# ---------------------------------------------------------------------------------------
# Creation: the state matches the inputs

COMMON_INITIAL = {"retracted": False, "retraction": None, "redactions": {}, "corrections": []}

CREATIONS: list[tuple[type[Record], str, dict[str, Any], dict[str, Any]]] = [
    (
        Actor,
        "register",
        {
            "name": "LMPD",
            "kind": "organization",
            "title": "Louisville Metro Police Department",
            "jurisdiction": "Louisville Metro",
            "aliases": ["Louisville Metro PD"],
            "topics": ["lmpd-ice-cooperation"],
            "sources": [SRC],
        },
        {"titles": [{"title": "Louisville Metro Police Department", "from": None, "sources": []}]},
    ),
    (
        Source,
        "register",
        {
            "url": "https://example.org/minutes/2017-09-28",
            "title": "Metro Council minutes",
            "publisher": "Metro Council",
            "author": "Clerk",
            "published_at": "2017-09-29",
            "retrieved_at": "2017-10-01",
            "sha256": "a" * 64,
            "excerpts": ["The ordinance passed 20-6."],
            "topics": ["lmpd-ice-cooperation"],
        },
        {"sources": []},
    ),
    (
        Commitment,
        "make",
        {
            "kind": "directive",
            "made_by": MAYOR,
            "assignee": CHIEF,
            "text": "I have asked the chief to report back by the end of next week.",
            "summary": "Chief to report back",
            "made_at": "2017-09-15",
            "precision": "day",
            "due": dict(DUE),
            "topics": ["lmpd-ice-cooperation"],
            "sources": [SRC, SRC2],
        },
        {"status": "open", "status_history": [], "extensions": [], "original_due": DUE},
    ),
    (
        Claim,
        "make",
        {
            "made_by": CHIEF,
            "text": "LMPD does not enforce immigration law.",
            "summary": "No enforcement",
            "made_at": "2017-09-12",
            "precision": "week",
            "topics": ["lmpd-ice-cooperation"],
            "sources": [SRC],
        },
        {"verdict": "unassessed", "evidence": [], "assessments": []},
    ),
    (
        Demand,
        "make",
        {
            "demanded_by": GROUP,
            "addressed_to": MAYOR,
            "text": "End all cooperation with ICE.",
            "summary": "End cooperation",
            "made_at": "2017-09-10",
            "precision": "day",
            "action": str(uuid4()),
            "topics": ["lmpd-ice-cooperation"],
            "sources": [SRC],
        },
        {"status": "pending", "responses": []},
    ),
    (
        Incident,
        "report",
        {
            "occurred_at": "2017-02",
            "precision": "month",
            "place": "south side",
            "actors": [CHIEF, MAYOR],
            "description": "A door knock alongside federal agents.",
            "review_status": "under_review",
            "topics": ["lmpd-ice-cooperation"],
            "sources": [SRC],
        },
        {"reviews": []},
    ),
    (
        Action,
        "record",
        {
            "actor": COUNCIL,
            "kind": "vote",
            "occurred_at": "2017-09-28",
            "precision": "day",
            "summary": "Ordinance passes",
            "details": "Second reading.",
            "tally": {"yes": 20, "no": 6},
            "fulfils": [str(uuid4())],
            "partially_fulfils": [str(uuid4())],
            "breaks": [str(uuid4())],
            "meets": [str(uuid4())],
            "supports": [str(uuid4())],
            "contradicts": [str(uuid4())],
            "confidence": "possible",
            "topics": ["lmpd-ice-cooperation"],
            "sources": [SRC],
        },
        {},
    ),
    (
        Inquiry,
        "open",
        {
            "asked_by": REPORTER,
            "asked_to": CHIEF,
            "question": "Which four calls are under review?",
            "asked_at": "2017-09-16",
            "precision": "day",
            "follow_up_after": 3,
            "topics": ["lmpd-ice-cooperation"],
            "sources": [SRC],
        },
        {"status": "awaiting", "responses": []},
    ),
]
CREATION_IDS = [c[0].KIND for c in CREATIONS]


def _create(cls: type[Record], method: str, inputs: dict[str, Any], **kw: Any) -> Any:
    return getattr(cls, method)(**inputs, **kw)


def test_every_record_class_has_a_creation_case() -> None:
    assert {c[0] for c in CREATIONS} == set(RECORD_CLASSES.values())


@pytest.mark.parametrize(("cls", "method", "inputs", "initial"), CREATIONS, ids=CREATION_IDS)
def test_created_state_matches_inputs(
    cls: type[Record], method: str, inputs: dict[str, Any], initial: dict[str, Any]
) -> None:
    record_id = uuid4()
    record = _create(cls, method, inputs, id=record_id, recorded_by=EDITOR, at=T0)

    assert isinstance(record, cls)
    assert record.id == record_id
    assert record.version == 1
    assert record.created_on == T0
    assert record.modified_on == T0
    assert record.recorded_by == EDITOR
    for name, value in inputs.items():
        assert getattr(record, name) == value, name
    for name, value in {**COMMON_INITIAL, **initial}.items():
        assert getattr(record, name) == value, name


@pytest.mark.parametrize(("cls", "method", "inputs", "initial"), CREATIONS, ids=CREATION_IDS)
def test_creation_is_one_event_carrying_at_and_recorded_by(
    cls: type[Record], method: str, inputs: dict[str, Any], initial: dict[str, Any]
) -> None:
    at = T0 + timedelta(days=3, hours=2)
    record = _create(cls, method, inputs, id=uuid4(), recorded_by="cli:alice", at=at)

    (event,) = record.pending_events
    assert type(event).__qualname__.startswith(cls.__name__ + ".")
    assert event.originator_id == record.id
    assert event.originator_version == 1
    assert event.timestamp == at
    assert event.recorded_by == "cli:alice"


@pytest.mark.parametrize(("cls", "method", "inputs", "initial"), CREATIONS, ids=CREATION_IDS)
def test_created_state_does_not_share_input_lists(
    cls: type[Record], method: str, inputs: dict[str, Any], initial: dict[str, Any]
) -> None:
    """Changing the caller's list afterwards must not rewrite the record or its event."""
    given = {k: (list(v) if isinstance(v, list) else v) for k, v in inputs.items()}
    record = _create(cls, method, given, id=uuid4(), recorded_by=EDITOR, at=T0)
    for value in given.values():
        if isinstance(value, list):
            value.append("tampered")
    for name, value in inputs.items():
        assert getattr(record, name) == value, name
    assert state(replay(record)) == state(record)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: b.actor(name="  "), "name"),
        (lambda: b.actor(kind="band"), "kind"),
        (lambda: b.source(url=""), "url"),
        (lambda: b.source(title=""), "title"),
        (lambda: b.commitment(text=""), "text"),
        (lambda: b.commitment(kind="hope"), "kind"),
        (lambda: b.commitment(precision="hour"), "precision"),
        (lambda: b.claim(text=" "), "text"),
        (lambda: b.claim(sources=[]), "sources"),
        (lambda: b.demand(text=""), "text"),
        (lambda: b.demand(sources=[]), "sources"),
        (lambda: b.demand(addressed_to=GROUP), "addressed_to"),
        (lambda: b.incident(description=""), "description"),
        (lambda: b.incident(review_status="rumoured"), "review_status"),
        (lambda: b.incident(sources=()), "sources"),
        (lambda: b.action(summary=""), "summary"),
        (lambda: b.action(kind="party"), "kind"),
        (lambda: b.action(confidence="likely"), "confidence"),
        (lambda: b.action(sources=[]), "sources"),
        (lambda: b.inquiry(question=""), "question"),
        (lambda: b.inquiry(asked_to=REPORTER), "asked_to"),
        (lambda: b.inquiry(follow_up_after=-1), "follow_up_after"),
        (lambda: b.inquiry(follow_up_after=True), "follow_up_after"),
        (lambda: b.inquiry(follow_up_after="7"), "follow_up_after"),
        (lambda: b.inquiry(sources=[]), "sources"),
    ],
)
def test_invalid_creation_inputs_are_refused(build: Callable[[], Record], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        build()
    assert info.value.field == field


def test_actors_and_sources_need_no_source_but_statements_do() -> None:
    assert b.actor(sources=[]).sources == []
    assert b.source().sources == []
    for cls in RECORD_CLASSES.values():
        assert cls.NEEDS_SOURCES is (cls not in (Actor, Source))


def test_incident_lists_each_actor_once() -> None:
    assert b.incident(actors=[CHIEF, MAYOR, CHIEF]).actors == [CHIEF, MAYOR]


# ---------------------------------------------------------------------------------------
# A life for each record: several events, each with its own `at` and principal


def life_actor(s: Script) -> Actor:
    r = b.actor(**s())
    r.change_title(title="Former mayor", valid_from="2020-12-01", sources=[SRC2], **s())
    r.correct(field="jurisdiction", value="Jefferson County", reason="typo", sources=[], **s())
    r.redact(fields=["aliases"], reason="safety", **s())
    r.retract(reason="duplicate entry", sources=[SRC], **s())
    return r


def life_source(s: Script) -> Source:
    r = b.source(**s())
    r.correct(field="title", value="Corrected headline", reason="typo", sources=[], **s())
    r.correct(field="excerpts", value=["a", "b"], reason="fuller quote", sources=[], **s())
    r.redact(fields=["author", "excerpts"], reason="legal", **s())
    return r


def life_commitment(s: Script) -> Commitment:
    r = b.commitment(**s())
    r.change_status(
        status="in_progress", occurred_at="2017-09-18", reason="work began", sources=[SRC], **s()
    )
    r.extend_deadline(
        due={"on": "2017-09-29", "precision": "day"},
        reason="chief asked for a week more",
        granted_by=MAYOR,
        sources=[SRC2],
        **s(),
    )
    r.change_status(
        status="fulfilled",
        occurred_at="2017-09-29",
        reason="report delivered",
        sources=[SRC2],
        action=str(uuid4()),
        confidence="possible",
        **s(),
    )
    r.change_status(
        status="reversed", occurred_at="2018-01-05", reason="policy repealed", sources=[SRC], **s()
    )
    r.correct(field="summary", value="Report on ICE calls", reason="clearer", sources=[], **s())
    r.redact(fields=["text"], reason="safety", **s())
    r.retract(reason="entered twice", sources=[], **s())
    return r


def life_commitment_corrected_due(s: Script) -> Commitment:
    r = b.commitment(**s())
    r.correct(
        field="due",
        value={"on": "2017-09-21", "precision": "day"},
        reason="the quote said Thursday",
        sources=[SRC2],
        **s(),
    )
    r.extend_deadline(
        due={"on": "2017-10-06", "precision": "week"},
        reason="extension",
        granted_by=None,
        sources=[SRC],
        **s(),
    )
    r.correct(
        field="due",
        value={"on": "2017-10-05", "precision": "day"},
        reason="the extension named Thursday",
        sources=[SRC],
        **s(),
    )
    return r


def life_claim(s: Script) -> Claim:
    r = b.claim(**s())
    r.add_evidence(stance="supports", sources=[SRC], note="policy text", **s())
    r.add_evidence(
        stance="contradicts",
        sources=[SRC2],
        incident=str(uuid4()),
        confidence="possible",
        **s(),
    )
    r.add_evidence(stance="context", sources=[SRC], action=str(uuid4()), **s())
    r.assess(verdict="misleading", rationale="one case known", sources=[SRC2], **s())
    r.assess(verdict="unsupported", rationale="cases not named", sources=[SRC], **s())
    r.correct(field="made_at", value="2017-09-11", reason="date", sources=[SRC], **s())
    r.redact(fields=["summary"], reason="legal", **s())
    return r


def life_demand(s: Script) -> Demand:
    r = b.demand(**s())
    r.respond(status="acknowledged", occurred_at="2017-09-12", sources=[SRC], **s())
    r.respond(status="rejected", occurred_at="2017-09-20", note="no", sources=[SRC], **s())
    r.respond(
        status="partially_met",
        occurred_at="2017-10-02",
        sources=[SRC2],
        commitment=str(uuid4()),
        action=str(uuid4()),
        **s(),
    )
    r.correct(field="text", value="End cooperation now.", reason="quote", sources=[SRC], **s())
    return r


def life_incident(s: Script) -> Incident:
    r = b.incident(**s())
    r.review(status="under_review", occurred_at="2017-09-20", sources=[SRC], **s())
    r.review(status="unsubstantiated", occurred_at="2017-10-20", note="n", sources=[SRC], **s())
    r.review(status="under_review", occurred_at="2017-11-01", sources=[SRC2], **s())
    r.correct(field="actors", value=[CHIEF, MAYOR], reason="two", sources=[SRC], **s())
    r.redact(fields=["place", "description"], reason="private person", **s())
    return r


def life_action(s: Script) -> Action:
    r = b.action(**s())
    r.correct(field="tally", value={"yes": 19, "no": 7}, reason="recount", sources=[SRC], **s())
    r.redact(fields=["details"], reason="legal", **s())
    return r


def life_inquiry(s: Script) -> Inquiry:
    r = b.inquiry(**s())
    r.respond(status="declined", occurred_at="2017-09-18", sources=[SRC], **s())
    r.respond(
        status="answered", occurred_at="2017-10-01", text="Four calls.", sources=[SRC2], **s()
    )
    r.correct(field="follow_up_after", value=14, reason="agreed", sources=[SRC], **s())
    r.redact(fields=["question"], reason="safety", **s())
    return r


LIVES: list[Callable[[Script], Record]] = [
    life_actor,
    life_source,
    life_commitment,
    life_commitment_corrected_due,
    life_claim,
    life_demand,
    life_incident,
    life_action,
    life_inquiry,
]
LIFE_IDS = [f.__name__.removeprefix("life_") for f in LIVES]


def test_lives_cover_every_record_class() -> None:
    kinds = {type(life(Script())) for life in LIVES}
    assert kinds == set(RECORD_CLASSES.values())


@pytest.mark.parametrize("life", LIVES, ids=LIFE_IDS)
def test_version_increments_once_per_event(life: Callable[[Script], Record]) -> None:
    s = Script()
    record = life(s)
    events = record.pending_events
    assert len(events) == len(s.steps) > 1
    assert record.version == len(events)
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert {e.originator_id for e in events} == {record.id}


@pytest.mark.parametrize("life", LIVES, ids=LIFE_IDS)
def test_event_timestamps_are_the_at_given(life: Callable[[Script], Record]) -> None:
    s = Script()
    record = life(s)
    assert [e.timestamp for e in record.pending_events] == [at for at, _ in s.steps]
    assert record.created_on == s.steps[0][0]
    assert record.modified_on == s.steps[-1][0]


@pytest.mark.parametrize("life", LIVES, ids=LIFE_IDS)
def test_every_event_carries_recorded_by(life: Callable[[Script], Record]) -> None:
    s = Script()
    record = life(s)
    assert [e.recorded_by for e in record.pending_events] == [by for _, by in s.steps]


@pytest.mark.parametrize("life", LIVES, ids=LIFE_IDS)
def test_collect_events_hands_over_the_history_once(life: Callable[[Script], Record]) -> None:
    record = life(Script())
    pending = list(record.pending_events)
    assert list(record.collect_events()) == pending
    assert list(record.collect_events()) == []
    assert record.version == len(pending)


@pytest.mark.parametrize("life", LIVES, ids=LIFE_IDS)
def test_replay_rebuilds_the_live_state(life: Callable[[Script], Record]) -> None:
    record = life(Script())
    rebuilt = replay(record)
    assert type(rebuilt) is type(record)
    assert rebuilt.id == record.id
    assert rebuilt.version == record.version
    assert state(rebuilt) == state(record)
    # Replaying again from the same events gives the same state: applying an event does
    # not change the event.
    assert state(replay(record)) == state(record)


@pytest.mark.parametrize("life", LIVES, ids=LIFE_IDS)
def test_replay_after_json_round_trip_rebuilds_the_live_state(
    life: Callable[[Script], Record],
) -> None:
    """Stored events are plain JSON: what comes back from the store rebuilds the record."""
    record = life(Script())
    mapper = b.mapper()
    events = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in record.pending_events]
    assert events == list(record.pending_events)
    rebuilt = events[0].mutate(None)
    for event in events[1:]:
        rebuilt = event.mutate(rebuilt)
    assert state(rebuilt) == state(record)


def test_replayed_commitment_matches_status_due_extensions_corrections_redactions() -> None:
    live = life_commitment(Script())
    rebuilt = replay(live)
    assert live.status == "reversed"
    assert live.due == {"on": "2017-09-29", "precision": "day"}
    assert live.original_due == DUE
    assert len(live.extensions) == 1
    assert [h["status"] for h in live.status_history] == ["in_progress", "fulfilled", "reversed"]
    assert [c["field"] for c in live.corrections] == ["summary"]
    assert live.redactions == {"text": "safety"}
    assert live.retracted is True
    for name in (
        "status",
        "due",
        "original_due",
        "extensions",
        "status_history",
        "corrections",
        "redactions",
        "retracted",
        "retraction",
        "summary",
    ):
        assert getattr(rebuilt, name) == getattr(live, name), name


def test_replayed_commitment_keeps_corrected_original_due() -> None:
    live = life_commitment_corrected_due(Script())
    assert live.original_due == {"on": "2017-09-21", "precision": "day"}
    assert live.due == {"on": "2017-10-05", "precision": "day"}
    assert live.extensions[0]["previous"] == {"on": "2017-09-21", "precision": "day"}
    rebuilt = replay(live)
    assert rebuilt.original_due == live.original_due
    assert rebuilt.due == live.due
    assert rebuilt.extensions == live.extensions
    assert rebuilt.corrections == live.corrections


def test_replayed_claim_matches_evidence_and_verdict() -> None:
    live = life_claim(Script())
    rebuilt = replay(live)
    assert [e["stance"] for e in live.evidence] == ["supports", "contradicts", "context"]
    assert live.verdict == "unsupported"
    assert rebuilt.evidence == live.evidence
    assert rebuilt.assessments == live.assessments
    assert rebuilt.verdict == live.verdict
    assert rebuilt.redactions == live.redactions == {"summary": "legal"}


@pytest.mark.parametrize(
    ("life", "attribute", "expected"),
    [
        (life_demand, "status", "partially_met"),
        (life_incident, "review_status", "under_review"),
        (life_inquiry, "status", "answered"),
        (life_actor, "title", "Former mayor"),
    ],
    ids=["demand", "incident", "inquiry", "actor"],
)
def test_replayed_status_matches(
    life: Callable[[Script], Record], attribute: str, expected: str
) -> None:
    live = life(Script())
    assert getattr(live, attribute) == expected
    assert getattr(replay(live), attribute) == expected


# ---------------------------------------------------------------------------------------
# Corrections


def test_corrected_records_field_old_new_reason_and_who() -> None:
    record = b.commitment()
    at = T0 + timedelta(days=1)
    record.correct(
        field="summary",
        value="Chief to report on the four calls",
        reason="the summary missed the four calls",
        sources=[SRC2],
        recorded_by="cli:bob",
        at=at,
    )
    assert record.summary == "Chief to report on the four calls"
    assert record.version == 2
    assert record.corrections == [
        {
            "field": "summary",
            "old": "Chief to report on ICE cooperation",
            "new": "Chief to report on the four calls",
            "reason": "the summary missed the four calls",
            "sources": [SRC2],
            "recorded_at": at.isoformat(),
            "recorded_by": "cli:bob",
        }
    ]
    event = record.pending_events[-1]
    assert isinstance(event, Commitment.Corrected)
    assert (event.field, event.old, event.new) == (
        "summary",
        "Chief to report on ICE cooperation",
        "Chief to report on the four calls",
    )
    assert event.timestamp == at
    assert event.recorded_by == "cli:bob"


def test_corrections_accumulate_in_order() -> None:
    record = b.claim()
    record.correct(field="text", value="v2", reason="r1", sources=[], recorded_by=EDITOR, at=T0)
    record.correct(field="text", value="v3", reason="r2", sources=[], recorded_by=EDITOR, at=T0)
    assert record.text == "v3"
    assert [(c["old"], c["new"]) for c in record.corrections] == [
        ("LMPD does not enforce immigration law.", "v2"),
        ("v2", "v3"),
    ]


def test_correcting_topics_or_sources_copies_the_list() -> None:
    record = b.demand()
    topics = ["a", "b"]
    record.correct(field="topics", value=topics, reason="r", sources=[], recorded_by=EDITOR, at=T0)
    topics.append("tampered")
    assert record.topics == ["a", "b"]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (b.actor, "titles"),
        (b.actor, "recorded_by"),
        (b.source, "sources"),
        (b.commitment, "status"),
        (b.commitment, "original_due"),
        (b.commitment, "retracted"),
        (b.claim, "verdict"),
        (b.demand, "status"),
        (b.incident, "review_status"),
        (b.action, "fulfils"),
        (b.action, "breaks"),
        (b.action, "sources"),
        (b.inquiry, "status"),
        (b.inquiry, "no_such_field"),
    ],
)
def test_a_non_correctable_field_is_refused(build: Callable[[], Record], field: str) -> None:
    record = build()
    assert field not in record.CORRECTABLE
    with refused(record, InvalidInput, field="field"):
        record.correct(
            field=field, value="x", reason="because", sources=[], recorded_by=EDITOR, at=T0
        )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (b.actor, "name"),
        (b.source, "title"),
        (b.commitment, "text"),
        (b.commitment, "due"),
        (b.claim, "made_by"),
        (b.demand, "addressed_to"),
        (b.incident, "actors"),
        (b.action, "tally"),
        (b.inquiry, "follow_up_after"),
    ],
)
def test_correcting_to_the_same_value_is_refused(build: Callable[[], Record], field: str) -> None:
    record = build()
    value = getattr(record, field)
    with refused(record, RuleViolation, field="value"):
        record.correct(
            field=field, value=value, reason="because", sources=[], recorded_by=EDITOR, at=T0
        )


def test_a_correction_needs_a_reason() -> None:
    record = b.commitment()
    with refused(record, InvalidInput, field="reason"):
        record.correct(field="text", value="x", reason=" ", sources=[], recorded_by=EDITOR, at=T0)


@pytest.mark.parametrize(
    ("build", "field", "value", "error_field"),
    [
        (b.actor, "kind", "band", "value"),
        (b.actor, "name", "", "value"),
        (b.commitment, "assignee", None, "assignee"),
        (b.commitment, "assignee", MAYOR, "assignee"),
        (b.commitment, "made_by", CHIEF, "assignee"),
        (b.commitment, "kind", "hope", "kind"),
        (b.commitment, "due", {"on": "2017-09-22", "text": "next week"}, "value.basis"),
        (b.commitment, "due", {"precision": "day"}, "value.on"),
        (b.commitment, "precision", "hour", "value"),
        (b.commitment, "sources", [], "value"),
        (b.claim, "text", "", "value"),
        (b.demand, "sources", [], "value"),
        (b.incident, "precision", "decade", "value"),
        (b.action, "kind", "party", "value"),
        (b.inquiry, "follow_up_after", -3, "value"),
        (b.inquiry, "question", "  ", "value"),
    ],
)
def test_a_correction_keeps_the_record_valid(
    build: Callable[[], Record], field: str, value: Any, error_field: str
) -> None:
    record = build()
    with refused(record, InvalidInput, field=error_field):
        record.correct(
            field=field, value=value, reason="because", sources=[], recorded_by=EDITOR, at=T0
        )


def test_correcting_due_before_any_extension_also_corrects_original_due() -> None:
    record = b.commitment()
    new_due = {"on": "2017-09-21", "precision": "day"}
    record.correct(field="due", value=new_due, reason="r", sources=[SRC], recorded_by=EDITOR, at=T0)
    assert record.due == new_due
    assert record.original_due == new_due


def test_correcting_due_after_an_extension_keeps_original_due() -> None:
    record = b.commitment()
    record.extend_deadline(
        due={"on": "2017-09-29"},
        reason="r",
        granted_by=MAYOR,
        sources=[SRC],
        recorded_by=EDITOR,
        at=T0,
    )
    record.correct(
        field="due",
        value={"on": "2017-09-30"},
        reason="r",
        sources=[SRC],
        recorded_by=EDITOR,
        at=T0,
    )
    assert record.due == {"on": "2017-09-30"}
    assert record.original_due == DUE


def test_adding_a_due_by_correction_sets_original_due() -> None:
    record = b.commitment(due=None)
    assert record.original_due is None
    record.correct(
        field="due", value={"on": "2017-12-31"}, reason="r", sources=[], recorded_by=EDITOR, at=T0
    )
    assert record.original_due == {"on": "2017-12-31"}


# ---------------------------------------------------------------------------------------
# Retraction


def test_retracted_marks_the_record_and_keeps_it_readable() -> None:
    record = b.claim()
    at = T0 + timedelta(hours=5)
    record.retract(reason="entered in error", sources=[SRC2], recorded_by="cli:carol", at=at)
    assert record.retracted is True
    assert record.retraction == {
        "reason": "entered in error",
        "sources": [SRC2],
        "recorded_at": at.isoformat(),
        "recorded_by": "cli:carol",
    }
    assert record.text == "LMPD does not enforce immigration law."
    assert record.version == 2
    assert isinstance(record.pending_events[-1], Claim.Retracted)


def test_a_retraction_needs_a_reason() -> None:
    record = b.action()
    with refused(record, InvalidInput, field="reason"):
        record.retract(reason="", sources=[], recorded_by=EDITOR, at=T0)


def _retracted(build: Callable[[], Record]) -> Any:
    record = build()
    record.retract(reason="error", sources=[], recorded_by=EDITOR, at=T0)
    return record


AT = {"recorded_by": EDITOR, "at": T0}
CHANGES: list[tuple[Callable[[], Record], Callable[[Any], None]]] = [
    (b.actor, lambda r: r.change_title(title="New", valid_from="2018", sources=[SRC], **AT)),
    (b.actor, lambda r: r.correct(field="name", value="N", reason="r", sources=[], **AT)),
    (b.source, lambda r: r.correct(field="title", value="T", reason="r", sources=[], **AT)),
    (
        b.commitment,
        lambda r: r.change_status(
            status="in_progress", occurred_at="2017-09-18", reason="r", sources=[SRC], **AT
        ),
    ),
    (b.commitment, lambda r: r.check_status_change("in_progress")),
    (
        b.commitment,
        lambda r: r.extend_deadline(
            due={"on": "2017-10-01"}, reason="r", granted_by=None, sources=[SRC], **AT
        ),
    ),
    (b.commitment, lambda r: r.correct(field="text", value="t", reason="r", sources=[], **AT)),
    (b.claim, lambda r: r.add_evidence(stance="supports", sources=[SRC], **AT)),
    (b.claim, lambda r: r.assess(verdict="accurate", rationale="r", sources=[SRC], **AT)),
    (b.claim, lambda r: r.correct(field="text", value="t", reason="r", sources=[], **AT)),
    (
        b.demand,
        lambda r: r.respond(status="acknowledged", occurred_at="2017-09-12", sources=[SRC], **AT),
    ),
    (b.demand, lambda r: r.check_response("met")),
    (
        b.incident,
        lambda r: r.review(status="under_review", occurred_at="2017-09-20", sources=[SRC], **AT),
    ),
    (b.action, lambda r: r.correct(field="summary", value="s", reason="r", sources=[], **AT)),
    (
        b.inquiry,
        lambda r: r.respond(
            status="answered", occurred_at="2017-09-20", text="t", sources=[SRC], **AT
        ),
    ),
    (b.inquiry, lambda r: r.correct(field="question", value="q", reason="r", sources=[], **AT)),
]


@pytest.mark.parametrize(("build", "change"), CHANGES)
def test_a_change_that_works_on_a_live_record(
    build: Callable[[], Record], change: Callable[[Any], None]
) -> None:
    """The counterpart of the next test: each change is valid while the record is live."""
    record = build()
    change(record)


@pytest.mark.parametrize(("build", "change"), CHANGES)
def test_a_retracted_record_refuses_any_further_change(
    build: Callable[[], Record], change: Callable[[Any], None]
) -> None:
    record = _retracted(build)
    with refused(record, RuleViolation, match="retracted"):
        change(record)


@pytest.mark.parametrize("build", [b.actor, b.commitment, b.inquiry])
def test_retracting_twice_is_refused(build: Callable[[], Record]) -> None:
    record = _retracted(build)
    with refused(record, RuleViolation, match="already retracted"):
        record.retract(reason="again", sources=[], recorded_by=EDITOR, at=T0)


def test_a_retracted_record_can_still_be_redacted() -> None:
    """A retracted entry stays readable, so a private person's details in it must still
    be withheld when the law or their safety requires it."""
    record = _retracted(b.incident)
    record.redact(fields=["place"], reason="safety", recorded_by=EDITOR, at=T0)
    assert record.redactions == {"place": "safety"}


# ---------------------------------------------------------------------------------------
# Redaction

REDACTION_CASES = [(cls, name) for cls in RECORD_CLASSES.values() for name in cls.REDACTABLE]
BUILDERS: dict[type[Record], Callable[..., Any]] = {
    Actor: b.actor,
    Source: b.source,
    Commitment: b.commitment,
    Claim: b.claim,
    Demand: b.demand,
    Incident: b.incident,
    Action: b.action,
    Inquiry: b.inquiry,
}


@pytest.mark.parametrize(
    ("cls", "name"), REDACTION_CASES, ids=[f"{c.KIND}.{n}" for c, n in REDACTION_CASES]
)
def test_each_redactable_field_can_be_redacted(cls: type[Record], name: str) -> None:
    record = BUILDERS[cls]()
    at = T0 + timedelta(days=2)
    record.redact(fields=[name], reason="court order", recorded_by="cli:dana", at=at)
    assert record.redactions == {name: "court order"}
    event = record.pending_events[-1]
    assert isinstance(event, cls.Redacted)
    assert event.fields == [name]
    assert event.reason == "court order"
    assert event.recorded_by == "cli:dana"
    assert event.timestamp == at
    assert record.version == 2


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (b.actor, "jurisdiction"),
        (b.source, "url"),
        (b.commitment, "made_by"),
        (b.commitment, "due"),
        (b.claim, "verdict"),
        (b.demand, "demanded_by"),
        (b.incident, "actors"),
        (b.action, "tally"),
        (b.inquiry, "asked_to"),
    ],
)
def test_only_redactable_fields_can_be_redacted(build: Callable[[], Record], field: str) -> None:
    record = build()
    allowed = sorted(record.REDACTABLE)[0]
    with refused(record, InvalidInput, field="fields", match=field):
        record.redact(fields=[allowed, field], reason="legal", recorded_by=EDITOR, at=T0)


def test_redactions_name_each_field_with_its_reason() -> None:
    record = b.source()
    record.redact(fields=["author", "author"], reason="safety", recorded_by=EDITOR, at=T0)
    assert record.pending_events[-1].fields == ["author"]
    record.redact(fields=["author", "excerpts"], reason="court order", recorded_by=EDITOR, at=T0)
    assert record.pending_events[-1].fields == ["excerpts"]
    assert record.redactions == {"author": "safety", "excerpts": "court order"}


def test_redacting_the_same_fields_again_is_refused() -> None:
    record = b.commitment()
    record.redact(fields=["text", "summary"], reason="legal", recorded_by=EDITOR, at=T0)
    with refused(record, RuleViolation, field="fields"):
        record.redact(fields=["summary", "text"], reason="again", recorded_by=EDITOR, at=T0)
    with refused(record, RuleViolation, field="fields"):
        record.redact(fields=["text"], reason="again", recorded_by=EDITOR, at=T0)


def test_a_redaction_needs_fields_and_a_reason() -> None:
    record = b.claim()
    with refused(record, InvalidInput, field="fields"):
        record.redact(fields=[], reason="legal", recorded_by=EDITOR, at=T0)
    with refused(record, InvalidInput, field="reason"):
        record.redact(fields=["text"], reason="", recorded_by=EDITOR, at=T0)


# ---------------------------------------------------------------------------------------
# System notices


def _deadline(commitment_id: UUID, due_on: str = "2017-09-22", **kw: Any) -> DeadlineNotice:
    fields: dict[str, Any] = {
        "commitment_id": commitment_id,
        "due_on": due_on,
        "status": "open",
        "recorded_by": SYSTEM,
        "at": T0,
    }
    fields.update(kw)
    return DeadlineNotice.record(**fields)


def _overdue(inquiry_id: UUID, follow_up_on: str = "2017-09-23", **kw: Any) -> InquiryNotice:
    fields: dict[str, Any] = {
        "inquiry_id": inquiry_id,
        "follow_up_on": follow_up_on,
        "status": "awaiting",
        "recorded_by": SYSTEM,
        "at": T0,
    }
    fields.update(kw)
    return InquiryNotice.record(**fields)


def test_deadline_notice_ids_are_deterministic() -> None:
    commitment_id = uuid4()
    first = _deadline(commitment_id)
    # A restart or a second worker notices the same deadline later, in another status.
    again = _deadline(commitment_id, status="stalled", at=T0 + timedelta(hours=1))
    assert first.id == again.id == DeadlineNotice.notice_id(commitment_id, "2017-09-22")
    assert _deadline(commitment_id, "2017-09-29").id != first.id
    assert _deadline(uuid4()).id != first.id
    assert first.id != commitment_id


def test_deadline_notice_event_names_what_passed() -> None:
    commitment_id = uuid4()
    at = T0 + timedelta(days=8)
    notice = _deadline(commitment_id, status="in_progress", at=at)
    (event,) = notice.pending_events
    assert isinstance(event, DeadlineNotice.DeadlinePassed)
    assert event.commitment == str(commitment_id)
    assert event.due_on == "2017-09-22"
    assert event.status == "in_progress"
    assert event.recorded_by == SYSTEM
    assert event.timestamp == at
    assert notice.version == 1


def test_inquiry_notice_ids_are_deterministic() -> None:
    inquiry_id = uuid4()
    first = _overdue(inquiry_id)
    again = _overdue(inquiry_id, status="declined", at=T0 + timedelta(days=1))
    assert first.id == again.id == InquiryNotice.notice_id(inquiry_id, "2017-09-23")
    assert _overdue(inquiry_id, "2017-09-30").id != first.id
    assert _overdue(uuid4()).id != first.id


def test_inquiry_notice_event_names_what_is_overdue() -> None:
    inquiry_id = uuid4()
    (event,) = _overdue(inquiry_id, status="declined").pending_events
    assert isinstance(event, InquiryNotice.InquiryOverdue)
    assert (event.inquiry, event.follow_up_on, event.status, event.recorded_by) == (
        str(inquiry_id),
        "2017-09-23",
        "declined",
        SYSTEM,
    )
    assert event.timestamp == T0


def test_deadline_and_inquiry_notices_never_share_an_id() -> None:
    same = uuid4()
    assert _deadline(same, "2017-09-22").id != _overdue(same, "2017-09-22").id


def test_notices_replay_from_their_event() -> None:
    notice = _deadline(uuid4())
    rebuilt = replay(notice)  # type: ignore[arg-type]
    assert type(rebuilt) is DeadlineNotice
    assert (rebuilt.id, rebuilt.version, rebuilt.created_on) == (notice.id, 1, T0)


@pytest.mark.parametrize(
    ("build", "field", "other", "error_field"),
    [
        (b.demand, "addressed_to", "demanded_by", "addressed_to"),
        (b.demand, "demanded_by", "addressed_to", "addressed_to"),
        (b.inquiry, "asked_to", "asked_by", "asked_to"),
        (b.inquiry, "asked_by", "asked_to", "asked_to"),
    ],
)
def test_a_correction_cannot_address_a_record_to_its_own_author(
    build: Callable[[], Record], field: str, other: str, error_field: str
) -> None:
    """The creation rule (a demand or inquiry is put to another actor) holds under
    corrections too, as the assignee rule does for commitments."""
    record = build()
    with refused(record, InvalidInput, field=error_field):
        record.correct(
            field=field,
            value=getattr(record, other),
            reason="because",
            sources=[],
            recorded_by=EDITOR,
            at=T0,
        )
    record.correct(
        field=field, value=str(uuid4()), reason="because", sources=[], recorded_by=EDITOR, at=T0
    )
