"""The public site's pages through the app: every date of the world is shown with its
precision ("week of 2017-09-22", "September 2017", "2017"), on the board, the home page's
deadline lists, a commitment's page and the reporters' follow-up queue."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.services import Services
from api.web.render import on_date, precision_on, recorded_time, world_date
from ledger.commands import parse_command
from tests.api.support import wait_caught_up

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "templates"
KYCIR = "source/kycir-louisville-sanctuary-push-2017-09-15"


def test_world_dates_are_written_as_their_precision_allows() -> None:
    assert world_date("2017-09-22") == "2017-09-22"
    assert world_date("2017-09-22", "day") == "2017-09-22"
    assert world_date("2017-09-22", None) == "2017-09-22"
    assert world_date("2017-09-22", "week") == "week of 2017-09-22"
    assert world_date("2017-09-30", "month") == "September 2017"
    assert world_date("2017-01-01T00:00:00+00:00", "year") == "2017"
    assert world_date(None, "year") == ""
    assert on_date("2017-09-22") == "on 2017-09-22"
    assert on_date("2017-09-11", "week") == "in the week of 2017-09-11"
    assert on_date("2017-04-01", "month") == "in April 2017"
    assert on_date("2017-01-01", "year") == "in 2017"
    assert recorded_time("2017-09-23T18:00:05.123+00:00") == "2017-09-23 18:00 UTC"
    assert recorded_time("2017-09-23T14:00:00-04:00") == "2017-09-23 18:00 UTC"
    events = [
        {"occurred_at": "2017-08-01", "precision": "day"},
        {"occurred_at": "2017-08-01", "precision": "month"},
        {"occurred_at": "2017-09-01", "precision": "week"},
    ]
    assert precision_on(events, "2017-08-01") == "month"
    assert precision_on(events, "2017-10-01", "year") == "year"


# A template shows a date of the data only through a filter that knows its precision (world
# dates) or says it is the ledger's own clock (recording times).
_DATE_FIELD = re.compile(
    r"\{\{[^}]*\b(\w*_at|\w*_on|on|since|status_since|day)\b(?:\[[^\]]*\])?\s*(\}\}|\|(?!\s*(world_date|on_date|recorded_time)\b)[^}]*\}\})"
)


def test_every_template_date_goes_through_a_date_filter() -> None:
    offenders = []
    for template in sorted(TEMPLATES.glob("*.html")):
        for number, line in enumerate(template.read_text().splitlines(), start=1):
            for match in _DATE_FIELD.finditer(line):
                expression = match.group(0)
                if "when.day" in expression:  # the reader's chosen date, a day
                    continue
                if line[: match.start()].endswith('value="'):  # a form's value, not shown
                    continue
                offenders.append(f"{template.name}:{number}: {expression}")
    assert offenders == []


def _world() -> list[dict[str, Any]]:
    """Records whose dates are known to a month, a week or a year."""
    return [
        {
            "op": "commitment.create",
            "id": "commitment/audit-in-september",
            "data": {
                "kind": "promise",
                "made_by": "actor/greg-fischer",
                "text": "The audit of the 287(g) talks will be public in September.",
                "made_at": "2017-08-01",
                "precision": "month",
                "due": {
                    "on": "2017-09-30",
                    "text": "in September",
                    "precision": "month",
                    "basis": "said in August 2017; September = by 2017-09-30",
                },
                "sources": [KYCIR],
            },
        },
        {
            "op": "commitment.create",
            "id": "commitment/report-this-year",
            "data": {
                "kind": "promise",
                "made_by": "actor/steve-conrad",
                "text": "A report on the calls under review by the end of June.",
                "made_at": "2017-05-01",
                "precision": "month",
                "due": {"on": "2017-06-30", "precision": "month"},
                "sources": [KYCIR],
            },
        },
        {
            "op": "commitment.deadline",
            "id": "commitment/report-this-year",
            "data": {
                "on": "2017-12-31",
                "precision": "year",
                "reason": "the chief now says this year",
                "sources": [KYCIR],
            },
        },
        {
            "op": "action.create",
            "id": "action/first-part-of-report",
            "data": {
                "actor": "actor/steve-conrad",
                "kind": "report_delivered",
                "occurred_at": "2017-08-01",
                "precision": "month",
                "summary": "LMPD delivered the first part of the report.",
                "partially_fulfils": ["commitment/report-this-year"],
                "sources": [KYCIR],
            },
        },
        {
            "op": "demand.create",
            "id": "demand/publish-the-calls",
            "data": {
                "demanded_by": "actor/mijente-louisville",
                "addressed_to": "actor/steve-conrad",
                "text": "Publish the four calls still under review.",
                "made_at": "2017-04-01",
                "sources": [KYCIR],
            },
        },
        {
            "op": "demand.response",
            "id": "demand/publish-the-calls",
            "data": {
                "status": "acknowledged",
                "occurred_at": "2017-05-01",
                "precision": "month",
                "commitment": "commitment/report-this-year",
                "sources": [KYCIR],
            },
        },
        {
            "op": "inquiry.create",
            "id": "inquiry/audit-date",
            "data": {
                "asked_by": "actor/kycir",
                "asked_to": "actor/greg-fischer",
                "question": "When will the audit be published?",
                "asked_at": "2017-09-04",
                "precision": "week",
                "follow_up_after": 7,
                "sources": [KYCIR],
            },
        },
        {
            "op": "inquiry.create",
            "id": "inquiry/review-outcome",
            "data": {
                "asked_by": "actor/kycir",
                "asked_to": "actor/lmpd",
                "question": "What did the review of the four calls find?",
                "asked_at": "2017-09-01",
                "sources": [KYCIR],
            },
        },
        {
            "op": "inquiry.response",
            "id": "inquiry/review-outcome",
            "data": {
                "status": "declined",
                "occurred_at": "2017-09-11",
                "precision": "week",
                "sources": [KYCIR],
            },
        },
        {
            "op": "incident.create",
            "id": "incident/march-call",
            "data": {
                "occurred_at": "2017-03-01",
                "precision": "month",
                "actors": ["actor/lmpd"],
                "description": "A call in March 2017 in which officers assisted ICE.",
                "sources": [KYCIR],
            },
        },
        {
            "op": "incident.review",
            "id": "incident/march-call",
            "data": {
                "status": "under_review",
                "occurred_at": "2017-08-01",
                "precision": "month",
                "sources": [KYCIR],
            },
        },
    ]


@pytest.fixture
def world(services: Services, demo: int) -> None:
    result = services.ledger.import_commands(
        [parse_command(c) for c in _world()], principal="cli:test"
    )
    assert not result.errors, result.errors
    wait_caught_up(services)


async def _text(client: httpx.AsyncClient, path: str) -> str:
    """The visible text of a page's main element, one line per block or table row (cells
    end with " | "), spaces collapsed."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    main = response.text.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    main = " ".join(main.split()).replace("</dt>", ": ").replace("</td>", " | ")
    main = re.sub(r"<(br|/p|/li|/dd|/tr|/h\d)\b[^>]*>", "\n", main)
    text = html.unescape(re.sub(r"<[^>]+>", "", main))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _line(text: str, *needles: str) -> str:
    """The one line of `text` holding every needle."""
    found = [line for line in text.splitlines() if all(n in line for n in needles)]
    assert len(found) == 1, (needles, text)
    return found[0]


async def test_the_follow_up_queue_shows_each_date_with_its_precision(
    client: httpx.AsyncClient, world: None
) -> None:
    text = await _text(client, "/follow-ups?at=2017-09-23")
    # A deadline "by the end of next week": the week, its words, and how late it is.
    assert "week of 2017-09-22 · deadline passed" in text
    assert (
        "deadline week of 2017-09-22 (“by the end of next week”) passed unresolved; "
        "in progress, 1 day overdue" in text
    )
    # A deadline known to the month.
    assert "September 2017 · deadline upcoming" in text
    assert "due September 2017 (“in September”), in 7 days; open" in text
    # An inquiry asked in a week, unanswered past its follow-up date.
    assert "week of 2017-09-11 · inquiry overdue" in text
    assert "no answer since week of 2017-09-04; follow-up was due week of 2017-09-11" in text
    # A refusal dated to its week; the demo's own refusal, dated to the day.
    assert "week of 2017-09-11 · inquiry declined" in text
    assert "declined to answer in the week of 2017-09-11; the refusal is itself news" in text
    assert "declined to answer on 2017-09-15; the refusal is itself news" in text
    # A review begun in a month, after an incident of another month.
    assert "August 2017 · incident under review" in text
    assert "under review since August 2017 with no outcome" in text
    # The four unnamed calls and the city's claim are known only to the year.
    assert text.count("under review since 2017 with no outcome") == 4
    assert "made in 2017 and not yet assessed" in text
    # No date of the world is shown more precisely than it is known.
    for raw in ("2017-01-01", "2017-03-01", "2017-08-01", "2017-09-30", "2017-09-23 ·"):
        assert raw not in text


async def test_the_home_page_deadline_lists_show_precision(
    client: httpx.AsyncClient, world: None
) -> None:
    before = await _text(client, "/?at=2017-09-20")
    upcoming = before.split("Due in the next 14 days", 1)[1].split("Latest entries", 1)[0]
    assert "| week of 2017-09-22 by the end of next week |" in _line(upcoming, "Bryan Warren")
    assert "| September 2017 in September |" in _line(upcoming, "audit of the 287(g)")
    after = await _text(client, "/?at=2017-09-23")
    overdue = after.split("Overdue now", 1)[1].split("Due in the next 14 days", 1)[0]
    assert "| week of 2017-09-22 by the end of next week | 1 day overdue |" in _line(
        overdue, "Bryan Warren promised"
    )
    latest = after.split("Latest entries", 1)[1]
    assert re.search(r"#\d+ \S+ 2017-09-15 18:00 UTC by cli:test", latest), latest


async def test_the_board_shows_deadlines_with_precision(
    client: httpx.AsyncClient, world: None
) -> None:
    text = await _text(client, "/commitments?at=2017-09-23")
    assert "| September 2017 in September |" in _line(text, "audit of the 287(g)")
    assert "| partially fulfilled | 2017 |" in _line(text, "report on the calls")
    assert "2017-12-31" not in text and "2017-09-30" not in text


async def test_a_commitments_page_shows_each_date_with_its_precision(
    client: httpx.AsyncClient, world: None
) -> None:
    text = await _text(client, "/commitments/report-this-year?at=2017-09-23")
    assert "Steve Conrad, May 2017." in text
    assert "Status on 2017-09-23: partially fulfilled since August 2017" in text
    assert "Deadline: 2017" in text
    assert "Originally due: June 2017" in text
    assert "New deadline 2017: the chief now says this year" in text
    # The action that partly kept it, found through the status change it made.
    related = text.split("Related actions", 1)[1]
    assert "August 2017: LMPD delivered the first part of the report." in related
    # The demand a response of which names this commitment.
    answers = text.split("Demands it answers", 1)[1]
    assert "Publish the four calls still under review. (acknowledged in May 2017)" in answers
    for raw in ("2017-05-01", "2017-08-01", "2017-06-30", "2017-12-31"):
        assert raw not in text
    # A commitment made in a week is open since that week.
    pledge = await _text(client, "/commitments/conrad-officers-not-used-by-ice?at=2017-09-23")
    assert "Steve Conrad, week of 2017-09-08." in pledge
    assert "open since week of 2017-09-08" in pledge
    # The other commitments answer no demand and were changed by no action.
    other = await _text(client, "/commitments/audit-in-september?at=2017-09-23")
    assert "Related actions" not in other and "Demands it answers" not in other
    assert "Greg Fischer, August 2017." in other


async def test_the_board_filter_keeps_the_chosen_actor(
    client: httpx.AsyncClient, world: None
) -> None:
    response = await client.get("/commitments", params={"actor": "steve-conrad"})
    assert response.status_code == 200
    selected = re.findall(r'<option value="([^"]+)" selected>([^<]+)</option>', response.text)
    assert [name for _, name in selected] == ["Steve Conrad", "deadline"]
    text = await _text(client, "/commitments?actor=steve-conrad&at=2017-09-23")
    assert "report on the calls" in text and "audit of the 287(g)" not in text


async def test_a_new_actor_joins_the_board_filter_once_the_views_have_it(
    client: httpx.AsyncClient, services: Services, world: None
) -> None:
    before = (await client.get("/commitments")).text
    assert "Metro Auditor" not in before
    command = {
        "op": "actor.create",
        "id": "actor/metro-auditor",
        "data": {"name": "Metro Auditor", "kind": "office"},
    }
    result = services.ledger.import_commands([parse_command(command)], principal="cli:test")
    assert not result.errors
    wait_caught_up(services)
    after = (await client.get("/commitments")).text
    assert re.search(r'<option value="[0-9a-f-]{36}">Metro Auditor</option>', after)
