"""Helpers of the HTTP tests: headers, problem checks, counting the log over HTTP."""

from __future__ import annotations

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


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
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
