"""The global log over HTTP: pages of `/v1/events` and the Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.services import Services
from tests.api.conftest import Keys
from tests.api.support import Newsroom, StreamingASGITransport, bearer, log_events, read_sse


@pytest.fixture
async def streaming(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose responses stream, for the endless SSE endpoint."""
    transport = StreamingASGITransport(create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=10) as c:
        yield c


async def test_event_positions_strictly_increase_across_pages(
    client: httpx.AsyncClient, keys: Keys, demo: int
) -> None:
    await Newsroom(client, keys.editor).build()
    events = await log_events(client)
    positions = [e["position"] for e in events]
    assert len(positions) == 46 + 10
    assert all(a < b for a, b in itertools.pairwise(positions))
    for event in events:
        assert set(event) >= {
            "position",
            "type",
            "record",
            "version",
            "occurred_at",
            "recorded_at",
            "recorded_by",
            "data",
        }
    assert events[0]["type"] == "source.registered"
    assert {e["recorded_by"] for e in events[-10:]} == {"key:desk"}
    after = (await client.get("/v1/events", params={"after": positions[9], "limit": 3})).json()
    assert [e["position"] for e in after["items"]] == positions[10:13]
    assert after["next"] == str(positions[12])


async def test_the_stream_sends_id_event_and_data_lines(
    client: httpx.AsyncClient, streaming: httpx.AsyncClient, demo: int
) -> None:
    log = (await client.get("/v1/events", params={"limit": 5})).json()["items"]
    response, events = await read_sse(streaming, 5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [int(e["id"]) for e in events] == [e["position"] for e in log]
    assert [e["event"] for e in events] == [e["type"] for e in log]
    assert [json.loads(e["data"]) for e in events] == log


async def test_the_stream_resumes_after_last_event_id(
    client: httpx.AsyncClient, streaming: httpx.AsyncClient, demo: int
) -> None:
    log = (await client.get("/v1/events", params={"limit": 10})).json()["items"]
    _, first = await read_sse(streaming, 3)
    _, resumed = await read_sse(streaming, 4, headers={"Last-Event-ID": first[-1]["id"]})
    assert [int(e["id"]) for e in resumed] == [e["position"] for e in log[3:7]]


async def test_the_stream_sends_events_written_while_it_is_open(
    streaming: httpx.AsyncClient, client: httpx.AsyncClient, keys: Keys, demo: int
) -> None:
    reading = asyncio.create_task(read_sse(streaming, 1, headers={"Last-Event-ID": str(demo)}))
    await asyncio.sleep(0.7)  # the stream has found nothing new and is waiting
    assert not reading.done()
    room = Newsroom(client, keys.editor)
    written = await client.post(
        "/v1/sources", json=room.body("source"), headers=bearer(keys.editor)
    )
    _, events = await reading
    assert events[0]["id"] == written.headers["X-Ledger-Position"]
    assert events[0]["event"] == "source.registered"
    assert json.loads(events[0]["data"])["record"]["id"] == written.json()["id"]
