"""Views built step by step equal views rebuilt from scratch, on SQLite and PostgreSQL.

`Followers.snapshot(name)` is every row of a follower's tables, sorted; a follower fed in
small batches (`catch_up(limit=...)`), or one follower ahead of the other, must end with the
same rows as one that replays the whole log after `rebuild(name)`.
"""

from __future__ import annotations

import gc
import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.app import Ledger
from ledger.clock import ManualClock
from ledger.commands import parse_command, slug_id
from ledger.config import Settings
from ledger.domain import DomainError
from ledger.domain.vocab import (
    CLAIM_VERDICTS,
    COMMITMENT_STATUSES,
    DEMAND_STATUSES,
    INCIDENT_REVIEW_STATUSES,
    INQUIRY_STATUSES,
)
from projections import slices
from projections.db import Sql, index_name
from projections.queries import Views, When
from projections.runner import Followers
from projections.watcher import DeadlineWatcher
from tests.contract.helpers import WHO, run
from tests.contract.views_support import (
    ARTICLE,
    CLAIM_NO_ENFORCEMENT,
    CONRAD_PLEDGE,
    KYCIR_INQUIRY,
    NAMES,
    WARREN,
    every_page,
    import_founding_case,
    utc,
)
from tests.contract.views_support import followers_fixture as _followers  # noqa: F401
from tests.contract.views_support import founded_fixture as _founded  # noqa: F401


def _drain(followers: Followers, **kwargs: Any) -> int:
    total = 0
    while done := followers.catch_up(**kwargs):
        total += done
    return total


def _rebuilt(followers: Followers) -> dict[str, Any]:
    for name in NAMES:
        followers.rebuild(name)
        assert followers.position(name) == 0
    followers.catch_up()
    return {name: followers.snapshot(name) for name in NAMES}


def _incremental(followers: Followers) -> dict[str, Any]:
    return {name: followers.snapshot(name) for name in NAMES}


def _history(ledger: Ledger, clock: ManualClock, followers: Followers) -> None:
    """More than the founding case: late news, backfills, an extension, a retraction, a
    redaction, corrections and the watcher's notices, some of it at one instant."""
    watcher = DeadlineWatcher(ledger, followers.queries, clock)
    clock.set(utc(2017, 9, 21, 9))
    run(
        ledger,
        "commitment.deadline",
        WARREN,
        on="2017-09-29",
        reason="another week",
        sources=[ARTICLE],
    )
    run(
        ledger,
        "claim.assessment",
        CLAIM_NO_ENFORCEMENT,
        verdict="inaccurate",
        rationale="LMPD assisted ICE nearly weekly",
        sources=[ARTICLE],
    )
    clock.set(utc(2017, 9, 30, 1))
    followers.catch_up()
    assert watcher.run_once() == 1
    run(ledger, "commitment.redaction", WARREN, fields=["summary"], reason="test")
    clock.set(utc(2017, 10, 2, 9))
    run(
        ledger,
        "commitment.status",
        WARREN,
        status="fulfilled",
        occurred_at="2017-09-29",
        reason="delivered",
        sources=[ARTICLE],
    )
    run(
        ledger,
        "commitment.status",
        CONRAD_PLEDGE,
        status="broken",
        occurred_at="2017-09-20",
        reason="backfilled",
        sources=[ARTICLE],
    )
    run(
        ledger,
        "commitment.correction",
        CONRAD_PLEDGE,
        field="made_at",
        value="2017-09-07",
        reason="a day earlier",
    )
    run(
        ledger,
        "inquiry.response",
        KYCIR_INQUIRY,
        status="answered",
        occurred_at="2017-10-01",
        text="LMPD answered",
        sources=[ARTICLE],
    )
    run(ledger, "claim.retraction", CLAIM_NO_ENFORCEMENT, reason="recorded in error")


def test_the_founding_case_in_small_steps_equals_a_rebuild(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    import_founding_case(ledger)
    _history(ledger, clock, followers)
    for name in NAMES:
        followers.rebuild(name)
    # One event at a time: every commitment's making and its first status change meet in
    # different batches, though recorded at the same instant.
    assert _drain(followers, limit=1) == ledger.last_position()
    stepwise = _incremental(followers)
    assert stepwise["records"]["v_board"], "the board is empty"
    assert _rebuilt(followers) == stepwise


def test_followers_at_different_positions_in_uneven_batches_equal_a_rebuild(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    import_founding_case(ledger)
    _history(ledger, clock, followers)
    reference = _rebuilt(followers)
    for name in NAMES:
        followers.rebuild(name)
    # The records follower runs ahead, the timeline follower behind, then both together.
    followers.catch_up(("records",), limit=7)
    followers.catch_up(("timeline",), limit=3)
    followers.catch_up(("records",), limit=11)
    for limit in itertools.cycle((2, 5, 3)):
        if not followers.catch_up(limit=limit):
            break
    assert followers.position("records") == followers.position("timeline")
    assert _incremental(followers) == reference
    # And with small reads of the log (`batch`) instead of a limit.
    for name in NAMES:
        followers.rebuild(name)
    followers.catch_up(batch=4)
    assert _incremental(followers) == reference


def test_a_rebuild_while_the_views_are_read_gives_the_same_answers(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    import_founding_case(ledger)
    _history(ledger, clock, followers)
    _drain(followers, limit=5)
    q = followers.queries
    whens = [q.when(date(2017, 9, 23)), q.when(date(2017, 10, 5), utc(2017, 10, 1))]
    before = [
        (
            q.board(when=w, limit=500).items,
            q.follow_ups(when=w, limit=500).items,
            q.timeline(when=w, topic="lmpd-ice-cooperation", limit=500).items,
            q.search("officers", when=w, limit=500).items,
        )
        for w in whens
    ]
    for name in NAMES:
        followers.rebuild(name)
    followers.catch_up()
    after = [
        (
            q.board(when=w, limit=500).items,
            q.follow_ups(when=w, limit=500).items,
            q.timeline(when=w, topic="lmpd-ice-cooperation", limit=500).items,
            q.search("officers", when=w, limit=500).items,
        )
        for w in whens
    ]
    assert after == before


# -- property: any history, fed in any batches, equals its rebuild -------------------------
_STATUSES = COMMITMENT_STATUSES[1:]
_OPS = (
    "status",
    "status",
    "deadline",
    "correct_due",
    "correct_text",
    "correct_made_at",
    "correct_party",
    "retract",
    "redact",
    "evidence",
    "assess",
    "demand",
    "review",
    "inquiry",
    "action",
    "title",
    "watch",
)
_STEP = st.tuples(
    st.sampled_from(_OPS),
    st.integers(0, 2),  # which record
    st.integers(0, 20),  # which choice (status, verdict, stance, ...)
    st.integers(-10, 40),  # world date, days from 2017-09-15
    st.sampled_from((0, 0, 0, 1, 7, 30)),  # hours the clock moves first
    st.integers(0, 4),  # events the followers then process (0: none)
)
_BASE = date(2017, 9, 15)


def _day(offset: int) -> str:
    return (_BASE + timedelta(days=offset)).isoformat()


def _seed(ledger: Ledger, p: str) -> None:
    """A small world of its own for each example, under the slug prefix `p`."""
    src = [f"source/{p}"]
    run(ledger, "source.create", src[0], url=f"https://example.org/{p}", title=f"{p} story")
    for who in ("a", "b", "c"):
        run(ledger, "actor.create", f"actor/{p}-{who}", name=f"{p} {who}", kind="person")
    a, b = f"actor/{p}-a", f"actor/{p}-b"
    for i, (kind, due) in enumerate((("promise", 7), ("directive", 3), ("pledge", None))):
        data: dict[str, Any] = {
            "kind": kind,
            "made_by": a,
            "text": f"{p} commitment {i} about shelters",
            "summary": f"{p} summary {i}",
            "made_at": _day(-5),
            "topics": ["t-one", f"t-{p}"],
            "sources": src,
        }
        if kind == "directive":
            data["assignee"] = b
        if due is not None:
            data["due"] = {"on": _day(due)}
        run(ledger, "commitment.create", f"commitment/{p}-{i}", **data)
    for i in range(3):
        run(
            ledger,
            "claim.create",
            f"claim/{p}-{i}",
            made_by=b,
            text=f"{p} claim {i} about calls",
            made_at=_day(-3),
            topics=["t-one"],
            sources=src,
        )
        run(
            ledger,
            "demand.create",
            f"demand/{p}-{i}",
            demanded_by=f"actor/{p}-c",
            addressed_to=a,
            text=f"{p} demand {i}",
            made_at=_day(-2),
            sources=src,
        )
        run(
            ledger,
            "incident.create",
            f"incident/{p}-{i}",
            occurred_at=_day(-20),
            actors=[a, b],
            description=f"{p} incident {i}",
            review_status=("reported", "under_review", "reported")[i],
            topics=["t-one"],
            sources=src,
        )
        run(
            ledger,
            "inquiry.create",
            f"inquiry/{p}-{i}",
            asked_by=f"actor/{p}-c",
            asked_to=a,
            question=f"{p} question {i}?",
            asked_at=_day(i - 2),
            follow_up_after=2,
            sources=src,
        )


def _command(p: str, op: str, t: int, choice: int, offset: int) -> dict[str, Any] | None:
    src = [f"source/{p}"]
    on = _day(offset)
    commitment, claim = f"commitment/{p}-{t}", f"claim/{p}-{t}"
    if op == "status":
        status = _STATUSES[choice % len(_STATUSES)]
        data = {"status": status, "occurred_at": on, "reason": f"{status} {on}", "sources": src}
        return {"op": "commitment.status", "id": commitment, "data": data}
    if op == "deadline":
        data = {"on": _day(offset + 7), "reason": "more time", "sources": src}
        return {"op": "commitment.deadline", "id": commitment, "data": data}
    if op == "correct_due":
        value = None if choice % 5 == 0 else {"on": on, "precision": "week"}
        data = {"field": "due", "value": value, "reason": "misread"}
        return {"op": "commitment.correction", "id": commitment, "data": data}
    if op == "correct_text":
        kind = ("commitment", "claim")[choice % 2]
        field = ("text", "summary")[choice % 3 % 2]
        data = {"field": field, "value": f"corrected {field} {choice}", "reason": "typo"}
        return {"op": f"{kind}.correction", "id": f"{kind}/{p}-{t}", "data": data}
    if op == "correct_made_at":
        data = {"field": "made_at", "value": on, "reason": "wrong day"}
        return {"op": "commitment.correction", "id": commitment, "data": data}
    if op == "correct_party":
        field, value = (("made_by", f"actor/{p}-c"), ("topics", ["t-two"]))[choice % 2]
        data = {"field": field, "value": value, "reason": "wrong"}
        return {"op": "claim.correction", "id": claim, "data": data}
    if op == "retract":
        kind = ("commitment", "claim", "demand", "inquiry", "incident")[choice % 5]
        data = {"reason": "recorded in error"}
        return {"op": f"{kind}.retraction", "id": f"{kind}/{p}-{t}", "data": data}
    if op == "redact":
        kind, field = (("commitment", "text"), ("commitment", "summary"), ("claim", "text"))[
            choice % 3
        ]
        data = {"fields": [field], "reason": "safety"}
        return {"op": f"{kind}.redaction", "id": f"{kind}/{p}-{t}", "data": data}
    if op == "evidence":
        stance = ("supports", "contradicts", "context")[choice % 3]
        data = {"stance": stance, "sources": src, "note": f"note {choice}"}
        if choice % 4 == 0:
            data["incident"] = f"incident/{p}-{t}"
        return {"op": "claim.evidence", "id": claim, "data": data}
    if op == "assess":
        verdict = CLAIM_VERDICTS[1:][choice % (len(CLAIM_VERDICTS) - 1)]
        data = {"verdict": verdict, "rationale": f"because {choice}", "sources": src}
        return {"op": "claim.assessment", "id": claim, "data": data}
    if op == "demand":
        status = DEMAND_STATUSES[1:][choice % (len(DEMAND_STATUSES) - 1)]
        data = {"status": status, "occurred_at": on, "sources": src}
        if choice % 3 == 0:
            data["commitment"] = commitment  # answered with a commitment
        return {"op": "demand.response", "id": f"demand/{p}-{t}", "data": data}
    if op == "review":
        status = INCIDENT_REVIEW_STATUSES[1:][choice % (len(INCIDENT_REVIEW_STATUSES) - 1)]
        data = {"status": status, "occurred_at": on, "note": "reviewed", "sources": src}
        return {"op": "incident.review", "id": f"incident/{p}-{t}", "data": data}
    if op == "inquiry":
        status = INQUIRY_STATUSES[1:][choice % (len(INQUIRY_STATUSES) - 1)]
        data = {"status": status, "occurred_at": on, "text": "an answer", "sources": src}
        return {"op": "inquiry.response", "id": f"inquiry/{p}-{t}", "data": data}
    if op == "action":
        link = ("fulfils", "breaks", "partially_fulfils", "meets", "supports", "contradicts")[
            choice % 6
        ]
        target = {"meets": f"demand/{p}-{t}", "supports": claim, "contradicts": claim}
        data = {
            "actor": f"actor/{p}-a",
            "kind": "other",
            "occurred_at": on,
            "summary": f"act {choice}",
            link: [target.get(link, commitment)],
            "sources": src,
        }
        return {"op": "action.create", "data": data}
    if op == "title":
        data = {"title": f"title {choice}", "from": on, "sources": src}
        return {"op": "actor.title", "id": f"actor/{p}-{'abc'[t]}", "data": data}
    return None  # "watch": the deadline watcher runs instead


def test_any_history_fed_in_random_batches_equals_a_rebuild(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    examples = itertools.count()
    watcher = DeadlineWatcher(ledger, followers.queries, clock)
    names: tuple[tuple[str, ...] | None, ...] = (None, None, ("records",), ("timeline",))

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(_STEP, min_size=8, max_size=40))
    def check(steps: list[tuple[str, int, int, int, int, int]]) -> None:
        # The ledger and its views live on from one example to the next; each example has
        # its own records, and time only moves forward.
        p = f"x{next(examples)}"
        clock.advance(timedelta(days=1))
        _seed(ledger, p)
        accepted = 0
        for op, target, choice, offset, hours, batch in steps:
            clock.advance(timedelta(hours=hours))
            command = _command(p, op, target, choice, offset)
            if command is None:
                accepted += watcher.run_once()
            else:
                try:
                    ledger.execute(parse_command(command), principal=WHO)
                    accepted += 1
                except DomainError:
                    pass  # refused by the rules: fine, nothing was written
            if batch:
                followers.catch_up(names[choice % len(names)], limit=batch)
        _drain(followers, limit=max(1, steps[-1][5]))
        assert followers.position("records") == followers.position("timeline")
        assert followers.position("records") == ledger.last_position()
        stepwise = _incremental(followers)
        assert _rebuilt(followers) == stepwise
        _slices_agree_with_rows(followers, clock)

    check()


class _RowsOnly(Views):
    """The board read from its rows alone, never from month slices."""

    def _board_source(self, sql: Sql, when: When) -> tuple[tuple[str, str] | None, When]:
        return None, when


def _slices_agree_with_rows(followers: Followers, clock: ManualClock) -> None:
    """Boards and counts read through the month slices equal those read from the rows, for
    world dates and ledger times on both sides of month ends, and paged."""
    q = followers.queries
    rows_only = _RowsOnly(q.records_view, q.timeline_view, timezone=q.timezone, clock=clock)
    now = clock.now()
    moments = [None, *(now - timedelta(hours=h) for h in (0, 30, 24 * 12, 24 * 45))]
    days = [None, *(_BASE + timedelta(days=o) for o in (-1, 0, 16, 20, 45))]
    for known_at in moments:
        for at in days:
            if at is None and known_at is None:
                continue
            when = q.when(at, known_at)
            for filters in ({}, {"status": "in_progress"}, {"overdue": True}):
                sliced, read = (
                    every_page(
                        lambda c, r=r, w=when, f=filters: r.board(when=w, limit=3, cursor=c, **f)
                    )
                    for r in (q, rows_only)
                )
                assert sliced == read, (when, filters)
                assert q.board_counts(when=when, **filters) == rows_only.board_counts(
                    when=when, **filters
                ), (when, filters)
            # The overdue filter reads one range per unresolved status: the same items, in
            # the same order, as the whole board's overdue ones.
            whole, overdue = (
                [item for page in every_page(fetch) for item in page]
                for fetch in (
                    lambda c, w=when: q.board(when=w, limit=3, cursor=c),
                    lambda c, w=when: q.board(when=w, limit=3, cursor=c, overdue=True),
                )
            )
            assert overdue == [item for item in whole if item["overdue"]], when


def test_the_property_generator_writes_what_the_rules_accept(
    ledger: Ledger, clock: ManualClock
) -> None:
    """The generator is not vacuous: on a fresh world each op it makes can be accepted."""
    accepted: set[str] = set()
    for n, op in enumerate(_OPS):
        p = f"g{n}"
        _seed(ledger, p)
        for choice in range(6):
            command = _command(p, op, choice % 3, choice, choice)
            if command is None:
                continue
            try:
                ledger.execute(parse_command(command), principal=WHO)
                accepted.add(op)
            except DomainError:
                pass
    assert accepted == set(_OPS) - {"watch"}


def test_a_topics_correction_in_the_batch_of_its_record_equals_stepwise(
    ledger: Ledger, followers: Followers
) -> None:
    _seed(ledger, "t")
    ledger.execute(parse_command(_command("t", "correct_party", 0, 1, 0)), principal=WHO)
    followers.catch_up()
    at_once = _incremental(followers)
    topics = {(r[0], r[1]) for r in at_once["records"]["v_topics"]}
    claim = str(slug_id("claim/t-0"))
    assert ("t-two", claim) in topics
    assert ("t-one", claim) not in topics
    for name in NAMES:
        followers.rebuild(name)
    _drain(followers, limit=1)
    assert _incremental(followers) == at_once


def test_each_follower_counts_the_time_it_spends_on_its_own_batches(
    ledger: Ledger, followers: Followers
) -> None:
    import_founding_case(ledger)
    assert set(followers.spent.values()) == {0.0}
    followers.catch_up(("records",))
    assert followers.spent["records"] > 0
    assert followers.spent["timeline"] == followers.spent["integrity"] == 0.0
    records = followers.spent["records"]
    followers.catch_up()
    assert followers.spent["records"] == records  # already at the head: nothing to apply
    assert followers.spent["timeline"] > 0 and followers.spent["integrity"] > 0
    # Short catch-ups have no bulk end; a long one (here, a rebuild) writes the slices and
    # builds the indexes, and counts each.
    assert followers.bulk_spent == {"slices": 0.0, "indexes": 0.0}
    followers.rebuild("records")
    followers.catch_up(("records",), bulk_after=1)
    assert followers.bulk_spent["slices"] > 0 and followers.bulk_spent["indexes"] > 0
    assert gc.isenabled()  # held off only while batches are applied


def _indexes(followers: Followers, name: str) -> set[str]:
    view = followers.views[name]
    with view.read() as sql:
        if view.dialect == "sqlite":
            rows = sql.rows("SELECT name FROM sqlite_master WHERE type = 'index'")
        else:
            rows = sql.rows(
                "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
            )
    return {r["name"] for r in rows}


def _query_indexes(followers: Followers) -> set[str]:
    found = {index_name(s) for s in followers.views["records"].QUERY_INDEXES}
    assert {"v_board_status", "v_slices_order", "v_versions_known"} <= found
    return found


def test_a_bulk_catch_up_builds_the_query_indexes_at_its_end_and_the_same_rows(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    """A catch-up far behind drops the indexes only queries read, feeds the followers without
    them, and builds them again at its end; the board answers meanwhile, from what the view
    holds so far."""
    import_founding_case(ledger)
    _history(ledger, clock, followers)
    query_indexes = _query_indexes(followers)
    assert query_indexes <= _indexes(followers, "records")
    reference = _rebuilt(followers)  # a log this short is not a bulk catch-up by default
    for name in NAMES:
        followers.rebuild(name)
    q = followers.queries
    during: list[tuple[set[str], int]] = []

    def look(_count: int) -> None:
        board = q.board(when=q.when(date(2017, 9, 23)), limit=500)
        during.append((_indexes(followers, "records"), len(board.items)))

    followers.catch_up(batch=5, bulk_after=1, progress=look)
    assert len(during) > 2
    assert all(not (query_indexes & found) for found, _ in during)
    assert during[-1][1] > 0  # the board filled as the follower went
    assert query_indexes <= _indexes(followers, "records")
    assert _incremental(followers) == reference


def test_slices_a_dead_bulk_catch_up_put_off_are_written_by_the_next_catch_up(
    ledger: Ledger, clock: ManualClock, followers: Followers
) -> None:
    """A long catch-up writes the board's month slices at its end. Until then the board reads
    its rows, with both clocks; a process that dies before the end leaves the view as it is
    (it is not replayed again), and the next catch-up of the follower writes the slices."""
    import_founding_case(ledger)
    _history(ledger, clock, followers)
    followers.catch_up()
    q = followers.queries
    whens = [
        q.when(date(2017, 9, 23)),
        q.when(date(2017, 10, 5)),
        # Before the deadline was extended on 2017-09-21: Warren's recommendations overdue.
        q.when(date(2017, 9, 23), utc(2017, 9, 21, 8)),
        q.when(date(2017, 9, 19), utc(2017, 10, 1)),
    ]

    def boards(views: Views) -> list[Any]:
        return [every_page(lambda c, w=w: views.board(when=w, cursor=c)) for w in whens]

    expected = boards(q)
    assert expected[2] != expected[0]  # what the ledger knew then matters
    reference = followers.snapshot("records")
    followers.rebuild("records")
    with followers.views["records"].write() as sql:
        slices.begin_bulk(sql)
    assert followers._feed(("records",), 5, None, None, None) > 0  # then the process dies
    with followers.views["records"].read() as sql:
        assert not sql.rows("SELECT * FROM v_board_slices")
    assert boards(q) == expected
    reopened = Followers(ledger, clock=clock)
    try:
        assert reopened.position("records") == ledger.last_position()  # not replayed again
        assert reopened.catch_up() == 0
        assert reopened.snapshot("records") == reference
        assert boards(reopened.queries) == expected
    finally:
        reopened.close()


def test_query_indexes_a_dead_bulk_catch_up_left_dropped_are_built_when_views_open(
    ledger: Ledger, founded: Followers, clock: ManualClock
) -> None:
    query_indexes = _query_indexes(founded)
    founded.views["records"].drop_query_indexes()
    assert not query_indexes & _indexes(founded, "records")
    reopened = Followers(ledger, clock=clock)
    try:
        assert query_indexes <= _indexes(reopened, "records")
    finally:
        reopened.close()


#: Older views stores: made before the board had month slices, and before the slices
#: carried every column a board item shows (opening such a store drops its slices).
OLDER_BOARDS = {
    "without_slices": ["DELETE FROM v_board_slices", "DELETE FROM v_board_horizon"],
    "slices_without_item_columns": [
        "DROP TABLE v_board_slices",
        "CREATE TABLE v_board_slices (axis TEXT NOT NULL, bucket TEXT NOT NULL, "
        "cid TEXT NOT NULL, world_from TEXT NOT NULL, rec_from TEXT NOT NULL, "
        "world_to TEXT NOT NULL, rec_to TEXT NOT NULL, status TEXT NOT NULL, due_on TEXT, "
        "due_key TEXT NOT NULL, kind TEXT NOT NULL, made_by TEXT NOT NULL, assignee TEXT, "
        "retracted INTEGER NOT NULL, PRIMARY KEY (axis, bucket, cid, world_from, rec_from))",
    ],
}


@pytest.mark.parametrize("older", sorted(OLDER_BOARDS))
def test_a_board_made_by_an_older_version_is_built_again(
    ledger: Ledger, founded: Followers, clock: ManualClock, older: str
) -> None:
    q = founded.queries
    before = every_page(lambda c: q.board(when=q.when(date(2017, 9, 23)), cursor=c))
    assert before != [[]]
    with founded.views["records"].write() as sql:
        for statement in OLDER_BOARDS[older]:
            sql.run(statement)
    reopened = Followers(ledger, clock=clock)
    try:
        assert reopened.position("records") == 0  # emptied, to be replayed
        reopened.catch_up()
        q = reopened.queries
        assert every_page(lambda c: q.board(when=q.when(date(2017, 9, 23)), cursor=c)) == before
        assert _query_indexes(reopened) <= _indexes(reopened, "records")
    finally:
        reopened.close()


def test_a_long_catch_up_leaves_postgresql_planning_for_the_views_real_size(
    pg_url: str, clock: ManualClock
) -> None:
    """The board's plans depend on the planner knowing how many rows a view holds; a
    catch-up that fed a follower many events ends with ANALYZE of its tables."""
    ledger = Ledger(Settings(database_url=pg_url), clock=clock)
    followers = Followers(ledger, clock=clock)
    schema = ledger.settings.store.pg_schema

    def planned_rows() -> float:
        with followers.views["records"].read() as sql:
            row = sql.one(
                "SELECT c.reltuples AS n FROM pg_class c JOIN pg_namespace s "
                "ON s.oid = c.relnamespace WHERE s.nspname = ? AND c.relname = 'v_board'",
                [schema],
            )
        assert row is not None
        return float(row["n"])

    def board_rows() -> int:
        with followers.views["records"].read() as sql:
            return int((sql.one("SELECT COUNT(*) AS n FROM v_board") or {})["n"])

    try:
        import_founding_case(ledger)
        # Fed fewer events than the threshold: the statistics are left to autovacuum.
        followers.catch_up(("records",), bulk_after=ledger.last_position() + 1)
        assert board_rows() > 0
        assert planned_rows() < 0  # never analyzed
        followers.rebuild("records")
        followers.catch_up(("records",), bulk_after=1)
        assert planned_rows() == board_rows()
    finally:
        followers.close()
        ledger.close()


def _version(followers: Followers, name: str) -> int | None:
    with followers.views[name].read() as sql:
        row = sql.one("SELECT version FROM view_versions WHERE name = ?", [name])
    return None if row is None else int(row["version"])


def test_a_view_an_earlier_follower_wrote_is_replayed_when_the_views_are_opened(
    ledger: Ledger, clock: ManualClock, founded: Followers
) -> None:
    """A follower whose rows change for the same events has a higher version: a view written
    by an earlier one (or one from before views recorded versions) is emptied when the
    views are opened, and replayed from the log; the others are left as they are."""
    expected = founded.snapshot("timeline")
    head = ledger.last_position()
    version = founded.views["timeline"].VERSION
    assert version > 1
    assert _version(founded, "timeline") == version
    assert _version(founded, "records") == founded.views["records"].VERSION
    for stale in ("an earlier version", "no version"):
        with founded.views["timeline"].write() as sql:
            sql.run("DELETE FROM view_versions WHERE name = ?", ["timeline"])
            if stale == "an earlier version":
                sql.run("INSERT INTO view_versions VALUES (?, ?)", ["timeline", 1])
            sql.run("UPDATE t_entries SET summary = 'written by an earlier version'")
        reopened = Followers(ledger, clock=clock)
        # A second process opening the views meanwhile does not empty it again.
        second = Followers(ledger, clock=clock)
        try:
            assert reopened.position("timeline") == 0, stale
            assert _version(reopened, "timeline") is None  # until its first batch
            assert reopened.position("records") == reopened.position("integrity") == head
            reopened.catch_up(limit=5)
            assert reopened.position("timeline") == 5
            third = Followers(ledger, clock=clock)
            third.close()
            assert reopened.position("timeline") == 5
            assert _version(reopened, "timeline") == version
            reopened.catch_up()
            assert reopened.snapshot("timeline") == expected, stale
        finally:
            second.close()
            reopened.close()
    # At its version, a view is left alone.
    again = Followers(ledger, clock=clock)
    try:
        assert again.position("timeline") == head
    finally:
        again.close()


def test_a_view_records_its_version_with_its_first_batch(
    ledger: Ledger, followers: Followers
) -> None:
    for name in ("records", "timeline", "integrity"):
        assert followers.position(name) == 0
        assert _version(followers, name) is None
    import_founding_case(ledger)
    followers.catch_up(limit=1)
    for name in ("records", "timeline", "integrity"):
        assert _version(followers, name) == followers.views[name].VERSION
