"""HTTP around the edges: CORS, body limits, liveness and readiness."""

from __future__ import annotations

import httpx

from tests.api.conftest import Keys, OpenServices, client_for
from tests.api.support import Newsroom, assert_problem, bearer, import_demo, log_length


async def test_a_cross_origin_get_is_allowed_from_anywhere(
    client: httpx.AsyncClient, demo: int
) -> None:
    response = await client.get("/v1/commitments", headers={"Origin": "https://example.org"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "X-Ledger-Position" in response.headers["access-control-expose-headers"]
    preflight = await client.options(
        "/v1/commitments",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"


async def test_a_body_over_the_limit_gets_413_and_writes_nothing(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    room = Newsroom(client, keys.editor)
    count = await log_length(client)
    excerpts = ["x" * 10_000] * 30  # 300 kB: over the 256 KiB limit
    response = await client.post(
        "/v1/sources",
        json={**room.body("source"), "excerpts": excerpts},
        headers=bearer(keys.editor),
    )
    assert_problem(response, 413, "body-too-large")
    assert await log_length(client) == count


async def test_healthz_answers_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_200_when_the_views_have_caught_up(
    client: httpx.AsyncClient, demo: int
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["position"] == demo
    assert {"records", "timeline"} <= set(body["lag"])
    assert set(body["lag"].values()) == {0}


async def test_readyz_answers_503_while_a_follower_lags(open_services: OpenServices) -> None:
    services = open_services(followers=False, ready_max_lag=0)
    head = import_demo(services)
    async with client_for(services) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.json()
    assert body["status"] == "lagging"
    assert {"records", "timeline"} <= set(body["lag"])
    assert set(body["lag"].values()) == {head}
    # Once the views catch up, it is ready again.
    services.followers.catch_up()
    async with client_for(services) as client:
        assert (await client.get("/readyz")).status_code == 200


async def test_readyz_answers_503_when_the_store_is_unreachable(
    open_services: OpenServices,
) -> None:
    services = open_services(followers=False)
    async with client_for(services) as client:
        assert (await client.get("/readyz")).status_code == 200
        services.ledger.close()  # the event store's connections are gone
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["store"].startswith("unreachable")
