"""The views over the founding case: the board, the follow-up queue and the two clocks.

Every test runs on SQLite and on PostgreSQL (the `ledger` fixture); `followers` are the two
followers of that store, fed by `catch_up()`, and read through `followers.queries`.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from ledger.app import Ledger
from ledger.clock import ManualClock
from projections.runner import Followers
from tests.contract.helpers import run
from tests.contract.views_support import (
    ARTICLE,
    CLAIM_19_OF_23,
    CLAIM_NO_ENFORCEMENT,
    CONRAD_MEET_ICE,
    CONRAD_PLEDGE,
    KYCIR_INQUIRY,
    PEREZ_PEREZ,
    TOPIC,
    UNDER_REVIEW,
    WARREN,
    WARREN_MEET_LEADERS,
    every_page,
    ids,
    sid,
    utc,
)
from tests.contract.views_support import followers_fixture as _followers  # noqa: F401
from tests.contract.views_support import founded_fixture as _founded  # noqa: F401

RESIDENTS = "actor/louisville-residents-metro-council-2017-09-14"
WARREN_DUE = {
    "on": "2017-09-22",
    "text": "by the end of next week",
    "precision": "week",
    "basis": "said Friday 2017-09-15; end of next week = Friday 2017-09-22",
}


def _warren(followers: Followers, at: date, known_at: datetime | None = None) -> dict[str, Any]:
    when = followers.queries.when(at, known_at)
    (item,) = followers.queries.board(when=when, ids=[sid(WARREN)]).items
    return item


def _follow_ups(
    followers: Followers, at: date, known_at: datetime | None = None
) -> dict[str, dict[str, Any]]:
    when = followers.queries.when(at, known_at)
    page = followers.queries.follow_ups(when=when, limit=500)
    assert page.next is None
    return {item["id"]: item for item in page.items}


# -- the founding case on 2017-09-23 ------------------------------------------------------
def test_warren_is_one_day_overdue_on_2017_09_23_and_first_in_the_follow_up_queue(
    founded: Followers,
) -> None:
    q = founded.queries
    when = q.when(date(2017, 9, 23))
    item = _warren(founded, date(2017, 9, 23))
    assert item["status"] == "in_progress"
    assert item["status_since"] == "2017-09-15"
    assert item["due"] == WARREN_DUE
    assert item["original_due"] == {"on": "2017-09-22"}
    assert item["overdue"] is True
    assert item["days_overdue"] == 1
    assert item["days_overdue_original"] == 1
    assert item["fulfilled_late"] is None
    assert item["made_by"] == sid("actor/bryan-warren")
    assert item["last_evidence"]["sources"] == [sid(ARTICLE)]

    page = q.follow_ups(when=when, limit=500)
    first = page.items[0]
    assert first["reason_code"] == "deadline_passed"
    assert first["record"] == {"kind": "commitment", "id": sid(WARREN)}
    assert first["since"] == "2017-09-23"
    assert first["passed"] is True
    assert "2017-09-22" in first["reason"] and "1 day overdue" in first["reason"]


def test_the_follow_up_queue_of_2017_09_23_names_why_each_item_is_there(
    founded: Followers,
) -> None:
    q = founded.queries
    page = q.follow_ups(when=q.when(date(2017, 9, 23)), limit=500)
    by_id = {item["id"]: item for item in page.items}
    inquiry = by_id[sid(KYCIR_INQUIRY)]
    assert inquiry["reason_code"] == "inquiry_declined"
    assert inquiry["record"] == {"kind": "inquiry", "id": sid(KYCIR_INQUIRY)}
    assert inquiry["since"] == "2017-09-15"
    assert inquiry["passed"] is True
    for slug in UNDER_REVIEW:
        incident = by_id[sid(slug)]
        assert incident["reason_code"] == "incident_under_review"
        assert "no outcome" in incident["reason"]
    # The under-review incidents have no outcome in the records view either.
    incidents = q.records("incident", when=q.when(date(2017, 9, 23)), limit=500).items
    status = {i["id"]: i["status"] for i in incidents}
    assert {status[sid(s)] for s in UNDER_REVIEW} == {"under_review"}
    assert status[sid(PEREZ_PEREZ)] == "reported"
    # The claim never assessed is there; the one assessed `unsupported` is not.
    assert by_id[sid(CLAIM_NO_ENFORCEMENT)]["reason_code"] == "claim_unassessed"
    assert sid(CLAIM_19_OF_23) not in by_id
    assert sid(PEREZ_PEREZ) not in by_id
    # Warren, the inquiry, four incidents and one claim: nothing else.
    assert len(page.items) == page.extra["total"] == 7
    codes = sorted(i["reason_code"] for i in page.items)
    assert codes == sorted(
        ["deadline_passed", "inquiry_declined", "claim_unassessed"] + ["incident_under_review"] * 4
    )
    # Passed items, most recently passed first.
    since = [i["since"] for i in page.items if i["passed"]]
    assert since == sorted(since, reverse=True)


def test_on_2017_09_22_warren_is_not_yet_overdue_but_upcoming(founded: Followers) -> None:
    item = _warren(founded, date(2017, 9, 22))
    assert item["overdue"] is False
    assert item["days_overdue"] is None
    assert item["days_overdue_original"] is None
    assert item["fulfilled_late"] is None
    items = founded.queries.follow_ups(when=founded.queries.when(date(2017, 9, 22))).items
    warren = next(i for i in items if i["id"] == sid(WARREN))
    assert warren["reason_code"] == "deadline_upcoming"
    assert warren["passed"] is False
    assert warren["since"] == "2017-09-22"
    assert "in 0 days" in warren["reason"]
    # Upcoming items come after every passed one.
    assert items[-1] is warren
    assert all(i["passed"] for i in items[:-1])
    # A week earlier it is upcoming too, in 7 days.
    week_before = _follow_ups(founded, date(2017, 9, 15))
    assert week_before[sid(WARREN)]["reason_code"] == "deadline_upcoming"
    assert "in 7 days" in week_before[sid(WARREN)]["reason"]


def test_board_counts_of_the_founding_case(founded: Followers) -> None:
    q = founded.queries
    after = q.board_counts(when=q.when(date(2017, 9, 23)))
    assert after == {"by_status": {"in_progress": 3, "open": 1}, "total": 4, "overdue": 1}
    on_the_day = q.board_counts(when=q.when(date(2017, 9, 22)))
    assert on_the_day == {"by_status": {"in_progress": 3, "open": 1}, "total": 4, "overdue": 0}
    # Before Warren promised anything (2017-09-15), three commitments, none yet in progress.
    before = q.board_counts(when=q.when(date(2017, 9, 10)))
    assert before == {"by_status": {"open": 3}, "total": 3, "overdue": 0}
    # Filters: by who made them, by assignee, by kind.
    mayor = q.board_counts(when=q.when(date(2017, 9, 23)), actor=sid("actor/greg-fischer"))
    assert mayor == {"by_status": {"in_progress": 2}, "total": 2, "overdue": 0}
    warren = q.board_counts(when=q.when(date(2017, 9, 23)), actor=sid("actor/bryan-warren"))
    assert warren == {"by_status": {"in_progress": 1}, "total": 1, "overdue": 1}
    assigned = q.board_counts(when=q.when(date(2017, 9, 23)), assignee=sid("actor/bryan-warren"))
    assert assigned["total"] == 1
    pledges = q.board_counts(when=q.when(date(2017, 9, 23)), kind="pledge")
    assert pledges == {"by_status": {"open": 1}, "total": 1, "overdue": 0}
    # Nothing was known before the import was recorded.
    nothing = q.board_counts(when=q.when(date(2017, 9, 23), utc(2017, 9, 15, 17)))
    assert nothing == {"by_status": {}, "total": 0, "overdue": 0}
    # The counts agree with the board itself.
    board = q.board(when=q.when(date(2017, 9, 23)), limit=500).items
    assert len(board) == 4
    assert sum(1 for i in board if i["overdue"]) == 1


def test_records_show_each_record_status_as_of_the_day(founded: Followers) -> None:
    q = founded.queries
    when = q.when(date(2017, 9, 23))
    commitments = {i["id"]: i for i in q.records("commitment", when=when, limit=500).items}
    assert commitments[sid(CONRAD_PLEDGE)]["status"] == "open"
    assert commitments[sid(WARREN)]["status"] == "in_progress"
    assert commitments[sid(CONRAD_MEET_ICE)]["status"] == "in_progress"
    (inquiry,) = q.records("inquiry", when=when, ids=[sid(KYCIR_INQUIRY)]).items
    assert inquiry["status"] == "declined"
    assert inquiry["status_since"] == "2017-09-15"
    assert inquiry["overdue"] is False
    # Before the refusal was reported, the inquiry was awaiting its answer, and overdue.
    (earlier,) = q.records("inquiry", when=q.when(date(2017, 9, 14)), ids=[inquiry["id"]]).items
    assert earlier["status"] == "awaiting"
    assert earlier["follow_up_on"] == "2017-09-15"
    assert earlier["overdue"] is False
    claims = {i["id"]: i for i in q.records("claim", when=when, limit=500).items}
    assert claims[sid(CLAIM_19_OF_23)]["status"] == "unsupported"
    assert claims[sid(CLAIM_NO_ENFORCEMENT)]["status"] == "unassessed"
    demands = q.records("demand", when=when, party=sid(RESIDENTS), limit=500).items
    assert len(demands) == 3
    assert {d["status"] for d in demands} == {"pending"}
    claim_file = q.claim_file(sid(CLAIM_19_OF_23), when=when)
    assert claim_file is not None
    assert claim_file["verdict"] == "unsupported"
    assert len(claim_file["evidence"]["context"]) == 6
    assert claim_file["assessment"]["rationale"].startswith("The claim cannot be checked")


# -- two clocks: the world's date and what the ledger knew --------------------------------
def _fulfil_warren_late(ledger: Ledger, clock: ManualClock) -> None:
    """Recorded on 2017-10-02: Warren delivered his recommendations on 2017-09-29."""
    clock.set(utc(2017, 10, 2, 15))
    run(
        ledger,
        "commitment.status",
        WARREN,
        status="fulfilled",
        occurred_at="2017-09-29",
        reason="Warren delivered his recommendations to the mayor",
        sources=[ARTICLE],
    )


def test_a_late_fulfilment_recorded_later_answers_both_clocks(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    _fulfil_warren_late(ledger, clock)
    founded.catch_up()
    q = founded.queries
    # As of 2017-09-25 in the world, it was overdue and unresolved.
    before = _warren(founded, date(2017, 9, 25))
    assert (before["status"], before["overdue"], before["days_overdue"]) == (
        "in_progress",
        True,
        3,
    )
    assert before["fulfilled_late"] is None
    assert _follow_ups(founded, date(2017, 9, 25))[sid(WARREN)]["reason_code"] == (
        "deadline_passed"
    )
    # As of 2017-09-30, it was fulfilled, late.
    after = _warren(founded, date(2017, 9, 30))
    assert after["status"] == "fulfilled"
    assert after["status_since"] == "2017-09-29"
    assert after["fulfilled_late"] is True
    assert after["overdue"] is False
    assert after["days_overdue"] is None
    assert after["version"] == 3
    assert sid(WARREN) not in _follow_ups(founded, date(2017, 9, 30))
    # What the ledger showed on 2017-10-01, before it learned of the fulfilment.
    known = utc(2017, 10, 1)
    then = _warren(founded, date(2017, 9, 30), known)
    assert (then["status"], then["overdue"], then["days_overdue"]) == ("in_progress", True, 8)
    assert then["fulfilled_late"] is None
    assert then["version"] == 2
    assert _follow_ups(founded, date(2017, 9, 30), known)[sid(WARREN)]["reason_code"] == (
        "deadline_passed"
    )
    (record_then,) = q.records(
        "commitment", when=q.when(date(2017, 9, 30), known), ids=[sid(WARREN)]
    ).items
    assert record_then["status"] == "in_progress"
    (record_now,) = q.records("commitment", when=q.when(date(2017, 9, 30)), ids=[sid(WARREN)]).items
    assert (record_now["status"], record_now["status_since"]) == ("fulfilled", "2017-09-29")
    # Counts and scorecards answer both questions too.
    assert q.board_counts(when=q.when(date(2017, 9, 30), known))["overdue"] == 1
    assert q.board_counts(when=q.when(date(2017, 9, 30)))["overdue"] == 0
    warren = sid("actor/bryan-warren")
    now = q.scorecard(warren, when=q.when(date(2017, 9, 30)))["commitments"]
    assert (now["kept"], now["kept_late"], now["open"], now["keep_rate"]) == (1, 1, 0, 1.0)
    was = q.scorecard(warren, when=q.when(date(2017, 9, 30), known))["commitments"]
    assert (was["kept"], was["open"], was["overdue"], was["keep_rate"]) == (0, 1, 1, None)
    # The timeline shows the fulfilment at its world date, once the ledger knew of it.
    fulfilled = [
        e
        for e in q.timeline(when=q.when(date(2017, 9, 30)), topic=TOPIC, limit=500).items
        if e["record"]["id"] == sid(WARREN) and e["type"] == "commitment.status_changed"
    ]
    assert [e["occurred_on"] for e in fulfilled] == ["2017-09-15", "2017-09-29"]
    assert fulfilled[-1]["recorded_at"] == "2017-10-02T15:00:00.000000Z"
    earlier = [
        e
        for e in q.timeline(when=q.when(date(2017, 9, 30), known), topic=TOPIC, limit=500).items
        if e["record"]["id"] == sid(WARREN) and e["type"] == "commitment.status_changed"
    ]
    assert [e["occurred_on"] for e in earlier] == ["2017-09-15"]


def test_a_backfilled_change_alters_later_known_answers_and_not_earlier_ones(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    _fulfil_warren_late(ledger, clock)
    founded.catch_up()
    q = founded.queries
    pledge = sid(CONRAD_PLEDGE)
    conrad = sid("actor/steve-conrad")

    def pledge_status(at: date, known: datetime | None = None) -> str:
        when = q.when(at, known)
        (item,) = q.board(when=when, ids=[pledge]).items
        (record,) = q.records("commitment", when=when, ids=[pledge]).items
        assert record["status"] == item["status"]
        return str(item["status"])

    before_backfill = {
        (at, known): pledge_status(at, known)
        for at in (date(2017, 9, 19), date(2017, 9, 25))
        for known in (utc(2017, 10, 4), None)
    }
    assert set(before_backfill.values()) == {"open"}
    # Recorded on 2017-10-05: officers assisted ICE on 2017-09-20, breaking the pledge.
    clock.set(utc(2017, 10, 5, 9))
    run(
        ledger,
        "commitment.status",
        CONRAD_PLEDGE,
        status="broken",
        occurred_at="2017-09-20",
        reason="LMPD officers assisted ICE on 2017-09-20",
        sources=[ARTICLE],
    )
    founded.catch_up()
    # Known later: broken from 2017-09-20 on, in the world.
    assert pledge_status(date(2017, 9, 25)) == "broken"
    assert pledge_status(date(2017, 9, 25), utc(2017, 10, 6)) == "broken"
    assert pledge_status(date(2017, 9, 20), utc(2017, 10, 6)) == "broken"
    assert pledge_status(date(2017, 9, 19), utc(2017, 10, 6)) == "open"
    # Known earlier: exactly as before the backfill.
    for (at, known), status in before_backfill.items():
        if known is not None:
            assert pledge_status(at, known) == status
    assert pledge_status(date(2017, 9, 25), utc(2017, 10, 5, 8, 59)) == "open"
    # Warren's answers, for any known_at, did not move.
    assert _warren(founded, date(2017, 9, 25), utc(2017, 10, 1))["days_overdue"] == 3
    assert _warren(founded, date(2017, 9, 30))["status"] == "fulfilled"
    # The scorecard and the actor's timeline tell the same story.
    later = q.scorecard(conrad, when=q.when(date(2017, 9, 25), utc(2017, 10, 6)))
    earlier = q.scorecard(conrad, when=q.when(date(2017, 9, 25), utc(2017, 10, 4)))
    assert (later["commitments"]["broken"], later["commitments"]["open"]) == (1, 0)
    assert (earlier["commitments"]["broken"], earlier["commitments"]["open"]) == (0, 1)
    assert later["commitments"]["keep_rate"] == 0.0
    assert later["directives_assigned"]["made"] == 1

    def broken_entries(known: datetime) -> list[str]:
        items = q.timeline(
            when=q.when(date(2017, 9, 25), known),
            actor=conrad,
            limit=500,
        ).items
        worlds = [e["occurred_on"] for e in items]
        assert worlds == sorted(worlds)
        return [
            e["occurred_on"]
            for e in items
            if e["record"]["id"] == pledge and e["type"] == "commitment.status_changed"
        ]

    assert broken_entries(utc(2017, 10, 6)) == ["2017-09-20"]
    assert broken_entries(utc(2017, 10, 4)) == []


def test_an_extended_deadline_shows_both_dates_and_lateness_against_each(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    q = founded.queries
    clock.set(utc(2017, 9, 21, 15))
    run(
        ledger,
        "commitment.deadline",
        WARREN,
        on="2017-09-29",
        text="by the end of the month's last week",
        precision="day",
        basis="granted 2017-09-21: one more week, Friday 2017-09-29",
        reason="The mayor gave Warren another week",
        granted_by="actor/greg-fischer",
        sources=[ARTICLE],
    )
    founded.catch_up()
    late = _warren(founded, date(2017, 10, 1))
    assert late["due"]["on"] == "2017-09-29"
    assert late["due"]["text"] == "by the end of the month's last week"
    assert late["original_due"] == {"on": "2017-09-22"}
    assert late["overdue"] is True
    assert late["days_overdue"] == 2
    assert late["days_overdue_original"] == 9
    assert late["last_evidence"]["reason"] == "The mayor gave Warren another week"
    # Within the new deadline: not overdue, though late against the first one.
    within = _warren(founded, date(2017, 9, 25))
    assert within["due"]["on"] == "2017-09-29"
    assert within["overdue"] is False
    assert within["days_overdue"] is None
    assert within["days_overdue_original"] == 3
    upcoming = _follow_ups(founded, date(2017, 9, 25))[sid(WARREN)]
    assert upcoming["reason_code"] == "deadline_upcoming"
    assert upcoming["since"] == "2017-09-29"
    assert "in 4 days" in upcoming["reason"]
    assert q.board_counts(when=q.when(date(2017, 9, 25)))["overdue"] == 0
    assert q.board_counts(when=q.when(date(2017, 10, 1)))["overdue"] == 1
    assert q.board(when=q.when(date(2017, 9, 25)), overdue=True).items == []
    assert ids(q.board(when=q.when(date(2017, 10, 1)), overdue=True)) == [sid(WARREN)]
    # What the ledger showed before the extension was recorded.
    known = utc(2017, 9, 21, 12)
    before = _warren(founded, date(2017, 9, 25), known)
    assert before["due"] == WARREN_DUE
    assert before["days_overdue"] == 3
    assert _follow_ups(founded, date(2017, 9, 25), known)[sid(WARREN)]["reason_code"] == (
        "deadline_passed"
    )
    # Fulfilled within the extension: on time against the current due date, late against
    # the original one.
    clock.set(utc(2017, 9, 28, 10))
    run(
        ledger,
        "commitment.status",
        WARREN,
        status="fulfilled",
        occurred_at="2017-09-27",
        reason="Warren delivered his recommendations",
        sources=[ARTICLE],
    )
    founded.catch_up()
    done = _warren(founded, date(2017, 10, 1))
    assert done["status"] == "fulfilled"
    assert done["fulfilled_late"] is False
    assert done["fulfilled_late_original"] is True
    assert done["overdue"] is False
    assert done["days_overdue_original"] is None
    card = q.scorecard(sid("actor/bryan-warren"), when=q.when(date(2017, 10, 1)))
    assert (card["commitments"]["kept"], card["commitments"]["kept_late"]) == (1, 0)


# -- read-your-writes ---------------------------------------------------------------------
def test_wait_is_true_once_caught_up_and_false_quickly_beyond_it(
    ledger: Ledger, founded: Followers
) -> None:
    q = founded.queries
    head = ledger.last_position()
    assert q.positions() == {"records": head, "timeline": head}
    assert q.wait(head, timeout=1.0) is True
    written = run(
        ledger,
        "claim.evidence",
        CLAIM_NO_ENFORCEMENT,
        stance="contradicts",
        sources=[ARTICLE],
        note="another call",
    )
    assert written.position > head
    started = time.monotonic()
    assert q.wait(written.position, timeout=0.2) is False
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    assert q.wait(written.position + 1000, timeout=0.1) is False
    assert time.monotonic() - started < 2.0
    founded.catch_up()
    assert q.wait(written.position, timeout=1.0) is True
    assert founded.position("records") == founded.position("timeline") == written.position


def test_wait_returns_when_a_follower_catches_up_meanwhile(
    ledger: Ledger, followers: Followers
) -> None:
    run(ledger, "source.create", "source/a", url="https://example.org/a", title="A")
    position = ledger.last_position()
    followers.catch_up(("records",))
    # One follower is there, the other is not: not caught up.
    assert followers.queries.wait(position, timeout=0.1) is False
    followers.catch_up(("timeline",))
    assert followers.queries.wait(position, timeout=0.5) is True


# -- pagination ---------------------------------------------------------------------------
def _more_commitments(ledger: Ledger, n: int) -> list[str]:
    """`n` promises by Warren and Conrad; some share a due date, some have none."""
    slugs = []
    for i in range(n):
        slug = f"commitment/extra-{i:02d}"
        due = {"on": f"2017-10-{1 + i % 4:02d}"} if i % 3 else None
        run(
            ledger,
            "commitment.create",
            slug,
            kind="promise",
            made_by="actor/bryan-warren" if i % 2 else "actor/steve-conrad",
            text=f"extra promise number {i}",
            made_at=f"2017-09-{10 + i % 5:02d}",
            due=due,
            topics=[TOPIC],
            sources=[ARTICLE],
        )
        slugs.append(slug)
    return slugs


def test_board_and_records_pages_visit_every_item_exactly_once(
    ledger: Ledger, founded: Followers
) -> None:
    extra = _more_commitments(ledger, 14)
    founded.catch_up()
    q = founded.queries
    when = q.when(date(2017, 9, 30))
    everything = q.board(when=when, limit=500)
    assert everything.next is None
    assert len(everything.items) == 4 + len(extra)
    for limit in (1, 2, 3, 5, 7):
        pages = every_page(lambda cursor, n=limit: q.board(when=when, limit=n, cursor=cursor))
        assert all(len(p) <= limit for p in pages)
        assert all(pages[:-1]), "an empty page before the end"
        seen = [item["id"] for page in pages for item in page]
        assert seen == ids(everything)
        assert len(set(seen)) == len(seen)
    # Filtered and as known earlier, too.
    warren = sid("actor/bryan-warren")
    mine = q.board(when=when, actor=warren, limit=500)
    pages = every_page(lambda c: q.board(when=when, actor=warren, limit=2, cursor=c))
    assert [i["id"] for p in pages for i in p] == ids(mine)
    assert len(ids(mine)) == 1 + 7
    known = q.when(date(2017, 9, 30), utc(2017, 9, 15, 17))
    assert every_page(lambda c: q.board(when=known, limit=2, cursor=c)) == [[]]
    # Records: actors made on the same day, commitments newest first.
    for kind, expected in (("actor", 14), ("commitment", 4 + len(extra)), ("incident", 5)):
        whole = q.records(kind, when=when, limit=500)
        assert len(whole.items) == expected
        for limit in (1, 4, 6):
            pages = every_page(
                lambda c, k=kind, n=limit: q.records(k, when=when, limit=n, cursor=c)
            )
            seen = [item["id"] for page in pages for item in page]
            assert seen == ids(whole)
            assert len(set(seen)) == len(seen)
    made = [i["made_at"][:10] for i in q.records("commitment", when=when, limit=500).items]
    assert made == sorted(made, reverse=True)
    # A status filter on records pages too.
    open_ones = q.records("commitment", when=when, status="open", limit=500)
    pages = every_page(
        lambda c: q.records("commitment", when=when, status="open", limit=3, cursor=c)
    )
    assert [i["id"] for p in pages for i in p] == ids(open_ones)
    assert len(ids(open_ones)) == 1 + len(extra)
    # And the follow-up queue's pages.
    queue = q.follow_ups(when=when, limit=500)
    pages = every_page(lambda c: q.follow_ups(when=when, limit=4, cursor=c))
    assert [i["id"] for p in pages for i in p] == ids(queue)
    assert {sid(WARREN_MEET_LEADERS), sid(CONRAD_MEET_ICE)}.isdisjoint(ids(queue))


def test_due_date_and_assignee_filters_select_what_the_whole_board_shows(
    ledger: Ledger, founded: Followers
) -> None:
    """`overdue`, `due_from` and `due_to` keep exactly the items of the whole board whose
    due dates pass the test (those without a due date pass none), page after page; and
    `assignee` those assigned to that actor."""
    _more_commitments(ledger, 14)
    founded.catch_up()
    q = founded.queries
    for day, known in (
        (date(2017, 9, 30), None),
        (date(2017, 10, 3), None),
        (date(2017, 10, 3), utc(2017, 9, 30)),
    ):
        when = q.when(day, known)
        whole = q.board(when=when, limit=500).items
        assert any(i["due"] is None for i in whole)

        def due(item: dict[str, Any]) -> str | None:
            return item["due"]["on"] if item["due"] else None

        expected = {
            "overdue": [i["id"] for i in whole if i["overdue"]],
            "not overdue": [i["id"] for i in whole if not i["overdue"]],
            "from": [i["id"] for i in whole if (due(i) or "") >= "2017-10-02"],
            "to": [i["id"] for i in whole if due(i) is not None and due(i) <= "2017-10-02"],
        }
        assignee = next(i["assignee"] for i in whole if i["assignee"])
        expected["assignee"] = [i["id"] for i in whole if i["assignee"] == assignee]
        assert expected["overdue"] and expected["from"] and expected["to"]
        filters: dict[str, dict[str, Any]] = {
            "assignee": {"assignee": assignee},
            "overdue": {"overdue": True},
            "not overdue": {"overdue": False},
            "from": {"due_from": "2017-10-02"},
            "to": {"due_to": "2017-10-02"},
        }
        for name, f in filters.items():
            pages = every_page(lambda c, f=f, w=when: q.board(when=w, limit=2, cursor=c, **f))
            assert [i["id"] for p in pages for i in p] == expected[name], (day, known, name)


def test_a_demands_response_naming_a_commitment_stays_in_the_demands_timeline(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    """A response to a demand may name the commitment it was answered with; it is still the
    demand's event, as in the log: in the timelines of the demand's topics and parties, and
    found by search as the demand's, not filed under the commitment."""
    demand = "demand/stop-assisting-ice"
    clock.set(utc(2017, 9, 20, 12))
    run(
        ledger,
        "demand.response",
        demand,
        status="acknowledged",
        occurred_at="2017-09-19",
        note="the chief answered with his zanzibar pledge",
        commitment=CONRAD_PLEDGE,
        sources=[ARTICLE],
    )
    founded.catch_up()
    q = founded.queries
    when = q.when(date(2017, 9, 30))

    def responses(**where: str) -> list[dict[str, Any]]:
        items = q.timeline(when=when, limit=500, **where).items
        return [e["record"] for e in items if e["type"] == "demand.responded"]

    assert responses(actor=sid(RESIDENTS)) == [{"kind": "demand", "id": sid(demand)}]
    assert {"kind": "demand", "id": sid(demand)} in responses(topic=TOPIC)
    pledge = q.timeline(when=when, actor=sid("actor/steve-conrad"), limit=500).items
    assert not [e for e in pledge if e["type"] == "demand.responded"]
    hits = q.search("zanzibar", when=when, limit=50).items
    assert [h["record"] for h in hits] == [{"kind": "demand", "id": sid(demand)}]
