"""Who may write: every write endpoint of the OpenAPI spec refuses callers without an editor
key (and keys need admin), changing nothing; writes are rate-limited per key."""

from __future__ import annotations

import re

import httpx

from api.app import create_app
from api.services import Services
from ledger.domain import PLURALS
from tests.api.conftest import Keys, OpenServices, client_for
from tests.api.support import Newsroom, assert_problem, bearer, log_length

WARREN = "warren-recommendations"
RECORD_PLURALS = set(PLURALS.values())


def write_paths(services: Services) -> list[str]:
    """Every POST path of the OpenAPI spec, with a path id filled in."""
    spec = create_app(services).openapi()
    paths = [p for p, ops in spec["paths"].items() if "post" in ops]
    return [re.sub(r"\{[^}]+\}", WARREN, p) for p in paths]


def refusals(keys: Keys) -> list[tuple[str, dict[str, str], int, str]]:
    """(case, headers, status, problem type) of each caller that must be refused."""
    return [
        ("no key", {}, 401, "unauthorized"),
        ("unknown key", bearer("lk_never-issued"), 401, "unauthorized"),
        ("malformed header", {"Authorization": f"Token {keys.editor}"}, 401, "unauthorized"),
        ("empty bearer", {"Authorization": "Bearer "}, 401, "unauthorized"),
        ("reader key", bearer(keys.reader), 403, "insufficient-scope"),
        ("revoked key", bearer(keys.revoked), 403, "key-revoked"),
    ]


async def test_every_write_endpoint_refuses_callers_without_an_editor_key(
    client: httpx.AsyncClient, services: Services, keys: Keys, demo: int
) -> None:
    paths = write_paths(services)
    assert len(paths) >= 8 + 8 + 3 * 8
    count = await log_length(client)
    keys_before = len(services.admin.list_keys())
    wrong: list[str] = []
    for path in paths:
        for case, headers, status, slug in refusals(keys):
            response = await client.post(path, json={}, headers=headers)
            if response.status_code != status:
                wrong.append(f"{path} with {case}: {response.status_code} {response.text}")
                continue
            assert_problem(response, status, slug)
            if status == 401:
                assert response.headers["WWW-Authenticate"] == "Bearer"
    assert wrong == []
    assert await log_length(client) == count
    # The record endpoints are there: an editor gets past the door (to the body check).
    for path in paths:
        if path.split("/")[2] in RECORD_PLURALS:
            allowed = await client.post(path, json={}, headers=bearer(keys.editor))
            assert allowed.status_code == 422, (path, allowed.text)
    assert len(services.admin.list_keys()) == keys_before


async def test_the_keys_endpoints_need_an_admin_key(
    client: httpx.AsyncClient, services: Services, keys: Keys
) -> None:
    for method, path, body in (
        ("POST", "/v1/keys", {"name": "intern", "scope": "editor"}),
        ("GET", "/v1/keys", None),
        ("GET", "/v1/keys/audit", None),
        ("POST", "/v1/keys/desk/revoke", {"reason": "no"}),
    ):
        for key, status in ((None, 401), (keys.reader, 403), (keys.editor, 403)):
            headers = bearer(key) if key else {}
            response = await client.request(method, path, json=body, headers=headers)
            assert_problem(response, status)
    assert {k.name for k in services.admin.list_keys()} == {"gone", "desk", "root", "viewer"}
    assert all(k.active for k in services.admin.list_keys() if k.name != "gone")
    # An admin may do all of it; key material is shown once, at creation.
    issued = await client.post(
        "/v1/keys", json={"name": "intern", "scope": "editor"}, headers=bearer(keys.admin)
    )
    assert issued.status_code == 201, issued.text
    new_key = issued.json()["key"]
    listed = (await client.get("/v1/keys", headers=bearer(keys.admin))).json()["items"]
    assert "intern" in {k["name"] for k in listed}
    assert all("key" not in k for k in listed)
    room = Newsroom(client, new_key)
    assert (
        await client.post("/v1/sources", json=room.body("source"), headers=bearer(new_key))
    ).status_code == 201
    revoked = await client.post(
        "/v1/keys/intern/revoke", json={"reason": "internship over"}, headers=bearer(keys.admin)
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await client.post("/v1/sources", json=room.body("source"), headers=bearer(new_key))
    assert_problem(refused, 403, "key-revoked")
    audit = (await client.get("/v1/keys/audit", headers=bearer(keys.admin))).json()["items"]
    assert [a["name"] for a in audit if a["type"].endswith("Issued")][-1] == "intern"


async def test_the_third_quick_write_of_a_key_gets_429_with_retry_after(
    open_services: OpenServices,
) -> None:
    services = open_services(write_rate=0.001, write_burst=2)
    key = services.admin.create_key(name="burst", scope="editor", recorded_by="cli:test").key
    async with client_for(services) as client:
        room = Newsroom(client, key)
        answers = [
            await client.post(
                "/v1/sources", json={**room.body("source"), "title": f"n{i}"}, headers=bearer(key)
            )
            for i in range(3)
        ]
        assert [a.status_code for a in answers[:2]] == [201, 201]
        assert_problem(answers[2], 429, "rate-limited")
        assert int(answers[2].headers["Retry-After"]) >= 1
        assert await log_length(client) == 2
        # Reads are not limited.
        assert (await client.get("/v1/sources")).status_code == 200
        # Another key has a bucket of its own.
        other = services.admin.create_key(name="other", scope="editor", recorded_by="cli:test")
        response = await client.post(
            "/v1/sources", json=room.body("source"), headers=bearer(other.key)
        )
        assert response.status_code == 201
