"""Webhooks against a real HTTP receiver on 127.0.0.1 that checks every signature with the
`standardwebhooks` library; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.services import Services
from ledger.clock import ManualClock
from ledger.config import Settings
from ledger.webhooks import WebhookSubscription
from projections.outbox import Sender
from tests.contract.helpers import run, seed


class Receiver:
    """Records every whole request; answers with `respond(n)` -> (status, headers)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.respond: Callable[[int], tuple[int, dict[str, str]]] = lambda n: (200, {})
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The sender died mid-request: a truncated request is no delivery.
                    self.close_connection = True
                    return
                body = raw.decode()
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "path": self.path}
                )
                status, headers = receiver.respond(len(receiver.requests))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Bodies of the requests whose signature verifies with `secret`."""
        out = []
        for request in self.requests:
            headers = {k.lower(): v for k, v in request["headers"].items()}
            out.append(Webhook(secret).verify(request["body"], headers))
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hooked(store_url: str, clock: ManualClock) -> Iterator[Services]:
    settings = Settings(database_url=store_url, webhook_allow_private=True)
    services = Services.open(settings, clock=clock)
    seed(services.ledger)
    yield services
    services.close()


def subscribe(services: Services, url: str, **kw: Any) -> WebhookSubscription:
    return services.admin.create_subscription(
        url=url,
        types=kw.get("types", ["*"]),
        actors=kw.get("actors", []),
        topics=kw.get("topics", []),
        description=None,
        enabled=True,
        from_position=services.ledger.last_position(),
        recorded_by="cli:test",
    )


def sender(services: Services, **kw: Any) -> Sender:
    return Sender(services.followers.views["outbox"], services.admin, services.ledger.clock, **kw)


def status_change(services: Services, status: str = "in_progress") -> int:
    return run(
        services.ledger,
        "commitment.status",
        "commitment/meet-ice",
        status=status,
        occurred_at="2017-09-18",
        reason="update",
        sources=["source/article"],
    ).position


def test_matching_events_arrive_once_each_signed_and_verifiable(
    hooked: Services, receiver: Receiver
) -> None:
    sub = subscribe(hooked, receiver.url, types=["commitment.*"])
    position = status_change(hooked)
    run(
        hooked.ledger,
        "claim.evidence",
        "claim/19-of-23",
        stance="context",
        sources=["source/article"],
    )
    hooked.followers.catch_up()
    send = sender(hooked, allow_private=True)
    try:
        assert send.run_once() == 1
        assert send.run_once() == 0
    finally:
        send.close()
    (body,) = receiver.verified(sub.secret)
    assert body["version"] == 1
    assert body["type"] == "commitment.status_changed"
    assert body["position"] == position
    assert body["data"]["status"] == "in_progress"
    assert body["links"]["history"].endswith("/history")
    assert len(body["leaf_hash"]) == 64
    headers = {k.lower(): v for k, v in receiver.requests[0]["headers"].items()}
    assert headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(receiver.requests[0]["body"], headers)


def test_an_outage_delays_but_loses_nothing(
    hooked: Services, receiver: Receiver, clock: ManualClock
) -> None:
    sub = subscribe(hooked, receiver.url)
    down = {"until": 6}
    receiver.respond = lambda n: (503, {}) if n <= down["until"] else (200, {})
    for status in ("in_progress", "stalled", "in_progress"):
        status_change(hooked, status)
    hooked.followers.catch_up()
    send = sender(hooked, allow_private=True)
    try:
        for _ in range(12):
            send.run_once()
            clock.advance(timedelta(hours=3))
    finally:
        send.close()
    delivered = [b["position"] for b in receiver.verified(sub.secret) if b]
    assert len(receiver.requests) > 3
    items, _ = hooked.followers.outbox.deliveries(str(sub.id))
    assert {i["status"] for i in items} == {"delivered"}
    assert sorted(set(delivered)) == sorted(i["position"] for i in items)
    assert sum(len(i["attempts"]) for i in items) == len(receiver.requests)
    failed = [a for i in items for a in i["attempts"] if a["status_code"] == 503]
    assert len(failed) == 6 and all(a["next_attempt_at"] for a in failed)


def test_retry_after_is_honoured(hooked: Services, receiver: Receiver, clock: ManualClock) -> None:
    sub = subscribe(hooked, receiver.url)
    receiver.respond = lambda n: (429, {"Retry-After": "7200"}) if n == 1 else (200, {})
    status_change(hooked)
    hooked.followers.catch_up()
    send = sender(hooked, allow_private=True)
    try:
        send.run_once()
        clock.advance(timedelta(minutes=90))
        assert send.run_once() == 0
        clock.advance(timedelta(minutes=31))
        assert send.run_once() == 1
    finally:
        send.close()
    items, _ = hooked.followers.outbox.deliveries(str(sub.id))
    assert items[0]["status"] == "delivered"


def test_410_gone_disables_the_subscription(hooked: Services, receiver: Receiver) -> None:
    sub = subscribe(hooked, receiver.url)
    receiver.respond = lambda n: (410, {})
    status_change(hooked)
    hooked.followers.catch_up()
    send = sender(hooked, allow_private=True)
    try:
        send.run_once()
    finally:
        send.close()
    assert not hooked.admin.subscription(sub.id).enabled
    assert any(e["type"] == "WebhookSubscription.Disabled" for e in hooked.admin.audit())
    status_change(hooked, "stalled")
    hooked.followers.catch_up()
    items, _ = hooked.followers.outbox.deliveries(str(sub.id))
    assert [i["status"] for i in items] == ["failed"]


def test_a_rotated_secret_keeps_signing_for_24_hours(
    hooked: Services, receiver: Receiver, clock: ManualClock
) -> None:
    sub = subscribe(hooked, receiver.url)
    old = sub.secret
    new = hooked.admin.rotate_secret(sub.id, recorded_by="cli:test").secret
    status_change(hooked)
    hooked.followers.catch_up()
    send = sender(hooked, allow_private=True)
    try:
        send.run_once()
        assert receiver.verified(old) and receiver.verified(new)
        clock.advance(timedelta(hours=25))
        status_change(hooked, "stalled")
        hooked.followers.catch_up()
        send.run_once()
    finally:
        send.close()
    latest = {k.lower(): v for k, v in receiver.requests[-1]["headers"].items()}
    Webhook(new).verify(receiver.requests[-1]["body"], latest)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(receiver.requests[-1]["body"], latest)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_addresses_are_refused_unless_allowed(
    hooked: Services, receiver: Receiver, host: str
) -> None:
    sub = subscribe(hooked, receiver.url.replace("127.0.0.1", host))
    status_change(hooked)
    hooked.followers.catch_up()
    send = sender(hooked, allow_private=False)
    try:
        send.run_once()
    finally:
        send.close()
    assert receiver.requests == []
    items, _ = hooked.followers.outbox.deliveries(str(sub.id))
    assert "private address" in items[0]["attempts"][0]["error"]


def test_a_sender_that_dies_after_claiming_loses_nothing(
    hooked: Services, receiver: Receiver, clock: ManualClock
) -> None:
    sub = subscribe(hooked, receiver.url)
    for status in ("in_progress", "stalled"):
        status_change(hooked, status)
    hooked.followers.catch_up()
    crashed = sender(hooked, allow_private=True)
    claimed = crashed.claim(10)  # ... and the process dies before posting
    crashed.close()
    assert len(claimed) == 2
    survivor = sender(hooked, allow_private=True)
    try:
        assert survivor.run_once() == 0  # still leased to the dead sender
        clock.advance(timedelta(seconds=61))
        assert survivor.run_once() == 2
    finally:
        survivor.close()
    assert len(receiver.verified(sub.secret)) == 2


def test_ping_replay_and_redeliver(hooked: Services, receiver: Receiver) -> None:
    sub = subscribe(hooked, receiver.url)
    status_change(hooked)
    hooked.followers.catch_up()
    outbox = hooked.followers.outbox
    outbox.ping(sub)
    send = sender(hooked, allow_private=True)
    try:
        assert send.run_once() == 2
        queued = outbox.replay(hooked.admin.subscription(sub.id), since_position=0)
        assert queued == hooked.ledger.last_position()
        send.run_once()
        items, _ = outbox.deliveries(str(sub.id), status="delivered")
        assert outbox.redeliver(items[0]["id"]) is not None
        assert send.run_once() == 1
    finally:
        send.close()
    bodies = receiver.verified(sub.secret)
    assert bodies[0]["type"] in ("webhook.ping", "commitment.status_changed")
    ids = [
        r["headers"].get("webhook-id") or r["headers"].get("Webhook-Id") for r in receiver.requests
    ]
    # The replayed status change reused its webhook-id, so receivers can de-duplicate.
    assert len(set(ids)) < len(ids)
