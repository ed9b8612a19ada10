"""The deadline watcher (DOMAIN.md, "Time: two clocks"), on SQLite and PostgreSQL.

It notices deadlines that pass unresolved and inquiries left unanswered, and records each
notice once, whoever runs it and however often, without bumping the record's version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

from ledger.app import Ledger
from ledger.clock import ManualClock
from ledger.commands import slug_id
from projections.runner import Followers, Runner
from projections.watcher import WATCHER, DeadlineWatcher
from tests.contract.helpers import run
from tests.contract.views_support import (
    ARTICLE,
    TOPIC,
    WARREN,
    import_founding_case,
    sid,
    utc,
)
from tests.contract.views_support import followers_fixture as _followers  # noqa: F401

INQUIRY = "inquiry/warren-who"


def _notices(ledger: Ledger, wire: str = "commitment.deadline_passed") -> list[dict[str, Any]]:
    return [e for e in ledger.log_events(after=0, limit=1000) if e["type"] == wire]


def _version(ledger: Ledger, kind: str, slug: str) -> int:
    return ledger.get_record(kind, slug_id(slug)).version


def _until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    return check()


def test_warren_deadline_is_noticed_once_after_its_day_ends(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    import_founding_case(ledger)
    clock.set(utc(2017, 9, 22, 12))
    followers.catch_up()
    watcher = DeadlineWatcher(ledger, followers.queries, clock)
    version = _version(ledger, "commitment", WARREN)
    head = ledger.last_position()
    # The deadline passes at the end of its day: nothing yet on 2017-09-22.
    assert watcher.run_once() == 0
    assert ledger.last_position() == head
    clock.set(utc(2017, 9, 22, 23, 59))
    assert watcher.run_once() == 0
    # 2017-09-23, 01:00: passed.
    clock.set(utc(2017, 9, 23, 1))
    assert watcher.run_once() == 1
    (notice,) = _notices(ledger)
    assert notice["record"] == {"kind": "commitment", "id": sid(WARREN)}
    assert notice["version"] is None
    assert notice["recorded_by"] == WATCHER
    assert notice["recorded_at"] == "2017-09-23T01:00:00+00:00"
    assert notice["data"]["due_on"] == "2017-09-22"
    assert notice["data"]["status"] == "in_progress"
    # Nothing else was written: no other deadline passed, no inquiry awaits.
    assert ledger.last_position() == head + 1
    # Again, before the views heard of it: the store refuses the same notice.
    assert watcher.run_once() == 0
    # Another worker, with views of its own on the same store: nothing more either.
    other = Followers(ledger, clock=clock)
    try:
        assert DeadlineWatcher(ledger, other.queries, clock).run_once() == 0
        followers.catch_up()
        assert other.queries.unnoticed_deadlines("2017-09-23") == []
        assert DeadlineWatcher(ledger, other.queries, clock).run_once() == 0
    finally:
        other.close()
    assert watcher.run_once() == 0
    clock.set(utc(2017, 9, 30, 9))
    assert watcher.run_once() == 0
    assert len(_notices(ledger)) == 1
    # Time passing did not change the commitment.
    assert _version(ledger, "commitment", WARREN) == version
    (item,) = followers.queries.board(
        when=followers.queries.when(date(2017, 9, 23)), ids=[sid(WARREN)]
    ).items
    assert item["version"] == version
    # Subscribers and readers hear of it: the timeline shows the notice on its day.
    entries = [
        e
        for e in followers.queries.timeline(
            when=followers.queries.when(date(2017, 9, 23)), topic=TOPIC, limit=500
        ).items
        if e["type"] == "commitment.deadline_passed"
    ]
    assert [(e["record"]["id"], e["occurred_on"]) for e in entries] == [(sid(WARREN), "2017-09-23")]
    assert entries[0]["summary"] == "deadline 2017-09-22 passed unresolved (in_progress)"


def test_an_extended_deadline_is_noticed_again_when_it_passes_and_a_kept_one_never(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    import_founding_case(ledger)
    watcher = DeadlineWatcher(ledger, followers.queries, clock)
    clock.set(utc(2017, 9, 23, 1))
    followers.catch_up()
    assert watcher.run_once() == 1
    run(
        ledger,
        "commitment.deadline",
        WARREN,
        on="2017-09-29",
        reason="another week",
        sources=[ARTICLE],
    )
    followers.catch_up()
    clock.set(utc(2017, 9, 29, 20))
    assert watcher.run_once() == 0
    clock.set(utc(2017, 9, 30, 0, 1))
    assert watcher.run_once() == 1
    assert [n["data"]["due_on"] for n in _notices(ledger)] == ["2017-09-22", "2017-09-29"]
    # A directive with a deadline, kept in time; a promise retracted before its deadline.
    for slug in ("commitment/kept", "commitment/retracted"):
        run(
            ledger,
            "commitment.create",
            slug,
            kind="promise",
            made_by="actor/steve-conrad",
            text=slug,
            made_at="2017-09-30",
            due={"on": "2017-10-03"},
            sources=[ARTICLE],
        )
    run(
        ledger,
        "commitment.status",
        "commitment/kept",
        status="fulfilled",
        occurred_at="2017-10-02",
        reason="done",
        sources=[ARTICLE],
    )
    run(ledger, "commitment.retraction", "commitment/retracted", reason="recorded in error")
    clock.set(utc(2017, 10, 10))
    assert watcher.run_once() == 0
    followers.catch_up()
    assert watcher.run_once() == 0
    assert len(_notices(ledger)) == 2


def test_an_inquiry_left_unanswered_past_its_follow_up_date_is_noticed_once(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    import_founding_case(ledger)
    run(
        ledger,
        "inquiry.create",
        INQUIRY,
        asked_by="actor/kycir",
        asked_to="actor/bryan-warren",
        question="Which community members are you meeting?",
        asked_at="2017-09-15",
        follow_up_after=3,
        topics=[TOPIC],
        sources=[ARTICLE],
    )
    version = _version(ledger, "inquiry", INQUIRY)
    watcher = DeadlineWatcher(ledger, followers.queries, clock)
    clock.set(utc(2017, 9, 18, 12))
    followers.catch_up()
    assert watcher.run_once() == 0
    assert _notices(ledger, "inquiry.overdue") == []
    clock.set(utc(2017, 9, 19, 0, 30))
    assert watcher.run_once() == 1
    (notice,) = _notices(ledger, "inquiry.overdue")
    assert notice["record"] == {"kind": "inquiry", "id": sid(INQUIRY)}
    assert notice["recorded_by"] == WATCHER
    assert notice["data"]["follow_up_on"] == "2017-09-18"
    assert notice["data"]["status"] == "awaiting"
    # The founding case's declined inquiry is not overdue, and Warren's deadline has not
    # passed: this is the only notice.
    assert _notices(ledger) == []
    assert watcher.run_once() == 0
    followers.catch_up()
    assert watcher.run_once() == 0
    assert len(_notices(ledger, "inquiry.overdue")) == 1
    assert _version(ledger, "inquiry", INQUIRY) == version
    q = followers.queries
    assert q.unnoticed_inquiries("2017-09-19") == []
    overdue = next(
        i for i in q.follow_ups(when=q.when(date(2017, 9, 19))).items if i["id"] == sid(INQUIRY)
    )
    assert overdue["reason_code"] == "inquiry_overdue"
    assert overdue["since"] == "2017-09-19"
    card = q.scorecard(sid("actor/bryan-warren"), when=q.when(date(2017, 9, 19)))
    assert (card["inquiries"]["awaiting"], card["inquiries"]["overdue"]) == (1, 1)
    # Answered: it leaves the queue, and nothing more is noticed.
    run(
        ledger,
        "inquiry.response",
        INQUIRY,
        status="answered",
        occurred_at="2017-09-20",
        text="He named them",
        sources=[ARTICLE],
    )
    followers.catch_up()
    clock.set(utc(2017, 9, 21))
    assert watcher.run_once() == 0
    assert sid(INQUIRY) not in {i["id"] for i in q.follow_ups(when=q.when(date(2017, 9, 21))).items}
    # On 2017-09-25 only Warren's deadline is news.
    clock.set(utc(2017, 9, 25))
    assert watcher.run_once() == 1
    assert [n["record"]["id"] for n in _notices(ledger)] == [sid(WARREN)]
    assert len(_notices(ledger, "inquiry.overdue")) == 1


def test_the_runner_thread_notices_the_deadline_when_the_clock_moves(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    import_founding_case(ledger)
    clock.set(utc(2017, 9, 22, 12))
    watcher = DeadlineWatcher(ledger, followers.queries, clock)
    runner = Runner(followers, poll=0.05, jobs=[(0.05, watcher.run_once)], clock=clock)
    with runner:
        assert followers.queries.wait(ledger.last_position(), timeout=15) is True
        assert {"records", "timeline"} <= set(runner.held)
        time.sleep(0.3)  # several rounds of the job on 2017-09-22
        assert _notices(ledger) == []
        clock.set(utc(2017, 9, 23, 1))
        notices = _until(lambda: _notices(ledger))
        assert len(notices) == 1
        assert notices[0]["record"]["id"] == sid(WARREN)
        # The followers hear of it, so the watcher stops finding it.
        assert followers.queries.wait(notices[0]["position"], timeout=15) is True
        assert followers.queries.unnoticed_deadlines("2017-09-23") == []
        time.sleep(0.3)
        # A write wakes the runner, and the views follow it.
        written = run(
            ledger,
            "claim.evidence",
            "claim/conrad-19-of-23",
            stance="context",
            sources=[ARTICLE],
            note="note",
        )
        assert followers.queries.wait(written.position, timeout=15) is True
    assert runner.error is None
    assert len(_notices(ledger)) == 1
    assert runner.held == ()
