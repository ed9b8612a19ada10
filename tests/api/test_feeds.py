"""Feeds and exports over HTTP, on the founding case: Atom, iCalendar, CSV, JSON lines and
schema.org ClaimReview."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from xml.etree import ElementTree as ET

import httpx
from icalendar import Calendar

from ledger.commands import slug_id
from tests.api.support import assert_problem

ATOM = "{http://www.w3.org/2005/Atom}"
WARREN = str(slug_id("commitment/warren-recommendations"))


def atom_entries(response: httpx.Response) -> list[ET.Element]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title")
    assert feed.findtext(f"{ATOM}updated")
    return feed.findall(f"{ATOM}entry")


async def test_a_topic_feed_is_atom_with_an_entry_per_timeline_event(
    client: httpx.AsyncClient, demo: int
) -> None:
    entries = atom_entries(await client.get("/v1/feeds/topics/lmpd-ice-cooperation.atom"))
    timeline = (
        await client.get("/v1/timeline", params={"topic": "lmpd-ice-cooperation", "limit": 500})
    ).json()["items"]
    assert len(entries) == min(100, len(timeline)) > 0
    for entry in entries:
        assert entry.findtext(f"{ATOM}id")
        assert entry.findtext(f"{ATOM}title")
        assert entry.findtext(f"{ATOM}updated")
        assert entry.find(f"{ATOM}link") is not None
    links = {e.find(f"{ATOM}link").get("href") for e in entries}  # type: ignore[union-attr]
    assert any(link.endswith(f"/v1/commitments/{WARREN}") for link in links)


async def test_an_actor_feed_is_atom_with_entries(client: httpx.AsyncClient, demo: int) -> None:
    entries = atom_entries(await client.get("/v1/feeds/actors/bryan-warren.atom"))
    assert entries
    titles = " ".join(e.findtext(f"{ATOM}title") or "" for e in entries)
    assert "commitment.made" in titles


async def test_the_deadline_calendar_has_warrens_vevent_on_2017_09_22(
    client: httpx.AsyncClient, demo: int
) -> None:
    response = await client.get("/v1/feeds/deadlines.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in response.text
    assert "DTSTART;VALUE=DATE:20170922" in response.text
    calendar = Calendar.from_ical(response.content)
    events = [c for c in calendar.walk("VEVENT")]
    warren = [e for e in events if str(e["uid"]).startswith(WARREN)]
    assert len(warren) == 1
    assert warren[0].decoded("dtstart") == date(2017, 9, 22)
    assert "by the end of next week" in str(warren[0]["summary"])
    assert "Basis: said Friday 2017-09-15" in str(warren[0]["description"])
    # Only commitments with a deadline are on the calendar.
    assert len(events) == 1


async def test_the_csv_export_has_a_header_and_a_row_per_commitment(
    client: httpx.AsyncClient, demo: int
) -> None:
    response = await client.get("/v1/exports/commitments.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["id", "kind", "made_by", "assignee", "status"]
    assert "due_on" in header and "fulfilled_late" in header
    board = (await client.get("/v1/commitments", params={"limit": 500})).json()["items"]
    assert len(body) == len(board) == 4
    assert {r[0] for r in body} == {i["id"] for i in board}
    warren = dict(zip(header, next(r for r in body if r[0] == WARREN), strict=True))
    assert warren["due_on"] == "2017-09-22"
    assert warren["status"] == "in_progress"


async def test_the_jsonl_exports_have_a_line_per_commitment_and_per_event(
    client: httpx.AsyncClient, demo: int
) -> None:
    board = await client.get("/v1/exports/commitments.jsonl")
    lines = [json.loads(line) for line in board.text.splitlines()]
    assert len(lines) == 4
    log = await client.get("/v1/exports/events.jsonl")
    events = [json.loads(line) for line in log.text.splitlines()]
    assert [e["position"] for e in events] == list(range(1, demo + 1))


async def test_claimreview_is_json_ld_for_an_assessed_claim(
    client: httpx.AsyncClient, demo: int
) -> None:
    response = await client.get("/v1/claims/conrad-19-of-23/claimreview")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    review = response.json()
    assert review["@context"] == "https://schema.org"
    assert review["@type"] == "ClaimReview"
    assert review["claimReviewed"] == "officers acted properly in 19 of the 23 calls cited by KyCIR"
    assert review["reviewRating"]["alternateName"] == "unsupported"
    assert review["itemReviewed"]["author"]["identifier"] == str(slug_id("actor/steve-conrad"))
    assert review["reviewBody"]


async def test_claimreview_of_an_unassessed_claim_is_409(
    client: httpx.AsyncClient, demo: int
) -> None:
    response = await client.get("/v1/claims/lmpd-does-not-enforce-immigration-law/claimreview")
    assert_problem(response, 409, "not-assessed")
