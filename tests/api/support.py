"""Helpers of the HTTP tests: headers, problem checks, counting the log over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from api.services import Services
from ledger.cli import read_commands

DEMO_FILE = Path(__file__).resolve().parents[2] / "ledger" / "demo" / "louisville-2017.jsonl"
PROBLEM = "application/problem+json"
WARREN_PROMISE = "commitment/warren-recommendations"


def import_demo(services: Services) -> int:
    commands, problems = read_commands(DEMO_FILE)
    assert not problems
    result = services.ledger.import_commands([c for _, c in commands], principal="cli:test")
    assert not result.errors
    return services.ledger.last_position()


def wait_caught_up(services: Services, timeout: float = 10.0) -> None:
    """Wait until every follower has reached the head of the log."""
    deadline = time.monotonic() + timeout
    while any(services.followers.lag().values()):
        assert time.monotonic() < deadline, services.followers.lag()
        time.sleep(0.02)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem of `status` (and type `slug`); returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    for member in ("type", "title", "status", "detail"):
        assert member in body, body
    assert body["status"] == status
    assert body["detail"]
    if slug is not None:
        assert body["type"].endswith("/" + slug), body
    return body


async def log_events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every event of `/v1/events`, following its pages."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await client.get("/v1/events", params={"after": after, "limit": 500})).json()
        items += page["items"]
        if page["next"] is None:
            return items
        after = int(page["next"])


async def log_length(client: httpx.AsyncClient) -> int:
    return len(await log_events(client))


def error_fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


async def create(
    client: httpx.AsyncClient, key: str, plural: str, body: dict[str, Any]
) -> dict[str, Any]:
    """POST a new record; checks the 201 and returns its body."""
    response = await client.post(f"/v1/{plural}", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class Newsroom:
    """A small world built over HTTP: a story, two people, a group, and one of each record."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.client = client
        self.key = key
        self.ids: dict[str, str] = {}

    async def build(self) -> Newsroom:
        c, k = self.client, self.key
        source = await create(c, k, "sources", SOURCE)
        self.ids["source"] = source["id"]
        for name, body in (("mayor", MAYOR), ("chief", CHIEF), ("residents", RESIDENTS)):
            actor = await create(c, k, "actors", {**body, "sources": [source["id"]]})
            self.ids[name] = actor["id"]
        self.ids["actor"] = self.ids["mayor"]
        for kind, plural in (
            ("commitment", "commitments"),
            ("claim", "claims"),
            ("demand", "demands"),
            ("incident", "incidents"),
            ("inquiry", "inquiries"),
            ("action", "actions"),
        ):
            self.ids[kind] = (await create(c, k, plural, self.body(kind)))["id"]
        return self

    def body(self, kind: str, **extra: Any) -> dict[str, Any]:
        """A valid create body of `kind` over this newsroom's records."""
        ids = self.ids
        sources = [ids["source"]] if "source" in ids else []
        bodies: dict[str, dict[str, Any]] = {
            "source": SOURCE,
            "actor": {**MAYOR, "sources": sources},
            "commitment": {
                "kind": "directive",
                "made_by": ids.get("mayor"),
                "assignee": ids.get("chief"),
                "text": "meet with ICE and clarify its role",
                "made_at": "2017-09-08",
                "precision": "week",
                "due": {
                    "on": "2017-09-22",
                    "text": "by the end of next week",
                    "precision": "week",
                    "basis": "said Friday 2017-09-15; end of next week = Friday 2017-09-22",
                },
                "topics": ["lmpd-ice-cooperation"],
                "sources": sources,
            },
            "claim": {
                "made_by": ids.get("chief"),
                "text": "officers acted properly in 19 of the 23 calls",
                "made_at": "2017-09-08",
                "topics": ["lmpd-ice-cooperation"],
                "sources": sources,
            },
            "demand": {
                "demanded_by": ids.get("residents"),
                "addressed_to": ids.get("mayor"),
                "text": "a written commitment not to sign a 287(g) agreement",
                "made_at": "2017-09-14",
                "topics": ["287g"],
                "sources": sources,
            },
            "incident": {
                "occurred_at": "2017-04-01",
                "precision": "month",
                "place": "Louisville",
                "actors": [ids.get("chief")],
                "description": "officers knocked on a door before ICE agents arrived",
                "topics": ["lmpd-ice-cooperation"],
                "sources": sources,
            },
            "inquiry": {
                "asked_by": ids.get("residents"),
                "asked_to": ids.get("chief"),
                "question": "which four calls are still under review?",
                "asked_at": "2017-09-08",
                "follow_up_after": 7,
                "sources": sources,
            },
            "action": {
                "actor": ids.get("mayor"),
                "kind": "statement",
                "occurred_at": "2017-09-14",
                "summary": "the mayor spoke about the report",
                "topics": ["lmpd-ice-cooperation"],
                "sources": sources,
            },
        }
        return {**bodies[kind], **extra}


SOURCE = {"url": "https://example.org/kycir/2017-09-15", "title": "Sanctuary push", "topics": []}
MAYOR = {"name": "Greg Fischer", "kind": "person", "title": "Mayor"}
CHIEF = {"name": "Steve Conrad", "kind": "person", "title": "Chief of Police"}
RESIDENTS = {"name": "Residents at Metro Council", "kind": "organization"}


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """An ASGI transport that hands the response body over as the app sends it.

    `httpx.ASGITransport` waits for the whole body, so an endless Server-Sent Events stream
    would never answer; here the app runs as a task, its body chunks arrive through a
    queue, and closing the response tells the app the client went away."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": ("127.0.0.1", 123),
            "root_path": "",
        }
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        gone = asyncio.Event()
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], message.get("headers", [])))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await chunks.put(message["body"])
                if not message.get("more_body", False):
                    await chunks.put(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as e:
                if not started.done():
                    started.set_exception(e)
                raise
            finally:
                await chunks.put(None)

        task = asyncio.create_task(run())
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_Body(chunks, gone, task))


class _Body(httpx.AsyncByteStream):
    def __init__(
        self, chunks: asyncio.Queue[bytes | None], gone: asyncio.Event, task: asyncio.Task[None]
    ) -> None:
        self.chunks, self.gone, self.task = chunks, gone, task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self.gone.set()
        try:
            await asyncio.wait_for(self.task, timeout=5)
        except TimeoutError:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def read_sse(
    client: httpx.AsyncClient, count: int, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, list[dict[str, str]]]:
    """The first `count` events of `/v1/events/stream` (each its `id`, `event`, `data`),
    read within a bounded time, then the stream is closed."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with asyncio.timeout(15):
        async with client.stream("GET", "/v1/events/stream", headers=headers) as response:
            async for line in response.aiter_lines():
                if line == "":
                    if "id" in current:
                        events.append(current)
                    current = {}
                    if len(events) >= count:
                        break
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")
    return response, events
