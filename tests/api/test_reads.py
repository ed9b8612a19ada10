"""Reads over HTTP: read-your-writes, lists and paging, and the two clocks (`at`, `known_at`)
on the founding case."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api.services import Services
from ledger.clock import ManualClock
from ledger.commands import slug_id
from tests.api.conftest import Keys
from tests.api.support import (
    Newsroom,
    assert_problem,
    bearer,
    error_fields,
)

WARREN = str(slug_id("commitment/warren-recommendations"))
WARREN_ACTOR = str(slug_id("actor/bryan-warren"))
SOURCE = str(slug_id("source/kycir-louisville-sanctuary-push-2017-09-15"))

LISTS = [
    "/v1/commitments",
    "/v1/actors",
    "/v1/sources",
    "/v1/claims",
    "/v1/demands",
    "/v1/incidents",
    "/v1/actions",
    "/v1/inquiries",
    "/v1/follow-ups",
    "/v1/timeline?topic=lmpd-ice-cooperation",
    "/v1/timeline?actor=steve-conrad",
    "/v1/search?q=ICE",
    "/v1/events",
]


def item_id(item: dict[str, Any]) -> str:
    if "position" in item:
        return str(item["position"])
    return str(item["id"] if "id" in item else item["record"]["id"])


async def test_a_read_with_min_position_sees_the_write_it_follows(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    room = await Newsroom(client, keys.editor).build()
    written = await client.post(
        "/v1/commitments",
        json=room.body("commitment", text="publish the 23 calls", topics=["open-records"]),
        headers=bearer(keys.editor),
    )
    position = written.headers["X-Ledger-Position"]
    board = await client.get(
        "/v1/commitments", params={"min_position": position, "topic": "open-records"}
    )
    assert board.status_code == 200
    assert [i["id"] for i in board.json()["items"]] == [written.json()["id"]]
    one = await client.get(
        f"/v1/commitments/{written.json()['id']}", params={"min_position": position}
    )
    assert one.json()["as_of"]["status"] == "open"


async def test_min_position_beyond_the_head_gets_503_with_retry_after(
    client: httpx.AsyncClient, services: Services, demo: int
) -> None:
    started = time.monotonic()
    response = await client.get("/v1/commitments", params={"min_position": demo + 1000})
    waited = time.monotonic() - started
    assert_problem(response, 503, "views-behind")
    assert int(response.headers["Retry-After"]) >= 1
    assert services.api.wait_seconds <= waited < services.api.wait_seconds + 5


async def test_every_list_is_items_and_next(client: httpx.AsyncClient, demo: int) -> None:
    for path in [*LISTS, "/v1/commitments/warren-recommendations/history"]:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert isinstance(body["items"], list) and body["items"], path
        assert "next" in body, path


@pytest.mark.parametrize("path", LISTS)
async def test_a_limit_over_500_gets_422(client: httpx.AsyncClient, path: str) -> None:
    joiner = "&" if "?" in path else "?"
    response = await client.get(f"{path}{joiner}limit=501")
    assert "limit" in error_fields(assert_problem(response, 422, "invalid-input"))


async def test_paging_with_next_visits_every_item_once(
    client: httpx.AsyncClient, demo: int
) -> None:
    for path, size in (
        ("/v1/actors", 4),
        ("/v1/commitments", 1),
        ("/v1/claims", 1),
        ("/v1/incidents", 2),
        ("/v1/follow-ups", 2),
        ("/v1/timeline?topic=lmpd-ice-cooperation", 5),
        ("/v1/search?q=LMPD", 3),
        ("/v1/events", 7),
    ):
        path, _, query = path.partition("?")
        base = dict(p.split("=") for p in query.split("&") if p)
        everything = (await client.get(path, params={**base, "limit": 500})).json()
        assert everything["next"] is None
        expected = [item_id(i) for i in everything["items"]]
        assert len(expected) > size, path
        seen: list[str] = []
        cursor_param = "after" if path == "/v1/events" else "cursor"
        params: dict[str, Any] = {**base, "limit": size}
        pages = 0
        while True:
            page = (await client.get(path, params=params)).json()
            assert len(page["items"]) <= size
            seen += [item_id(i) for i in page["items"]]
            pages += 1
            if page["next"] is None:
                break
            params = {**base, "limit": size, cursor_param: page["next"]}
            assert pages < 200, path
        assert seen == expected, path
        assert pages >= 2, path


def forged(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


KEYSET = [("/v1/commitments", {}), ("/v1/actors", {}), ("/v1/timeline", {"topic": "287g"})]
OFFSET = [("/v1/follow-ups", {}), ("/v1/search", {"q": "ICE"})]


@pytest.mark.parametrize(
    ("cursor", "lists"),
    [
        ("bm90LWEtY3Vyc29y", KEYSET + OFFSET),
        (forged([1]), KEYSET + OFFSET),
        (forged("x"), KEYSET + OFFSET),
        (forged(None), KEYSET + OFFSET),
        (forged({"a": 1}), KEYSET + OFFSET),
        (forged([None, None]), KEYSET + OFFSET),
        (forged(["a\u0000", "b"]), KEYSET + OFFSET),
        (forged(-1), KEYSET + OFFSET),
        (forged(10**30), KEYSET + OFFSET),
        (forged([[], {}]), KEYSET + OFFSET),
        (forged(5), KEYSET),
        (forged(["2017-09-22", "x"]), OFFSET),
    ],
)
async def test_a_cursor_the_server_never_gave_out_is_invalid_input(
    client: httpx.AsyncClient, demo: int, cursor: str, lists: list[tuple[str, dict[str, str]]]
) -> None:
    for path, params in lists:
        response = await client.get(path, params={**params, "cursor": cursor})
        problem = assert_problem(response, 422, "invalid-input")
        assert "cursor" in error_fields(problem), path


async def test_a_search_for_a_nul_character_is_invalid_input(
    client: httpx.AsyncClient, demo: int
) -> None:
    response = await client.get("/v1/search", params={"q": "ICE\x00"})
    assert "q" in error_fields(assert_problem(response, 422, "invalid-input"))


async def test_warrens_promise_is_one_day_overdue_on_2017_09_23(
    client: httpx.AsyncClient, demo: int
) -> None:
    def warren(body: dict[str, Any]) -> dict[str, Any]:
        return next(i for i in body["items"] if i["id"] == WARREN)

    on_time = (await client.get("/v1/commitments", params={"at": "2017-09-22"})).json()
    assert on_time["at"] == "2017-09-22"
    assert warren(on_time)["overdue"] is False
    assert warren(on_time)["days_overdue"] is None
    late = (await client.get("/v1/commitments", params={"at": "2017-09-23"})).json()
    item = warren(late)
    assert item["overdue"] is True
    assert item["days_overdue"] == 1
    assert item["status"] == "in_progress"
    assert item["due"]["text"] == "by the end of next week"
    assert item["fulfilled_late"] is None
    overdue = (
        await client.get("/v1/commitments", params={"at": "2017-09-23", "overdue": "true"})
    ).json()
    assert [i["id"] for i in overdue["items"]] == [WARREN]
    # Before the promise was made, it is not on the board at all.
    before = (await client.get("/v1/commitments", params={"at": "2017-09-14"})).json()
    assert WARREN not in [i["id"] for i in before["items"]]


async def test_follow_ups_on_2017_09_23_list_warrens_missed_deadline_first(
    client: httpx.AsyncClient, demo: int
) -> None:
    queue = (await client.get("/v1/follow-ups", params={"at": "2017-09-23"})).json()
    first = queue["items"][0]
    assert first["record"] == {"kind": "commitment", "id": WARREN}
    assert first["reason_code"] == "deadline_passed"
    assert first["since"] == "2017-09-23"
    assert "1 day overdue" in first["reason"]
    reasons = {i["reason_code"] for i in queue["items"]}
    assert {"inquiry_declined", "incident_under_review", "claim_unassessed"} <= reasons
    # A week earlier the same deadline was coming up, not missed.
    earlier = (await client.get("/v1/follow-ups", params={"at": "2017-09-16"})).json()
    upcoming = [i for i in earlier["items"] if i["id"] == WARREN]
    assert [i["reason_code"] for i in upcoming] == ["deadline_upcoming"]


async def test_known_at_shows_what_the_ledger_knew_then(
    client: httpx.AsyncClient, keys: Keys, clock: ManualClock, demo: int
) -> None:
    clock.set(datetime(2017, 9, 26, 15, 0, tzinfo=UTC))
    done = await client.post(
        "/v1/actions",
        json={
            "actor": WARREN_ACTOR,
            "kind": "report_delivered",
            "occurred_at": "2017-09-25",
            "summary": "Warren delivered his recommendations to the mayor",
            "fulfils": [WARREN],
            "sources": [SOURCE],
        },
        headers=bearer(keys.editor),
    )
    assert done.status_code == 201, done.text
    fresh = {"min_position": done.headers["X-Ledger-Position"], "at": "2017-09-26"}
    now = (await client.get("/v1/commitments", params=fresh)).json()
    item = next(i for i in now["items"] if i["id"] == WARREN)
    assert item["status"] == "fulfilled"
    assert item["fulfilled_late"] is True
    assert item["overdue"] is False
    then = (
        await client.get("/v1/commitments", params={**fresh, "known_at": "2017-09-20T00:00:00Z"})
    ).json()
    assert then["known_at"] is not None
    item = next(i for i in then["items"] if i["id"] == WARREN)
    assert item["status"] == "in_progress"
    assert item["overdue"] is True
    assert item["days_overdue"] == 4
    assert item["version"] == 2
    # A single record's GET takes both clocks too.
    record = await client.get(f"/v1/commitments/{WARREN}")
    assert record.headers["ETag"] == '"3"'
    assert record.json()["status"] == "fulfilled"
    old = await client.get(
        f"/v1/commitments/{WARREN}", params={"known_at": "2017-09-20T00:00:00", "at": "2017-09-23"}
    )
    assert old.status_code == 200
    assert old.headers["ETag"] == '"2"'
    assert old.json()["status"] == "in_progress"
    assert old.json()["as_of"]["overdue"] is True
    assert old.json()["as_of"]["days_overdue"] == 1
    world = (await client.get(f"/v1/commitments/{WARREN}", params={"at": "2017-09-24"})).json()
    assert world["as_of"]["status"] == "in_progress"
    assert world["as_of"]["days_overdue"] == 2
    # Before the ledger heard of the promise, it had no such record.
    never = await client.get(f"/v1/commitments/{WARREN}", params={"known_at": "2017-09-01"})
    assert_problem(never, 404, "not-found")


async def test_the_scorecard_and_claim_file_answer_as_of_a_date(
    client: httpx.AsyncClient, demo: int
) -> None:
    card = (
        await client.get("/v1/actors/bryan-warren/scorecard", params={"at": "2017-09-23"})
    ).json()
    assert card["commitments"]["made"] == 1
    assert card["commitments"]["overdue"] == 1
    assert card["directives_assigned"]["made"] == 1
    claim = (await client.get("/v1/claims/conrad-19-of-23/file")).json()
    assert claim["verdict"] == "unsupported"
    assert len(claim["evidence"]["context"]) == 6
    # The founding case was recorded at 18:00; an hour earlier the ledger knew no such claim.
    before = await client.get(
        "/v1/claims/conrad-19-of-23/file", params={"known_at": "2017-09-15T17:00:00Z"}
    )
    assert_problem(before, 404, "not-found")
    unknown = (
        await client.get(
            "/v1/actors/bryan-warren/scorecard", params={"known_at": "2017-09-15T17:00:00Z"}
        )
    ).json()
    assert unknown["commitments"]["made"] == 0


@pytest.mark.parametrize(
    "path", [*(p for p in LISTS if not p.startswith("/v1/events")), "/v1/exports/commitments.csv"]
)
async def test_ledger_times_of_early_years_are_read_not_refused(
    client: httpx.AsyncClient, demo: int, path: str
) -> None:
    """Before anything was recorded, every list is empty (years before 1000 included)."""
    joiner = "&" if "?" in path else "?"
    for known_at in ("0002-01-01T00:00:00Z", "0999-12-31T23:59:59Z"):
        response = await client.get(f"{path}{joiner}known_at={known_at}")
        assert response.status_code == 200, (path, response.text)
        if path.endswith(".csv"):
            assert len(response.text.strip().splitlines()) == 1, path  # the header alone
        else:
            assert response.json()["items"] == [], path
