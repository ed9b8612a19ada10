"""Fixtures and builders shared by the follower (views) tests, `test_views*.py`.

The fixtures are registered under their pytest names (`followers`, `founded`) and imported by
each test module; their functions have other names so that a test's parameter does not
shadow the import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.app import Ledger
from ledger.cli import read_commands
from ledger.clock import ManualClock
from ledger.commands import slug_id
from projections.queries import Page, When
from projections.runner import Followers

DEMO_FILE = Path(__file__).resolve().parents[2] / "ledger" / "demo" / "louisville-2017.jsonl"
#: The followers these tests cover (others may run beside them).
NAMES = ("records", "timeline")

ARTICLE = "source/kycir-louisville-sanctuary-push-2017-09-15"
WARREN = "commitment/warren-recommendations"
CONRAD_MEET_ICE = "commitment/conrad-meet-ice"
WARREN_MEET_LEADERS = "commitment/warren-meet-immigrant-leaders"
CONRAD_PLEDGE = "commitment/conrad-officers-not-used-by-ice"
KYCIR_INQUIRY = "inquiry/kycir-lmpd-followup"
UNDER_REVIEW = [f"incident/lmpd-ice-call-under-review-{n}" for n in range(1, 5)]
PEREZ_PEREZ = "incident/perez-perez-door-knock"
CLAIM_19_OF_23 = "claim/conrad-19-of-23"
CLAIM_NO_ENFORCEMENT = "claim/lmpd-does-not-enforce-immigration-law"
TOPIC = "lmpd-ice-cooperation"


def sid(slug: str) -> str:
    """The id a slug names, as the views spell it."""
    return str(slug_id(slug))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def import_founding_case(ledger: Ledger) -> int:
    """Import ledger/demo/louisville-2017.jsonl; returns how many lines were applied."""
    commands, problems = read_commands(DEMO_FILE)
    assert problems == {}
    result = ledger.import_commands([c for _, c in commands], principal="cli:test")
    assert result.errors == []
    return result.applied


@pytest.fixture(name="followers")
def followers_fixture(ledger: Ledger, clock: ManualClock) -> Iterator[Followers]:
    """Both followers of the test's store, read with the test's clock."""
    followers = Followers(ledger, clock=clock)
    yield followers
    followers.close()


@pytest.fixture(name="founded")
def founded_fixture(ledger: Ledger, followers: Followers) -> Followers:
    """The founding case imported and the followers caught up with it."""
    import_founding_case(ledger)
    followers.catch_up()
    return followers


def ids(page: Page) -> list[str]:
    return [item["id"] for item in page.items]


def every_page(fetch: Callable[[str | None], Page]) -> list[list[dict[str, Any]]]:
    """Follow `next` cursors from the first page to the last; returns the pages' items."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        pages.append(page.items)
        if page.next is None:
            return pages
        assert len(pages) < 1000, "the cursor never ends"
        cursor = page.next


def everything(followers: Followers, when: When, *, actors: tuple[str, ...] = ()) -> str:
    """Every public read of the views as of `when`, as one JSON text: to look for a word."""
    q = followers.queries
    reads: dict[str, Any] = {
        "board": q.board(when=when, limit=500, include_retracted=True).items,
        "follow_ups": q.follow_ups(when=when, limit=500).items,
        "timeline": q.timeline(when=when, topic=TOPIC, limit=500).items,
    }
    for kind in (
        "actor",
        "source",
        "commitment",
        "claim",
        "demand",
        "incident",
        "action",
        "inquiry",
    ):
        reads[kind] = q.records(kind, when=when, limit=500, include_retracted=True).items
    for actor in actors:
        reads[f"timeline:{actor}"] = q.timeline(when=when, actor=actor, limit=500).items
        reads[f"scorecard:{actor}"] = q.scorecard(actor, when=when)
    for claim in reads["claim"]:
        reads[f"claim_file:{claim['id']}"] = q.claim_file(claim["id"], when=when)
    return json.dumps(reads, ensure_ascii=False)


def day(text: str) -> date:
    return date.fromisoformat(text)
