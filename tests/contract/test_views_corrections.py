"""Corrections, retractions and redactions in every view (DOMAIN.md, "Corrections,
retractions, redactions"), on SQLite and PostgreSQL.

A retracted entry leaves the lists, the scores, the timeline and search, from when the ledger
learned of the retraction; it stays readable with `retracted: true`. A redacted field is
withheld from every public read, whenever it is asked about, and after a rebuild.
"""

from __future__ import annotations

import json
from datetime import date

from ledger.app import Ledger
from ledger.clock import ManualClock
from ledger.commands import slug_id
from projections.queries import When
from projections.records import REDACTED
from projections.runner import Followers
from tests.contract.helpers import run
from tests.contract.views_support import (
    ARTICLE,
    CLAIM_NO_ENFORCEMENT,
    NAMES,
    TOPIC,
    WARREN,
    everything,
    ids,
    sid,
    utc,
)
from tests.contract.views_support import followers_fixture as _followers  # noqa: F401
from tests.contract.views_support import founded_fixture as _founded  # noqa: F401

AT = date(2017, 9, 23)
RETRACTED_AT = utc(2017, 9, 20, 12)
BEFORE = utc(2017, 9, 20, 11, 59)
METRO = "actor/louisville-metro-government"
WARREN_ACTOR = "actor/bryan-warren"


def _retract_warren_and_the_claim(ledger: Ledger, clock: ManualClock) -> None:
    clock.set(RETRACTED_AT)
    for op, slug in (("commitment.retraction", WARREN), ("claim.retraction", CLAIM_NO_ENFORCEMENT)):
        run(ledger, op, slug, reason="recorded in error", sources=[ARTICLE])


def _visible(followers: Followers, when: When) -> dict[str, set[str]]:
    """Where the retracted pair shows, read by read."""
    q = followers.queries
    targets = {sid(WARREN), sid(CLAIM_NO_ENFORCEMENT)}
    timeline_ids = {e["record"]["id"] for e in q.timeline(when=when, topic=TOPIC, limit=500).items}
    warren_tl = {
        e["record"]["id"] for e in q.timeline(when=when, actor=sid(WARREN_ACTOR), limit=500).items
    }
    search = {r["record"]["id"] for r in q.search("recommendations", when=when, limit=500).items}
    search |= {r["record"]["id"] for r in q.search("reiterated", when=when, limit=500).items}
    return {
        "board": targets & set(ids(q.board(when=when, limit=500))),
        "follow_ups": targets & set(ids(q.follow_ups(when=when, limit=500))),
        "records": targets
        & (
            set(ids(q.records("commitment", when=when, limit=500)))
            | set(ids(q.records("claim", when=when, limit=500)))
        ),
        "timeline": targets & (timeline_ids | warren_tl),
        "search": targets & search,
    }


def test_a_retraction_removes_the_entry_from_every_list_from_then_on(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    q = founded.queries
    both = {sid(WARREN), sid(CLAIM_NO_ENFORCEMENT)}
    before_counts = q.board_counts(when=q.when(AT))
    assert before_counts["total"] == 4
    _retract_warren_and_the_claim(ledger, clock)
    founded.catch_up()

    # As known after the retraction: gone from every list.
    for known in (None, utc(2017, 9, 21), RETRACTED_AT):
        visible = _visible(founded, q.when(AT, known))
        assert visible == {name: set() for name in visible}, known
    # As known before it: everywhere it was.
    visible = _visible(founded, q.when(AT, BEFORE))
    assert visible["board"] == {sid(WARREN)}
    assert visible["follow_ups"] == both
    assert visible["records"] == both
    assert visible["timeline"] == both
    assert visible["search"] == both

    # Counts and scores.
    after = q.board_counts(when=q.when(AT))
    assert after == {"by_status": {"in_progress": 2, "open": 1}, "total": 3, "overdue": 0}
    assert q.board_counts(when=q.when(AT, BEFORE)) == before_counts
    warren = q.scorecard(sid(WARREN_ACTOR), when=q.when(AT))
    assert warren["commitments"]["made"] == 0
    assert warren["commitments"]["overdue"] == 0
    assert warren["directives_assigned"]["made"] == 1
    warren_before = q.scorecard(sid(WARREN_ACTOR), when=q.when(AT, BEFORE))
    assert (warren_before["commitments"]["made"], warren_before["commitments"]["overdue"]) == (
        1,
        1,
    )
    metro = q.scorecard(sid(METRO), when=q.when(AT))
    assert metro["claims"] == {"total": 0, "by_verdict": {}}
    metro_before = q.scorecard(sid(METRO), when=q.when(AT, BEFORE))
    assert metro_before["claims"] == {"total": 1, "by_verdict": {"unassessed": 1}}

    # Still readable, marked retracted.
    (item,) = q.board(when=q.when(AT), ids=[sid(WARREN)], include_retracted=True).items
    assert item["retracted"] is True
    assert item["days_overdue"] == 1
    (record,) = q.records(
        "commitment", when=q.when(AT), ids=[sid(WARREN)], include_retracted=True
    ).items
    assert record["retracted"] is True
    (record_before,) = q.records(
        "commitment", when=q.when(AT, BEFORE), ids=[sid(WARREN)], include_retracted=True
    ).items
    assert record_before["retracted"] is False
    claim = q.claim_file(sid(CLAIM_NO_ENFORCEMENT), when=q.when(AT))
    assert claim is not None
    assert claim["retracted"] is True
    assert len(claim["evidence"]["against"]) == 2
    # The history keeps it.
    types = [e["type"] for e in ledger.history("commitment", slug_id(WARREN))]
    assert types == ["commitment.made", "commitment.status_changed", "commitment.retracted"]


def test_views_rebuilt_after_a_retraction_answer_the_same(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    _retract_warren_and_the_claim(ledger, clock)
    founded.catch_up()
    q = founded.queries
    whens = [q.when(AT), q.when(AT, BEFORE), q.when(date(2017, 9, 30), utc(2017, 9, 25))]
    answers = [(_visible(founded, w), everything(founded, w)) for w in whens]
    for name in NAMES:
        founded.rebuild(name)
    founded.catch_up()
    assert [(_visible(founded, w), everything(founded, w)) for w in whens] == answers


# -- redactions ---------------------------------------------------------------------------
SECRET = "Quillfeather"
SECRET_TEXT = f"will hide the {SECRET} family at the church on Birchwood Lane"


def _shelter_promise(ledger: Ledger, clock: ManualClock, *, summary: str | None) -> None:
    clock.set(utc(2017, 9, 16, 10))
    data = {"summary": summary} if summary else {}
    run(
        ledger,
        "commitment.create",
        "commitment/shelter",
        kind="promise",
        made_by="actor/greg-fischer",
        text=SECRET_TEXT,
        made_at="2017-09-16",
        due={"on": "2017-09-25"},
        topics=[TOPIC],
        sources=[ARTICLE],
        **data,
    )
    run(
        ledger,
        "commitment.status",
        "commitment/shelter",
        status="in_progress",
        occurred_at="2017-09-17",
        reason="the church agreed to help",
        sources=[ARTICLE],
    )


def _redact(ledger: Ledger, clock: ManualClock) -> None:
    clock.set(utc(2017, 9, 18, 9))
    run(
        ledger,
        "commitment.redaction",
        "commitment/shelter",
        fields=["text"],
        reason="a private family's safety",
    )


def _assert_withheld(followers: Followers, *words: str) -> None:
    q = followers.queries
    mayor = sid("actor/greg-fischer")
    for at in (date(2017, 9, 16), date(2017, 9, 23), date(2017, 10, 1)):
        for known in (None, utc(2017, 9, 16, 12), utc(2017, 9, 18, 8), utc(2017, 9, 30)):
            when = q.when(at, known)
            text = everything(followers, when, actors=(mayor,))
            for word in words:
                assert word not in text, (at, known, word)
                found = q.search(word, when=when, limit=500)
                assert found.items == [], (at, known, word)
            # Other words of the record stay searchable, without the withheld ones.
            hits = json.dumps(q.search("shelter", when=when, limit=500).items)
            for word in words:
                assert word not in hits


def test_a_redacted_text_leaves_every_view(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    _shelter_promise(ledger, clock, summary=None)
    founded.catch_up()
    q = founded.queries
    when = q.when(date(2017, 9, 23))
    # Before the redaction the text is there (so the checks below can fail).
    assert SECRET in everything(founded, when)
    (hit,) = q.search(SECRET, when=when).items
    assert hit["record"] == {"kind": "commitment", "id": sid("commitment/shelter")}
    _redact(ledger, clock)
    founded.catch_up()
    _assert_withheld(founded, SECRET, "Birchwood")
    (item,) = q.board(when=when, ids=[sid("commitment/shelter")]).items
    assert item["text"] == REDACTED
    assert item["redacted"] == ["text"]
    assert item["status"] == "in_progress"
    (record,) = q.records("commitment", when=when, ids=[sid("commitment/shelter")]).items
    assert record["text"] == REDACTED
    assert record["redacted"] == ["text"]
    follow_up = next(i for i in q.follow_ups(when=when).items if i["id"] == item["id"])
    assert follow_up["title"] == REDACTED
    created = [
        e
        for e in q.timeline(when=when, topic=TOPIC, limit=500).items
        if e["record"]["id"] == sid("commitment/shelter") and e["type"] == "commitment.made"
    ]
    assert [e["summary"] for e in created] == [REDACTED]
    # A rebuild, which meets the record and its redaction in one batch, withholds it too.
    for name in NAMES:
        founded.rebuild(name)
    founded.catch_up()
    _assert_withheld(founded, SECRET, "Birchwood")


def test_a_redacted_text_with_a_summary_keeps_the_summary(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    _shelter_promise(ledger, clock, summary="The mayor promised shelter to a family")
    _redact(ledger, clock)
    # Record and redaction in one batch, then built again step by step.
    founded.catch_up()
    _assert_withheld(founded, SECRET, "Birchwood")
    q = founded.queries
    when = q.when(date(2017, 9, 23))
    (item,) = q.board(when=when, ids=[sid("commitment/shelter")]).items
    assert item["summary"] == "The mayor promised shelter to a family"
    assert (item["text"], item["redacted"]) == (REDACTED, ["text"])
    follow_up = next(i for i in q.follow_ups(when=when).items if i["id"] == item["id"])
    assert follow_up["title"] == "The mayor promised shelter to a family"
    # The summary stays searchable; the withheld text does not come with it.
    (found,) = q.search("shelter", when=when, kind="commitment").items
    assert found["record"]["id"] == sid("commitment/shelter")
    assert found["title"] == "The mayor promised shelter to a family"
    assert SECRET not in found["snippet"]
    for name in NAMES:
        founded.rebuild(name)
    while founded.catch_up(limit=1):
        pass
    _assert_withheld(founded, SECRET, "Birchwood")


def test_a_correction_of_a_redacted_field_stays_withheld(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    _shelter_promise(ledger, clock, summary=None)
    _redact(ledger, clock)
    founded.catch_up()
    clock.set(utc(2017, 9, 19, 9))
    run(
        ledger,
        "commitment.correction",
        "commitment/shelter",
        field="text",
        value=f"{SECRET_TEXT}, number 12",
        reason="the address was incomplete",
    )
    # An actor's title changes, then is redacted, then changes again: withheld throughout.
    run(
        ledger,
        "actor.title",
        "actor/margaret-sites",
        title="Student at Numbatine College",
        sources=[ARTICLE],
        **{"from": "2017-09-17"},
    )
    founded.catch_up()
    assert "Numbatine" in everything(founded, founded.queries.when(date(2017, 9, 23)))
    run(ledger, "actor.redaction", "actor/margaret-sites", fields=["title"], reason="safety")
    founded.catch_up()  # the next title change comes in a batch of its own
    run(
        ledger,
        "actor.title",
        "actor/margaret-sites",
        title="Student at Wombatine Hall",
        sources=[ARTICLE],
        **{"from": "2017-09-18"},
    )
    founded.catch_up()
    _assert_withheld(founded, SECRET, "Birchwood", "Wombatine", "Numbatine")
    changes = [
        e["summary"]
        for e in founded.queries.timeline(
            when=founded.queries.when(date(2017, 9, 23)),
            actor=sid("actor/margaret-sites"),
            limit=500,
        ).items
        if e["type"] == "actor.title_changed"
    ]
    assert changes == [f"title: {REDACTED}", f"title: {REDACTED}"]
    q = founded.queries
    (actor,) = q.records(
        "actor", when=q.when(date(2017, 9, 23)), ids=[sid("actor/margaret-sites")]
    ).items
    assert (actor["title"], actor["redacted"]) == (REDACTED, ["title"])
    for name in NAMES:
        founded.rebuild(name)
    founded.catch_up()
    _assert_withheld(founded, SECRET, "Birchwood", "Wombatine", "Numbatine")


# -- corrections --------------------------------------------------------------------------
def test_corrections_change_the_views_from_when_they_were_recorded(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    q = founded.queries
    clock.set(utc(2017, 9, 24, 9))
    # Warren's deadline was misread: it was the end of the following week.
    run(
        ledger,
        "commitment.correction",
        WARREN,
        field="due",
        value={
            "on": "2017-09-29",
            "text": "by the end of the following week",
            "precision": "week",
            "basis": "article of 2017-09-15 read again: the week after next, Friday 2017-09-29",
        },
        reason="the deadline was misread",
        sources=[ARTICLE],
    )
    # The claim was made by LMPD, not by the metro government.
    run(
        ledger,
        "claim.correction",
        CLAIM_NO_ENFORCEMENT,
        field="made_by",
        value="actor/lmpd",
        reason="wrong speaker",
        sources=[ARTICLE],
    )
    run(
        ledger,
        "claim.correction",
        CLAIM_NO_ENFORCEMENT,
        field="summary",
        value="LMPD has said for months that it does not enforce federal zebrafish law.",
        reason="summary rewritten",
    )
    founded.catch_up()
    known_before = utc(2017, 9, 24, 8)
    # A corrected deadline was the deadline all along: the original one too.
    item = next(iter(q.board(when=q.when(date(2017, 9, 25)), ids=[sid(WARREN)]).items))
    assert item["due"]["on"] == "2017-09-29"
    assert item["original_due"] == {"on": "2017-09-29"}
    assert (item["overdue"], item["days_overdue"], item["days_overdue_original"]) == (
        False,
        None,
        None,
    )
    assert sid(WARREN) not in {
        i["id"] for i in q.follow_ups(when=q.when(date(2017, 9, 25))).items if i["passed"]
    }
    then = next(
        iter(q.board(when=q.when(date(2017, 9, 25), known_before), ids=[sid(WARREN)]).items)
    )
    assert (then["due"]["on"], then["days_overdue"]) == ("2017-09-22", 3)
    # The claim moved to the actor who made it.
    lmpd = q.scorecard(sid("actor/lmpd"), when=q.when(AT))
    metro = q.scorecard(sid(METRO), when=q.when(AT))
    assert lmpd["claims"] == {"total": 1, "by_verdict": {"unassessed": 1}}
    assert metro["claims"] == {"total": 0, "by_verdict": {}}
    # Search finds the corrected summary, and the record is on LMPD's timeline.
    (hit,) = q.search("zebrafish", when=q.when(AT)).items
    assert hit["record"]["id"] == sid(CLAIM_NO_ENFORCEMENT)
    # (The correction is dated the day it was recorded.)
    lmpd_timeline = q.timeline(
        when=q.when(date(2017, 9, 25)), actor=sid("actor/lmpd"), limit=500
    ).items
    assert sid(CLAIM_NO_ENFORCEMENT) in {e["record"]["id"] for e in lmpd_timeline}
    corrected = [
        e
        for e in q.timeline(when=q.when(date(2017, 9, 25)), topic=TOPIC, limit=500).items
        if e["type"] == "claim.corrected"
    ]
    assert [e["summary"] for e in corrected] == [
        "corrected made_by: wrong speaker",
        "corrected summary: summary rewritten",
    ]


def _correct_warrens_text(ledger: Ledger) -> None:
    run(
        ledger,
        "commitment.correction",
        WARREN,
        field="text",
        value="Recommendations to the mayor on immigration policing, in writing.",
        reason="the quote was shortened",
        sources=[ARTICLE],
    )


def test_a_corrected_text_shows_as_it_was_known_then(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    q = founded.queries
    (original,) = q.board(when=q.when(AT), ids=[sid(WARREN)]).items
    (claim_then,) = q.records("claim", when=q.when(AT), ids=[sid(CLAIM_NO_ENFORCEMENT)]).items
    clock.set(utc(2017, 9, 24, 9))
    _correct_warrens_text(ledger)
    run(
        ledger,
        "claim.correction",
        CLAIM_NO_ENFORCEMENT,
        field="summary",
        value="The metro government says it does not enforce federal immigration law.",
        reason="summary rewritten",
    )
    founded.catch_up()
    before, after = utc(2017, 9, 24, 8), utc(2017, 9, 24, 10)
    (now,) = q.board(when=q.when(AT), ids=[sid(WARREN)]).items
    assert now["text"].endswith("in writing.")
    (then,) = q.board(when=q.when(AT, before), ids=[sid(WARREN)]).items
    assert then["text"] == original["text"] != now["text"]
    (later,) = q.board(when=q.when(AT, after), ids=[sid(WARREN)]).items
    assert later["text"] == now["text"]
    (claim,) = q.records("claim", when=q.when(AT, before), ids=[sid(CLAIM_NO_ENFORCEMENT)]).items
    assert claim["summary"] == claim_then["summary"]
    # A redaction takes the earlier value out of the view too.
    run(ledger, "commitment.redaction", WARREN, fields=["text"], reason="legal")
    founded.catch_up()
    with founded.views["records"].read() as sql:
        assert not sql.rows(
            "SELECT * FROM v_corrections WHERE record_id = ? AND field = 'text'", [sid(WARREN)]
        )
    (withheld,) = q.board(when=q.when(AT, before), ids=[sid(WARREN)]).items
    assert withheld["text"] == REDACTED


def test_a_text_corrected_after_the_boards_last_change_shows_as_it_was_known_then(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    """A ledger time in a month later than every change of the board's rows reads the rows
    as they are now, and the texts and versions as they were known at that time."""
    q = founded.queries
    (original,) = q.board(when=q.when(AT), ids=[sid(WARREN)]).items
    clock.set(utc(2018, 3, 5, 9))
    _correct_warrens_text(ledger)
    founded.catch_up()
    with founded.views["records"].read() as sql:
        horizon = sql.one("SELECT bucket FROM v_board_horizon WHERE axis = 'r'")
    assert horizon is not None and horizon["bucket"] < "2018-03"  # a correction moves no row
    before = utc(2018, 3, 4, 12)
    for day in (AT, date(2018, 3, 4), date(2018, 3, 5)):
        (then,) = q.board(when=q.when(day, before), ids=[sid(WARREN)]).items
        assert (then["text"], then["version"]) == (original["text"], original["version"]), day
        (now,) = q.board(when=q.when(day), ids=[sid(WARREN)]).items
        assert now["text"].endswith("in writing.") and now["version"] > original["version"]


def test_corrected_topics_show_as_they_were_known_then(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    q = founded.queries
    (original,) = q.board(when=q.when(AT), ids=[sid(WARREN)]).items
    assert TOPIC in original["topics"] and "policing" not in original["topics"]
    clock.set(utc(2017, 9, 24, 9))
    run(
        ledger,
        "commitment.correction",
        WARREN,
        field="topics",
        value=["policing", TOPIC, "policing"],
        reason="a second topic",
        sources=[ARTICLE],
    )
    founded.catch_up()
    before = utc(2017, 9, 24, 8)
    for read in (
        lambda when: q.board(when=when, ids=[sid(WARREN)]).items,
        lambda when: q.records("commitment", when=when, ids=[sid(WARREN)]).items,
    ):
        ((now,), (then,)) = read(q.when(AT)), read(q.when(AT, before))
        assert now["topics"] == sorted(["policing", TOPIC])
        assert then["topics"] == original["topics"]
    assert ids(q.board(when=q.when(AT), topic="policing")) == [sid(WARREN)]
