"""The actor scorecard (DOMAIN.md, "Views users need"), on SQLite and PostgreSQL.

The mayor made commitments with every kind of outcome; the chief is assigned one of them
and made one of his own; claims, inquiries and demands complete the card.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from ledger.app import Ledger
from ledger.clock import ManualClock
from projections.runner import Followers
from tests.contract.helpers import run
from tests.contract.views_support import followers_fixture as _followers  # noqa: F401
from tests.contract.views_support import sid, utc

SRC = "source/minutes"
MAYOR = "actor/mayor"
CHIEF = "actor/chief"
RESIDENTS = "actor/residents"
PAPER = "actor/paper"


def _commitment(ledger: Ledger, slug: str, *, due: str | None = None, **data: Any) -> None:
    body: dict[str, Any] = {
        "kind": "promise",
        "made_by": MAYOR,
        "text": slug.split("/")[1].replace("-", " "),
        "made_at": "2017-09-10",
        "sources": [SRC],
        **data,
    }
    if due:
        body["due"] = {"on": due}
    run(ledger, "commitment.create", slug, **body)


def _status(ledger: Ledger, slug: str, status: str, on: str) -> None:
    run(
        ledger,
        "commitment.status",
        slug,
        status=status,
        occurred_at=on,
        reason=f"{status} on {on}",
        sources=[SRC],
    )


def _build(ledger: Ledger) -> None:
    run(ledger, "source.create", SRC, url="https://example.org/minutes", title="Minutes")
    for slug, name, kind in (
        (MAYOR, "The Mayor", "person"),
        (CHIEF, "The Chief", "person"),
        (RESIDENTS, "Residents", "organization"),
        (PAPER, "The Paper", "organization"),
    ):
        run(ledger, "actor.create", slug, name=name, kind=kind)
    # The mayor's commitments, one per outcome.
    _commitment(ledger, "commitment/on-time", due="2017-09-30")
    run(
        ledger,
        "action.create",
        "action/policy",
        actor=MAYOR,
        kind="policy_announced",
        occurred_at="2017-09-25",
        summary="policy announced",
        fulfils=["commitment/on-time"],
        sources=[SRC],
    )
    _commitment(ledger, "commitment/late", due="2017-09-20")
    _status(ledger, "commitment/late", "fulfilled", "2017-09-25")
    _commitment(ledger, "commitment/broken", kind="pledge")
    run(
        ledger,
        "action.create",
        "action/violation",
        actor=MAYOR,
        kind="other",
        occurred_at="2017-09-21",
        summary="the act the pledge ruled out",
        breaks=["commitment/broken"],
        sources=[SRC],
    )
    _commitment(ledger, "commitment/withdrawn", due="2017-10-15")
    _status(ledger, "commitment/withdrawn", "withdrawn", "2017-09-19")
    _commitment(ledger, "commitment/overdue", due="2017-09-18")
    _status(ledger, "commitment/overdue", "in_progress", "2017-09-12")
    _commitment(ledger, "commitment/open")
    _commitment(ledger, "commitment/partial", due="2017-09-28")
    _status(ledger, "commitment/partial", "partially_fulfilled", "2017-09-27")
    # A directive: the mayor's commitment, and the chief's assignment.
    _commitment(ledger, "commitment/directive", kind="directive", assignee=CHIEF, due="2017-09-22")
    _status(ledger, "commitment/directive", "fulfilled", "2017-09-21")
    # The chief's own promise, broken.
    _commitment(ledger, "commitment/chief-promise", made_by=CHIEF, due="2017-09-20")
    _status(ledger, "commitment/chief-promise", "broken", "2017-09-24")

    # Claims the mayor made, by verdict.
    for slug, verdicts in (
        ("claim/accurate", ["accurate"]),
        ("claim/inaccurate", ["inaccurate"]),
        ("claim/reassessed", ["misleading", "accurate"]),
        ("claim/unassessed", []),
    ):
        run(
            ledger,
            "claim.create",
            slug,
            made_by=MAYOR,
            text=slug,
            made_at="2017-09-11",
            sources=[SRC],
        )
        for verdict in verdicts:
            run(ledger, "claim.assessment", slug, verdict=verdict, rationale="r", sources=[SRC])
    run(
        ledger,
        "claim.create",
        "claim/chief",
        made_by=CHIEF,
        text="chief's claim",
        made_at="2017-09-11",
        sources=[SRC],
    )

    # Inquiries to the mayor.
    for slug, asked, after, response in (
        ("inquiry/answered", "2017-09-12", 7, "answered"),
        ("inquiry/declined", "2017-09-12", 7, "declined"),
        ("inquiry/partial", "2017-09-12", 7, "partially_answered"),
        ("inquiry/overdue", "2017-09-15", 5, None),
        ("inquiry/waiting", "2017-09-28", 7, None),
    ):
        run(
            ledger,
            "inquiry.create",
            slug,
            asked_by=PAPER,
            asked_to=MAYOR,
            question=f"{slug}?",
            asked_at=asked,
            follow_up_after=after,
            sources=[SRC],
        )
        if response:
            run(
                ledger,
                "inquiry.response",
                slug,
                status=response,
                occurred_at="2017-09-14",
                text="a response",
                sources=[SRC],
            )

    # Demands addressed to the mayor.
    for slug in ("met", "rejected", "pending", "acknowledged"):
        run(
            ledger,
            "demand.create",
            f"demand/{slug}",
            demanded_by=RESIDENTS,
            addressed_to=MAYOR,
            text=f"demand to be {slug}",
            made_at="2017-09-13",
            sources=[SRC],
        )
    run(
        ledger,
        "action.create",
        "action/meets",
        actor=MAYOR,
        kind="policy_announced",
        occurred_at="2017-09-26",
        summary="meets the residents' demand",
        meets=["demand/met"],
        sources=[SRC],
    )
    for slug, status in (("rejected", "rejected"), ("acknowledged", "acknowledged")):
        run(
            ledger,
            "demand.response",
            f"demand/{slug}",
            status=status,
            occurred_at="2017-09-16",
            sources=[SRC],
        )


@pytest.fixture(name="built")
def built_fixture(ledger: Ledger, clock: ManualClock, followers: Followers) -> Iterator[Followers]:
    clock.set(utc(2017, 9, 30, 12))
    _build(ledger)
    followers.catch_up()
    yield followers


def _card(followers: Followers, actor: str, at: date, known: Any = None) -> dict[str, Any]:
    return followers.queries.scorecard(sid(actor), when=followers.queries.when(at, known))


def test_the_mayor_scorecard_counts_every_outcome(built: Followers) -> None:
    card = _card(built, MAYOR, date(2017, 10, 1))
    assert card["actor"] == sid(MAYOR)
    assert card["at"] == "2017-10-01"
    assert card["commitments"] == {
        "made": 8,
        "kept": 3,
        "kept_late": 1,
        "partially_kept": 1,
        "broken": 1,
        "reversed": 0,
        "withdrawn": 1,
        "open": 2,
        "overdue": 1,
        "resolved": 5,
        "keep_rate": 0.6,
    }
    # The mayor is assigned nothing.
    assert card["directives_assigned"]["made"] == 0
    assert card["directives_assigned"]["keep_rate"] is None
    assert card["claims"] == {
        "total": 4,
        "by_verdict": {"accurate": 2, "inaccurate": 1, "unassessed": 1},
    }
    assert card["inquiries"] == {
        "total": 5,
        "answered": 1,
        "partially_answered": 1,
        "declined": 1,
        "awaiting": 2,
        "overdue": 1,
    }
    assert card["demands"] == {
        "addressed": 4,
        "met": 1,
        "partially_met": 0,
        "rejected": 1,
        "pending": 2,
    }


def test_directives_count_separately_for_their_assignee(built: Followers) -> None:
    card = _card(built, CHIEF, date(2017, 10, 1))
    own = card["commitments"]
    assert (own["made"], own["broken"], own["resolved"], own["keep_rate"]) == (1, 1, 1, 0.0)
    assigned = card["directives_assigned"]
    assert (assigned["made"], assigned["kept"], assigned["kept_late"]) == (1, 1, 0)
    assert (assigned["resolved"], assigned["keep_rate"]) == (1, 1.0)
    assert card["claims"] == {"total": 1, "by_verdict": {"unassessed": 1}}
    assert card["inquiries"]["total"] == 0
    assert card["demands"]["addressed"] == 0
    # Whoever asked or demanded is not scored for it.
    assert _card(built, PAPER, date(2017, 10, 1))["inquiries"]["total"] == 0
    assert _card(built, RESIDENTS, date(2017, 10, 1))["demands"]["addressed"] == 0


def test_the_scorecard_as_of_an_earlier_world_date(built: Followers) -> None:
    # On 2017-09-19: one withdrawn that day, one overdue since the 18th, nothing kept yet.
    card = _card(built, MAYOR, date(2017, 9, 19))
    c = card["commitments"]
    assert c["made"] == 8
    assert (c["kept"], c["partially_kept"], c["broken"], c["withdrawn"]) == (0, 0, 0, 1)
    assert (c["open"], c["overdue"], c["resolved"], c["keep_rate"]) == (7, 1, 0, None)
    # On 2017-09-23: the directive kept, the pledge broken, the late one now overdue too.
    c = _card(built, MAYOR, date(2017, 9, 23))["commitments"]
    assert (c["kept"], c["broken"], c["open"], c["overdue"]) == (1, 1, 5, 2)
    assert (c["resolved"], c["keep_rate"]) == (2, 0.5)
    # Demands on 2017-09-20: two answered, none met yet.
    d = _card(built, MAYOR, date(2017, 9, 20))["demands"]
    assert (d["addressed"], d["met"], d["rejected"], d["pending"]) == (4, 0, 1, 3)
    # Before the inquiries' answers (2017-09-13), all three were awaiting; the later
    # two had not been asked yet.
    i = _card(built, MAYOR, date(2017, 9, 13))["inquiries"]
    assert (i["total"], i["awaiting"], i["answered"], i["overdue"]) == (3, 3, 0, 0)


def test_the_scorecard_as_known_before_anything_was_recorded(built: Followers) -> None:
    card = _card(built, MAYOR, date(2017, 10, 1), utc(2017, 9, 30, 11))
    assert card["known_at"] == "2017-09-30T11:00:00.000000Z"
    assert card["commitments"]["made"] == 0
    assert card["claims"]["total"] == 0
    assert card["inquiries"]["total"] == 0
    assert card["demands"]["addressed"] == 0


def test_the_board_agrees_with_the_scorecard(built: Followers) -> None:
    q = built.queries
    when = q.when(date(2017, 10, 1))
    counts = q.board_counts(when=when, actor=sid(MAYOR))
    assert counts["total"] == 8
    assert counts["overdue"] == 1
    assert counts["by_status"] == {
        "fulfilled": 3,
        "partially_fulfilled": 1,
        "broken": 1,
        "withdrawn": 1,
        "in_progress": 1,
        "open": 1,
    }
    late = {
        i["id"]: i["fulfilled_late"]
        for i in q.board(when=when, actor=sid(MAYOR), status="fulfilled").items
    }
    assert late == {
        sid("commitment/on-time"): False,
        sid("commitment/late"): True,
        sid("commitment/directive"): False,
    }
    (broken,) = q.board(when=when, actor=sid(MAYOR), status="broken").items
    assert broken["last_evidence"]["reason"] == "other: the act the pledge ruled out"
