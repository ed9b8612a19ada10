"""The founding case (ledger/demo/louisville-2017.jsonl) imports and records what the article says.

Each test imports the demo file through `parse_command` + `Ledger.import_commands`, on SQLite
and on PostgreSQL (the `ledger` fixture), and checks facts of the records it creates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ledger.app import Ledger
from ledger.commands import Command, parse_command, slug_id

DEMO_FILE = Path(__file__).resolve().parents[2] / "ledger" / "demo" / "louisville-2017.jsonl"
SLUG = re.compile(r"^[a-z][a-z0-9_-]*/[a-z0-9][a-z0-9._-]*$")

ARTICLE = "source/kycir-louisville-sanctuary-push-2017-09-15"
KYCIR_STORY = "source/kycir-lmpd-ice-2017"
MEETING = "action/metro-council-meeting-2017-09-14"
PEREZ_PEREZ = "incident/perez-perez-door-knock"
UNDER_REVIEW = [f"incident/lmpd-ice-call-under-review-{n}" for n in range(1, 5)]
DEMANDS = [
    "demand/support-sanctuary-policies",
    "demand/stop-assisting-ice",
    "demand/no-287g-agreement",
]


def _lines() -> list[str]:
    return DEMO_FILE.read_text(encoding="utf-8").splitlines()


def _commands() -> list[Command]:
    return [parse_command(json.loads(line)) for line in _lines()]


def _id(slug: str) -> str:
    return str(slug_id(slug))


@pytest.fixture
def seeded(ledger: Ledger) -> Ledger:
    result = ledger.import_commands(_commands(), principal="cli:test")
    assert result.errors == []
    assert result.applied == len(_lines())
    assert result.skipped == 0
    return ledger


def _get(ledger: Ledger, slug: str) -> Any:
    kind = slug.split("/", 1)[0]
    return ledger.get_record(kind, slug_id(slug))


def test_file_is_compact_json_lines_with_slug_ids() -> None:
    lines = _lines()
    assert lines, "the demo file is empty"
    created: list[str] = []
    for number, line in enumerate(lines, 1):
        assert line == line.strip(), f"line {number} has surrounding whitespace"
        obj = json.loads(line)
        compact = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        assert line == compact, f"line {number} is not compact JSON"
        command = parse_command(obj)
        assert isinstance(obj.get("id"), str) and SLUG.match(obj["id"]), (
            f"line {number} has no slug id"
        )
        assert obj["id"].split("/", 1)[0] == command.kind
        if command.creates:
            created.append(obj["id"])
    assert len(created) == len(set(created)), "a slug is created twice"
    assert "commitment/warren-recommendations" in created


def test_every_record_has_topics_and_every_statement_a_source(seeded: Ledger) -> None:
    for command in _commands():
        if not command.creates:
            continue
        assert command.id is not None
        record: Any = seeded.get_record(command.kind, command.id)
        assert record.topics, f"{command.kind} {command.id} has no topic"
        if command.kind not in ("actor", "source"):
            assert record.sources, f"{command.kind} {command.id} cites no source"


def test_sources_are_the_article_and_the_kycir_story(seeded: Ledger) -> None:
    article = _get(seeded, ARTICLE)
    assert article.published_at == "2017-09-15"
    assert article.author == "Kate Howard"
    assert article.publisher == "Kentucky Center for Investigative Reporting"
    assert article.url == "urn:ledger:seed:louisville-2017-09-15"
    assert len(article.excerpts) >= 10
    seed = Path("/work/shared/seed/louisville-2017-09-15.txt")
    if seed.exists():  # the archived text, where this checkout has it
        body = seed.read_text(encoding="utf-8")
        for excerpt in article.excerpts:
            assert excerpt in body, f"excerpt is not verbatim: {excerpt!r}"
    story = _get(seeded, KYCIR_STORY)
    assert story.published_at == "2017-09-08"
    assert "week" in story.title


def test_warren_promise_has_its_fuzzy_deadline(seeded: Ledger) -> None:
    promise = _get(seeded, "commitment/warren-recommendations")
    assert promise.kind == "promise"
    assert promise.made_by == _id("actor/bryan-warren")
    assert promise.assignee is None
    assert promise.made_at == "2017-09-15"
    assert promise.due["on"] == "2017-09-22"
    assert promise.due["precision"] == "week"
    assert promise.due["text"] == "by the end of next week"
    assert "2017-09-22" in promise.due["basis"]
    assert promise.original_due == promise.due
    assert promise.status == "in_progress"


def test_mayor_directives_are_assigned_and_in_progress(seeded: Ledger) -> None:
    expected = {
        "commitment/conrad-meet-ice": "actor/steve-conrad",
        "commitment/warren-meet-immigrant-leaders": "actor/bryan-warren",
    }
    for slug, assignee in expected.items():
        directive = _get(seeded, slug)
        assert directive.kind == "directive"
        assert directive.made_by == _id("actor/greg-fischer")
        assert directive.assignee == _id(assignee)
        assert directive.status == "in_progress"
        assert directive.status_history[-1]["previous"] == "open"
        assert directive.status_history[-1]["sources"] == [_id(ARTICLE)]


def test_conrad_pledge_has_no_deadline_and_no_rating(seeded: Ledger) -> None:
    pledge = _get(seeded, "commitment/conrad-officers-not-used-by-ice")
    assert pledge.kind == "pledge"
    assert pledge.made_by == _id("actor/steve-conrad")
    assert pledge.due is None
    assert pledge.status == "open"
    assert pledge.precision == "week"


def test_kycir_inquiry_was_declined(seeded: Ledger) -> None:
    inquiry = _get(seeded, "inquiry/kycir-lmpd-followup")
    assert inquiry.status == "declined"
    assert inquiry.asked_by == _id("actor/kycir")
    assert inquiry.asked_to == _id("actor/lmpd")
    assert inquiry.asked_at == "2017-09-08"
    assert inquiry.precision == "week"
    assert inquiry.follow_up_after == 7
    assert [r["status"] for r in inquiry.responses] == ["declined"]
    assert "refused to respond" in inquiry.responses[0]["text"]


def test_four_unnamed_calls_are_under_review_without_outcome(seeded: Ledger) -> None:
    for n, slug in enumerate(UNDER_REVIEW, 1):
        incident = _get(seeded, slug)
        assert incident.review_status == "under_review"
        assert incident.reviews == []
        assert incident.description.startswith(f"Call {n} of the 4 cited by KyCIR")
        assert "unnamed" in incident.description
        assert _id("actor/lmpd") in incident.actors


def test_perez_perez_door_knock(seeded: Ledger) -> None:
    incident = _get(seeded, PEREZ_PEREZ)
    assert incident.occurred_at == "2017-04-01"
    assert incident.precision == "month"
    assert set(incident.actors) == {
        _id("actor/lmpd"),
        _id("actor/ice"),
        _id("actor/mauro-perez-perez"),
    }
    assert "Body camera footage" in incident.description
    assert incident.review_status == "reported"


def test_conrad_19_of_23_claim_is_unsupported_with_possible_link(seeded: Ledger) -> None:
    claim = _get(seeded, "claim/conrad-19-of-23")
    assert claim.made_by == _id("actor/steve-conrad")
    assert "19 of the 23" in claim.text
    possible = [e for e in claim.evidence if e["confidence"] == "possible"]
    assert len(possible) == 1
    assert possible[0]["incident"] == _id(PEREZ_PEREZ)
    assert possible[0]["stance"] == "context"
    linked = {e["incident"] for e in claim.evidence if e["confidence"] == "established"}
    assert {_id(s) for s in UNDER_REVIEW} <= linked
    assert claim.verdict == "unsupported"
    assert claim.assessments[-1]["rationale"]


def test_city_claim_is_contradicted_by_the_kycir_story(seeded: Ledger) -> None:
    claim = _get(seeded, "claim/lmpd-does-not-enforce-immigration-law")
    assert claim.made_by == _id("actor/louisville-metro-government")
    contradicting = [e for e in claim.evidence if e["stance"] == "contradicts"]
    assert any(_id(KYCIR_STORY) in e["sources"] for e in contradicting)
    assert any("nearly weekly" in (e["note"] or "") for e in contradicting)


def test_three_demands_were_made_at_the_council_meeting(seeded: Ledger) -> None:
    meeting = _get(seeded, MEETING)
    assert meeting.kind == "meeting"
    assert meeting.actor == _id("actor/louisville-metro-council")
    assert meeting.occurred_at == "2017-09-14"
    assert "Sanctuary For All" in meeting.summary
    for slug in DEMANDS:
        demand = _get(seeded, slug)
        assert demand.action == _id(MEETING)
        assert demand.demanded_by == _id("actor/louisville-residents-metro-council-2017-09-14")
        assert demand.addressed_to == _id("actor/louisville-metro-council")
        assert demand.made_at == "2017-09-14"
        assert demand.status == "pending"
    assert "Margaret Sites" in _get(seeded, "demand/no-287g-agreement").text


def test_second_import_applies_nothing(seeded: Ledger) -> None:
    again = seeded.import_commands(_commands(), principal="cli:test")
    assert again.errors == []
    assert again.applied == 0
    assert again.events == 0
    assert again.skipped == len(_lines())
