"""Fixtures of the HTTP tests: the app over real services on each store, and keys of every
scope. Requests go through `httpx.AsyncClient` over ASGI; the followers run in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from api.app import create_app
from api.services import Services
from api.settings import ApiSettings
from ledger.clock import ManualClock
from ledger.config import Settings
from tests.api.support import import_demo, wait_caught_up

OpenServices = Callable[..., Services]


@dataclass(frozen=True)
class Keys:
    editor: str
    admin: str
    reader: str
    revoked: str


@pytest.fixture
def open_services(store_url: str, clock: ManualClock) -> Iterator[OpenServices]:
    """Opens services on this test's store (followers started unless told not to) and
    closes every one of them after the test."""
    opened: list[Services] = []

    def open_(*, followers: bool = True, **api: object) -> Services:
        settings = {"write_rate": 1000, "write_burst": 1000, "wait_seconds": 2, **api}
        services = Services.open(
            Settings(database_url=store_url), api=ApiSettings(**settings), clock=clock
        )
        opened.append(services)
        if followers:
            services.start_followers(poll=0.05)
        return services

    yield open_
    for services in reversed(opened):
        services.close()


@pytest.fixture
def services(open_services: OpenServices) -> Services:
    return open_services()


@pytest.fixture
def keys(services: Services) -> Keys:
    def make(name: str, scope: str) -> str:
        return services.admin.create_key(name=name, scope=scope, recorded_by="cli:test").key

    revoked = make("gone", "editor")
    services.admin.revoke_key("gone", reason="left the newsroom", recorded_by="cli:test")
    return Keys(
        editor=make("desk", "editor"),
        admin=make("root", "admin"),
        reader=make("viewer", "reader"),
        revoked=revoked,
    )


def client_for(services: Services) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(services)),
        base_url="http://test",
        timeout=10,
    )


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(services) as c:
        yield c


@pytest.fixture
def demo(services: Services) -> int:
    """The founding case, imported as the CLI would, and the views caught up with it;
    returns the head position."""
    head = import_demo(services)
    wait_caught_up(services)
    return head
