"""Writing and reading the eight records over HTTP: create, read, change, conditional
writes, idempotent retries, refusals (every one a problem+json that changes nothing)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import Keys
from tests.api.support import (
    CHIEF,
    RESIDENTS,
    Newsroom,
    assert_problem,
    bearer,
    create,
    error_fields,
    log_length,
)

PLURALS = {
    "source": "sources",
    "actor": "actors",
    "commitment": "commitments",
    "claim": "claims",
    "demand": "demands",
    "incident": "incidents",
    "inquiry": "inquiries",
    "action": "actions",
}


@pytest.fixture
async def newsroom(client: httpx.AsyncClient, keys: Keys) -> Newsroom:
    return await Newsroom(client, keys.editor).build()


async def test_creating_each_kind_of_record_answers_201_with_location_etag_and_position(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    room = Newsroom(client, keys.editor)
    positions = []
    for kind in ("source", "actor", "commitment", "claim", "demand", "incident", "inquiry"):
        plural = PLURALS[kind]
        response = await client.post(
            f"/v1/{plural}", json=room.body(kind), headers=bearer(keys.editor)
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["version"] == 1
        assert uuid.UUID(body["id"])
        assert response.headers["Location"] == f"/v1/{plural}/{body['id']}"
        assert response.headers["ETag"] == '"1"'
        positions.append(int(response.headers["X-Ledger-Position"]))
        if kind == "source":
            room.ids["source"] = body["id"]
        elif kind == "actor":
            room.ids["mayor"] = room.ids["actor"] = body["id"]
            for name, other in (("chief", CHIEF), ("residents", RESIDENTS)):
                more = await create(client, keys.editor, "actors", other)
                room.ids[name] = more["id"]
        else:
            room.ids[kind] = body["id"]
        read = await client.get(response.headers["Location"])
        assert read.status_code == 200
        assert read.headers["ETag"] == '"1"'
        assert read.json()["id"] == body["id"]
    action = await client.post(
        "/v1/actions",
        json=room.body("action", fulfils=[room.ids["commitment"]]),
        headers=bearer(keys.editor),
    )
    assert action.status_code == 201, action.text
    assert action.headers["ETag"] == '"1"'
    assert action.headers["Location"] == f"/v1/actions/{action.json()['id']}"
    positions.append(int(action.headers["X-Ledger-Position"]))
    assert positions == sorted(set(positions))
    # The action's link changed its commitment in the same write.
    commitment = await client.get(f"/v1/commitments/{room.ids['commitment']}")
    assert commitment.json()["status"] == "fulfilled"
    assert commitment.headers["ETag"] == '"2"'


async def test_every_change_endpoint_bumps_the_version_it_answers_with(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    ids, sources = newsroom.ids, [newsroom.ids["source"]]
    changes: list[tuple[str, str, dict[str, Any]]] = [
        ("actors", "titles", {"title": "Former mayor", "from": "2020-12-31", "sources": sources}),
        (
            "commitments",
            "deadline",
            {
                "on": "2017-09-29",
                "reason": "the mayor's office asked for another week",
                "granted_by": ids["mayor"],
                "sources": sources,
            },
        ),
        (
            "commitments",
            "status",
            {
                "status": "in_progress",
                "occurred_at": "2017-09-20",
                "reason": "a meeting was scheduled",
                "sources": sources,
            },
        ),
        ("claims", "evidence", {"stance": "context", "sources": sources, "note": "unnamed"}),
        (
            "claims",
            "assessment",
            {"verdict": "unsupported", "rationale": "the calls are not named", "sources": sources},
        ),
        (
            "demands",
            "responses",
            {"status": "acknowledged", "occurred_at": "2017-09-16", "sources": sources},
        ),
        (
            "incidents",
            "review",
            {"status": "under_review", "occurred_at": "2017-09-16", "sources": sources},
        ),
        (
            "inquiries",
            "responses",
            {"status": "declined", "occurred_at": "2017-09-15", "sources": sources},
        ),
        (
            "actions",
            "corrections",
            {"field": "summary", "value": "the mayor spoke", "reason": "shorter", "sources": []},
        ),
        ("sources", "redaction", {"reason": "a private person's name", "fields": ["title"]}),
        ("incidents", "retraction", {"reason": "recorded in error"}),
    ]
    for plural, suffix, body in changes:
        kind = next(k for k, p in PLURALS.items() if p == plural)
        rid = ids["mayor"] if kind == "actor" else ids[kind]
        before = await client.get(f"/v1/{plural}/{rid}")
        version = int(before.headers["ETag"].strip('"'))
        response = await client.post(
            f"/v1/{plural}/{rid}/{suffix}",
            json=body,
            headers={**bearer(keys.editor), "If-Match": before.headers["ETag"]},
        )
        assert response.status_code == 200, (plural, suffix, response.text)
        assert response.headers["ETag"] == f'"{version + 1}"', (plural, suffix)
        assert response.json()["version"] == version + 1
        assert int(response.headers["X-Ledger-Position"]) > 0
    redacted = (await client.get(f"/v1/sources/{ids['source']}")).json()
    assert redacted["title"] == "[redacted]"
    retracted = (await client.get(f"/v1/incidents/{ids['incident']}")).json()
    assert retracted["retracted"] is True


async def test_if_match_is_accepted_quoted_or_not(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    cid, sources = newsroom.ids["commitment"], [newsroom.ids["source"]]
    read = await client.get(f"/v1/commitments/{cid}")
    assert read.headers["ETag"] == '"1"'
    quoted = await client.post(
        f"/v1/commitments/{cid}/status",
        json={
            "status": "in_progress",
            "occurred_at": "2017-09-16",
            "reason": "meeting set",
            "sources": sources,
        },
        headers={**bearer(keys.editor), "If-Match": '"1"'},
    )
    assert quoted.status_code == 200, quoted.text
    assert quoted.headers["ETag"] == '"2"'
    bare = await client.post(
        f"/v1/commitments/{cid}/status",
        json={
            "status": "stalled",
            "occurred_at": "2017-09-18",
            "reason": "meeting postponed",
            "sources": sources,
        },
        headers={**bearer(keys.editor), "If-Match": "2"},
    )
    assert bare.status_code == 200, bare.text
    assert bare.headers["ETag"] == '"3"'
    assert (await client.get(f"/v1/commitments/{cid}")).json()["status"] == "stalled"


async def test_a_stale_if_match_gets_412_and_writes_nothing(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    cid, sources = newsroom.ids["commitment"], [newsroom.ids["source"]]
    status = {
        "status": "in_progress",
        "occurred_at": "2017-09-16",
        "reason": "meeting set",
        "sources": sources,
    }
    first = await client.post(
        f"/v1/commitments/{cid}/status",
        json=status,
        headers={**bearer(keys.editor), "If-Match": '"1"'},
    )
    assert first.status_code == 200
    before = await log_length(client)
    stale = await client.post(
        f"/v1/commitments/{cid}/status",
        json={**status, "status": "withdrawn", "reason": "dropped"},
        headers={**bearer(keys.editor), "If-Match": '"1"'},
    )
    body = assert_problem(stale, 412, "stale-version")
    assert body["current_version"] == 2
    assert "X-Ledger-Position" not in stale.headers
    assert await log_length(client) == before
    now = await client.get(f"/v1/commitments/{cid}")
    assert now.json()["status"] == "in_progress"
    assert now.headers["ETag"] == '"2"'


async def test_a_malformed_if_match_is_invalid_input(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    response = await client.post(
        f"/v1/actors/{newsroom.ids['mayor']}/titles",
        json={"title": "Former mayor", "from": "2020-12-31", "sources": []},
        headers={**bearer(keys.editor), "If-Match": "version-one"},
    )
    assert "If-Match" in error_fields(assert_problem(response, 422))


async def test_an_empty_idempotency_key_or_version_zero_is_invalid_input(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    count = await log_length(client)
    empty_key = await client.post(
        "/v1/sources",
        json=newsroom.body("source"),
        headers={**bearer(keys.editor), "Idempotency-Key": ""},
    )
    assert "Idempotency-Key" in error_fields(assert_problem(empty_key, 422, "invalid-input"))
    version_zero = await client.post(
        f"/v1/sources/{newsroom.ids['source']}/retraction",
        json={"reason": "recorded in error"},
        headers={**bearer(keys.editor), "If-Match": '"0"'},
    )
    assert "If-Match" in error_fields(assert_problem(version_zero, 422, "invalid-input"))
    assert await log_length(client) == count


async def test_an_idempotent_retry_returns_the_first_response_and_appends_nothing(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    headers = {**bearer(keys.editor), "Idempotency-Key": "claim-2017-09-15-a"}
    body = newsroom.body("claim", text="LMPD does not enforce immigration law")
    first = await client.post("/v1/claims", json=body, headers=headers)
    assert first.status_code == 201
    count = await log_length(client)
    retry = await client.post("/v1/claims", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    for header in ("X-Ledger-Position", "ETag", "Location"):
        assert retry.headers[header] == first.headers[header]
    assert await log_length(client) == count
    fresh = {"limit": 500, "min_position": first.headers["X-Ledger-Position"]}
    claims = (await client.get("/v1/claims", params=fresh)).json()["items"]
    assert sum(1 for c in claims if c["text"] == body["text"]) == 1


async def test_an_idempotent_retry_of_a_change_appends_nothing(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    cid = newsroom.ids["claim"]
    headers = {**bearer(keys.editor), "Idempotency-Key": "evidence-1"}
    body = {"stance": "contradicts", "sources": [newsroom.ids["source"]], "note": "video"}
    first = await client.post(f"/v1/claims/{cid}/evidence", json=body, headers=headers)
    assert first.status_code == 200
    count = await log_length(client)
    retry = await client.post(f"/v1/claims/{cid}/evidence", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["X-Ledger-Position"] == first.headers["X-Ledger-Position"]
    assert await log_length(client) == count


async def test_the_same_idempotency_key_with_another_body_gets_422(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    headers = {**bearer(keys.editor), "Idempotency-Key": "source-once"}
    first = await client.post("/v1/sources", json=newsroom.body("source"), headers=headers)
    assert first.status_code == 201
    count = await log_length(client)
    other = await client.post(
        "/v1/sources", json={**newsroom.body("source"), "title": "Another story"}, headers=headers
    )
    body = assert_problem(other, 422, "idempotency-key-reused")
    assert "Idempotency-Key" in error_fields(body)
    assert await log_length(client) == count


async def test_a_move_the_status_rules_forbid_gets_409_with_a_clear_detail(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    cid, sources = newsroom.ids["commitment"], [newsroom.ids["source"]]
    withdrawn = await client.post(
        f"/v1/commitments/{cid}/status",
        json={
            "status": "withdrawn",
            "occurred_at": "2017-09-20",
            "reason": "the mayor dropped it",
            "sources": sources,
        },
        headers=bearer(keys.editor),
    )
    assert withdrawn.status_code == 200
    count = await log_length(client)
    refused = await client.post(
        f"/v1/commitments/{cid}/status",
        json={
            "status": "in_progress",
            "occurred_at": "2017-09-21",
            "reason": "revived",
            "sources": sources,
        },
        headers=bearer(keys.editor),
    )
    body = assert_problem(refused, 409, "rule-violation")
    assert "withdrawn" in body["detail"] and "in_progress" in body["detail"]
    assert "status" in error_fields(body)
    # A link from an action is refused the same way, and the action is not recorded either.
    linked = await client.post(
        "/v1/actions", json=newsroom.body("action", fulfils=[cid]), headers=bearer(keys.editor)
    )
    body = assert_problem(linked, 409, "rule-violation")
    assert "fulfils" in body["detail"] and "withdrawn" in body["detail"]
    assert await log_length(client) == count


async def test_a_reference_to_a_missing_record_is_invalid_input(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    count = await log_length(client)
    missing = await client.post(
        "/v1/claims",
        json=newsroom.body("claim", made_by=str(uuid.uuid4())),
        headers=bearer(keys.editor),
    )
    body = assert_problem(missing, 422, "invalid-input")
    assert "made_by" in error_fields(body)
    assert "no actor" in body["detail"]
    assert await log_length(client) == count


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("commitment", {"made_by": None}, "made_by"),
        ("commitment", {"kind": "vow"}, "kind"),
        ("commitment", {"made_at": "15 September"}, "made_at"),
        ("commitment", {"due": {"on": "2017-09-22", "text": "next week"}}, "due"),
        ("commitment", {"sources": "not-a-list"}, "sources"),
        ("commitment", {"topics": ["Not A Slug"]}, "topics.0"),
        ("commitment", {"mood": "hopeful"}, "mood"),
        ("source", {"url": "not a url"}, "url"),
        ("source", {"sha256": "xyz"}, "sha256"),
        ("inquiry", {"follow_up_after": -1}, "follow_up_after"),
        ("action", {"tally": {"yes": -3, "no": 1}}, "tally.yes"),
        ("actor", {"name": ""}, "name"),
        ("demand", {"addressed_to": "actor/nobody-here"}, "addressed_to"),
    ],
)
async def test_an_invalid_body_gets_422_naming_the_field(
    client: httpx.AsyncClient,
    keys: Keys,
    newsroom: Newsroom,
    kind: str,
    change: dict[str, Any],
    field: str,
) -> None:
    count = await log_length(client)
    body = {k: v for k, v in {**newsroom.body(kind), **change}.items() if v is not None}
    response = await client.post(f"/v1/{PLURALS[kind]}", json=body, headers=bearer(keys.editor))
    problem = assert_problem(response, 422, "invalid-input")
    assert any(f == field or f.startswith(field + ".") for f in error_fields(problem)), problem
    assert all(e["reason"] for e in problem["errors"])
    assert await log_length(client) == count


async def test_a_body_that_is_not_json_gets_422(client: httpx.AsyncClient, keys: Keys) -> None:
    response = await client.post(
        "/v1/sources",
        content=b"{not json",
        headers={**bearer(keys.editor), "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "invalid-input")


async def test_a_body_that_is_not_utf8_gets_422(client: httpx.AsyncClient, keys: Keys) -> None:
    count = await log_length(client)
    response = await client.post(
        "/v1/sources",
        content=b'{"title": "caf\xe9"}',
        headers={**bearer(keys.editor), "Content-Type": "application/json"},
    )
    assert "body" in error_fields(assert_problem(response, 422, "invalid-input"))
    assert await log_length(client) == count


async def test_text_with_a_nul_character_is_refused_and_the_views_keep_following(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    count = await log_length(client)
    for plural, body, field in (
        ("sources", newsroom.body("source", title="Sanctuary\u0000push"), "title"),
        ("claims", newsroom.body("claim", text="acted properly\u0000"), "text"),
        (
            "commitments",
            newsroom.body("commitment", due={"on": "2017-09-22"}, text="\u0000"),
            "text",
        ),
        (
            "commitments",
            newsroom.body("commitment", due={"on": "2017-09-22", "text": "\u0000", "basis": "b"}),
            "due",
        ),
    ):
        response = await client.post(f"/v1/{plural}", json=body, headers=bearer(keys.editor))
        assert field in error_fields(assert_problem(response, 422, "invalid-input"))
    assert await log_length(client) == count
    after = await client.post(
        "/v1/sources", json=newsroom.body("source"), headers=bearer(keys.editor)
    )
    fresh = {"min_position": after.headers["X-Ledger-Position"]}
    assert (await client.get("/v1/sources", params=fresh)).status_code == 200


async def test_unknown_ids_and_paths_get_404(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    nobody = str(uuid.uuid4())
    for path in (
        f"/v1/commitments/{nobody}",
        f"/v1/commitments/{nobody}/history",
        "/v1/claims/no-such-claim",
        f"/v1/actors/{nobody}/scorecard",
        f"/v1/claims/{nobody}/file",
        f"/v1/claims/{nobody}/claimreview",
        # A record of another kind is not found under this kind's path.
        f"/v1/claims/{newsroom.ids['commitment']}",
        "/v1/nowhere",
    ):
        assert_problem(await client.get(path), 404, "not-found")
    count = await log_length(client)
    response = await client.post(
        f"/v1/commitments/{nobody}/status",
        json={
            "status": "broken",
            "occurred_at": "2017-09-20",
            "reason": "x",
            "sources": [newsroom.ids["source"]],
        },
        headers=bearer(keys.editor),
    )
    assert_problem(response, 404, "not-found")
    assert await log_length(client) == count


async def test_history_lists_every_event_of_a_record_oldest_first(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    cid = newsroom.ids["commitment"]
    await create(client, keys.editor, "actions", newsroom.body("action", breaks=[cid]))
    history = (await client.get(f"/v1/commitments/{cid}/history")).json()
    assert set(history) == {"items", "next"}
    assert [e["type"] for e in history["items"]] == [
        "commitment.made",
        "commitment.status_changed",
    ]
    assert [e["version"] for e in history["items"]] == [1, 2]
    assert history["items"][1]["data"]["status"] == "broken"
    assert all(e["record"] == {"kind": "commitment", "id": cid} for e in history["items"])


async def test_history_pages_oldest_first_with_cursors(
    client: httpx.AsyncClient, keys: Keys, newsroom: Newsroom
) -> None:
    cid = newsroom.ids["commitment"]
    for status in ("in_progress", "stalled", "in_progress", "stalled"):
        response = await client.post(
            f"/v1/commitments/{cid}/status",
            json={
                "status": status,
                "occurred_at": "2017-09-20",
                "reason": f"now {status}",
                "sources": [newsroom.ids["source"]],
            },
            headers=bearer(keys.editor),
        )
        assert response.status_code in (200, 201), response.text
    whole = (await client.get(f"/v1/commitments/{cid}/history", params={"limit": 500})).json()
    assert whole["next"] is None
    assert [e["version"] for e in whole["items"]] == [1, 2, 3, 4, 5]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/v1/commitments/{cid}/history", params=params)).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == whole["items"]
    forged = await client.get(f"/v1/commitments/{cid}/history", params={"cursor": "nope"})
    assert "cursor" in error_fields(assert_problem(forged, 422, "invalid-input"))
