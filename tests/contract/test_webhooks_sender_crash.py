"""The webhook sender survives kill -9 in the middle of a batch, and several senders share the
deliveries without sending any twice; against a real receiver on 127.0.0.1 that checks every
signature with `standardwebhooks`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from api.services import Services
from ledger.commands import parse_command
from ledger.config import Settings
from ledger.webhooks import WebhookSubscription
from projections.outbox import Sender, webhook_id
from tests.contract.helpers import seed
from tests.contract.test_webhooks import Receiver

LEDGER = str(Path(sys.executable).parent / "ledger")
#: Seconds a claimed delivery stays reserved in these tests (60 in production).
LEASE = 2.0


def claims(services: Services, n: int) -> list[int]:
    """Append `n` events (claims made, then contradicted); returns their positions."""
    commands = []
    for k in range(n):
        cid = f"claim/c{k // 2}"
        if k % 2 == 0:
            data = {
                "made_by": "actor/mayor",
                "text": f"claim {k}",
                "made_at": "2017-09-15",
                "sources": ["source/article"],
            }
            commands.append({"op": "claim.create", "id": cid, "data": data})
        else:
            data = {"stance": "contradicts", "sources": ["source/article"], "note": f"{k}"}
            commands.append({"op": "claim.evidence", "id": cid, "data": data})
    before = services.ledger.last_position()
    result = services.ledger.import_commands(
        [parse_command(c) for c in commands], principal="cli:test"
    )
    assert not result.errors
    notifications = services.ledger.store.select_notifications(
        start=before, limit=n + 1, inclusive_of_start=False
    )
    return [n.id for n in notifications]


def open_services(store_url: str, tmp_path: Path) -> Services:
    settings = Settings(
        database_url=store_url,
        signing_key_file=str(tmp_path / "signing-key"),
        webhook_allow_private=True,
    )
    services = Services.open(settings)
    seed(services.ledger)
    return services


def subscribe(services: Services, url: str) -> WebhookSubscription:
    return services.admin.create_subscription(
        url=url,
        types=["*"],
        actors=[],
        topics=[],
        description=None,
        enabled=True,
        from_position=services.ledger.last_position(),
        recorded_by="cli:test",
    )


def delivery_statuses(services: Services) -> Counter[str]:
    with services.followers.views["outbox"].read() as sql:
        rows = sql.rows("SELECT status, COUNT(*) AS n FROM w_deliveries GROUP BY status")
    return Counter({r["status"]: int(r["n"]) for r in rows})


def webhook_ids(receiver: Receiver) -> list[str]:
    return [
        {k.lower(): v for k, v in r["headers"].items()}["webhook-id"] for r in receiver.requests
    ]


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def start_worker(store_url: str, tmp_path: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": store_url,
        "LEDGER_SIGNING_KEY_FILE": str(tmp_path / "signing-key"),
        "LEDGER_WEBHOOK_ALLOW_PRIVATE": "1",
        "LEDGER_WEBHOOK_LEASE": str(LEASE),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [LEDGER, "worker", "--poll", "0.05", "--watch-every", "3600"],
            env=env,
            stdout=out,
            stderr=out,
        )


@pytest.mark.slow
def test_kill_9_mid_batch_then_a_new_worker_delivers_everything_at_least_once(
    store_url: str, tmp_path: Path
) -> None:
    services = open_services(store_url, tmp_path)
    receiver = Receiver()
    # The receiver answers the first `answered` requests, then holds every later one open:
    # the worker is killed with a batch claimed, partly posted and not yet recorded.
    answered = 260
    hold = threading.Event()

    def respond(n: int) -> tuple[int, dict[str, str]]:
        if n > answered:
            hold.wait(30)
        return 200, {}

    receiver.respond = respond
    # Answers to the held requests go to a dead worker's closed sockets: expected here.
    receiver.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        sub = subscribe(services, receiver.url)
        claims(services, 500)
        workers.append(start_worker(store_url, tmp_path, log))
        assert wait_until(lambda: len(receiver.requests) > answered, 60), log.read_text()
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        seen_before_kill = set(webhook_ids(receiver))
        statuses = delivery_statuses(services)
        total = statuses.total()
        assert total >= 500  # the claims, and any deadline notice the worker appended
        assert 0 < len(seen_before_kill) < total
        # The first batch was recorded; the one in flight and the rest are still pending.
        assert 0 < statuses["delivered"] < total
        assert statuses["delivered"] + statuses["pending"] == total
        hold.set()

        workers.append(start_worker(store_url, tmp_path, log))
        assert wait_until(
            lambda: delivery_statuses(services) == Counter(delivered=total), 30 + LEASE
        ), (delivery_statuses(services), log.read_text())
        positions = [
            n.id
            for n in services.ledger.store.select_notifications(
                start=sub.from_position, limit=total + 100, inclusive_of_start=False
            )
        ]
    finally:
        hold.set()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
        receiver.close()
        services.close()
    received = Counter(webhook_ids(receiver))
    assert set(received) == {webhook_id(str(sub.id), p) for p in positions}
    # Posted but not recorded when the worker died, so sent again: at least once, not once.
    assert any(count > 1 for count in received.values())
    bodies = receiver.verified(sub.secret)  # raises unless every signature verifies
    assert {b["position"] for b in bodies} == set(positions)


def test_several_senders_share_the_deliveries_and_send_none_twice(
    store_url: str, tmp_path: Path
) -> None:
    """Three senders claim small batches at the same time (on PostgreSQL with FOR UPDATE
    SKIP LOCKED): every delivery is sent exactly once, and each sender sends some."""
    services = open_services(store_url, tmp_path)
    receiver = Receiver()

    def respond(n: int) -> tuple[int, dict[str, str]]:
        time.sleep(0.002)  # long enough for the senders' claims to overlap
        return 200, {}

    receiver.respond = respond
    senders = [
        Sender(
            services.followers.views["outbox"],
            services.admin,
            services.ledger.clock,
            allow_private=True,
            concurrency=4,
        )
        for _ in range(3)
    ]
    try:
        subs = [subscribe(services, f"{receiver.url}/{i}") for i in range(3)]
        positions = claims(services, 100)
        services.followers.catch_up()
        assert delivery_statuses(services) == Counter(pending=300)
        start = threading.Barrier(len(senders))
        sent: dict[int, int] = {}
        errors: list[BaseException] = []

        def drain(i: int, sender: Sender) -> None:
            try:
                start.wait()
                total = 0
                while attempts := sender.run_once(limit=10):
                    total += attempts
                sent[i] = total
            except BaseException as e:  # reported by the test below
                errors.append(e)

        threads = [threading.Thread(target=drain, args=(i, s)) for i, s in enumerate(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for sender in senders:
            sender.close()
        receiver.close()
    try:
        assert not errors
        assert delivery_statuses(services) == Counter(delivered=300)
    finally:
        services.close()
    received = Counter(webhook_ids(receiver))
    expected = {webhook_id(str(s.id), p) for s in subs for p in positions}
    assert set(received) == expected
    assert max(received.values()) == 1
    assert sum(sent.values()) == 300
    assert all(sent.get(i, 0) > 0 for i in range(len(senders))), sent
    secrets = {f"/hook/{i}": s.secret for i, s in enumerate(subs)}
    for request in receiver.requests:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        Webhook(secrets[request["path"]]).verify(request["body"], headers)
