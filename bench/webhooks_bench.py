"""bench/webhooks: the webhook sender against raw HTTP posts, and append-to-delivery lag.

1. Throughput: 100 subscriptions x 1,000 events already in the log (100,000 deliveries; the
   number of events scales with --events). The outbox follower builds the deliveries first;
   then the real `Sender` drains them (claim with a lease, sign, post, record each attempt)
   to a local receiver in a process of its own, against raw `httpx` posts of the same bodies
   to the same receiver with the same concurrency, in alternating slices. Goal: >= 0.5x the
   raw rate.
2. Lag: 20 subscriptions while events are appended at 50 per second for 60 s (shorter with
   --events), with the followers and the sender running as they do in a server
   (`Services.start_followers`: the followers in one thread, the sender in another, woken
   when the outbox follower queues deliveries). Goal: append -> delivery p99 <= 1 s.

Both on SQLite and, when reachable, on PostgreSQL.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from api.services import Services
from bench import pg
from ledger.admin import Admin
from ledger.app import Ledger
from ledger.commands import parse_command
from ledger.config import Settings
from projections.outbox import Sender, webhook_id
from projections.runner import Followers

SUBSCRIPTIONS = 100
EVENTS = 1_000
LAG_SUBSCRIPTIONS = 20
LAG_RATE = 50.0
LAG_SECONDS = 60.0
#: The sender's default, and the raw baseline's.
CONCURRENCY = 8

#: A receiver that answers every POST with 200 at once and remembers, per webhook-id, when
#: it first arrived; GET /stats, /arrivals and /sample report, POST /reset forgets. It exits
#: when its standard input closes (when the benchmark ends, however it ends).
RECEIVER = r"""
import asyncio, json, os, sys, threading, time

state = {"count": 0, "first": {}, "sample": []}
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


def reply(body):
    data = json.dumps(body).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % len(data) + data


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", 0))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.handle(lines[0].split(" ")[:2], headers, body))

    def handle(self, request, headers, body):
        method, path = request
        if method == "POST" and path == "/reset":
            state.update(count=0, first={}, sample=[])
            return reply({})
        if method == "POST":
            state["count"] += 1
            state["first"].setdefault(headers.get("webhook-id"), time.time())
            if len(state["sample"]) < 20 and "webhook-signature" in headers:
                state["sample"].append({"path": path, "headers": headers, "body": body.decode()})
            return OK
        if path == "/stats":
            return reply({"count": state["count"], "unique": len(state["first"])})
        if path == "/arrivals":
            return reply(state["first"])
        if path == "/sample":
            return reply(state["sample"])
        return OK


async def main():
    server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
asyncio.run(main())
"""


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{n}"

    def stats(self) -> dict[str, int]:
        out: dict[str, int] = self.client.get("/stats").json()
        return out

    def arrivals(self) -> dict[str, float]:
        out: dict[str, float] = self.client.get("/arrivals").json()
        return out

    def sample(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.client.get("/sample").json()
        return out

    def reset(self) -> None:
        self.client.post("/reset")


@contextmanager
def receiving() -> Iterator[Receiver]:
    process = subprocess.Popen(
        [sys.executable, "-c", RECEIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        receiver = Receiver(int(process.stdout.readline()))
        yield receiver
        receiver.client.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _setup(ledger: Ledger) -> None:
    commands = [
        {"op": "source.create", "id": "source/s", "data": {"url": "https://e.org/s", "title": "S"}},
        {"op": "actor.create", "id": "actor/a", "data": {"name": "A", "kind": "person"}},
    ]
    result = ledger.import_commands([parse_command(c) for c in commands], principal="cli:bench")
    assert not result.errors, result.errors


def _event(k: int) -> dict[str, Any]:
    """Claims made and then contradicted by evidence: two events per claim."""
    if k % 2 == 0:
        return {
            "op": "claim.create",
            "id": f"claim/k{k // 2}",
            "data": {
                "made_by": "actor/a",
                "text": f"Claim {k // 2}: response times improved by 12 percent.",
                "made_at": "2019-03-02",
                "sources": ["source/s"],
            },
        }
    return {
        "op": "claim.evidence",
        "id": f"claim/k{k // 2}",
        "data": {"stance": "contradicts", "sources": ["source/s"], "note": "figures differ"},
    }


def _subscribe(admin: Admin, ledger: Ledger, receiver: Receiver, n: int) -> list[str]:
    return [
        str(
            admin.create_subscription(
                url=receiver.url(i),
                types=["*"],
                actors=[],
                topics=[],
                description=None,
                enabled=True,
                from_position=ledger.last_position(),
                recorded_by="cli:bench",
            ).id
        )
        for i in range(n)
    ]


def _verify_sample(admin: Admin, receiver: Receiver) -> int:
    """Check the signatures of the first signed requests the receiver kept; returns how
    many verified."""
    secrets = {s.url.rsplit("/", 1)[-1]: s.secret for s in admin.subscriptions()}
    sample = receiver.sample()
    for request in sample:
        Webhook(secrets[request["path"].rsplit("/", 1)[-1]]).verify(
            request["body"], request["headers"]
        )
    return len(sample)


def _statuses(followers: Followers) -> dict[str, int]:
    with followers.views["outbox"].read() as sql:
        rows = sql.rows("SELECT status, COUNT(*) AS n FROM w_deliveries GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}


class RawPoster:
    """The baseline: each delivery's body posted with httpx from as many threads as the
    sender uses, with nothing of the ledger in between (no claim, signature or record)."""

    def __init__(self, followers: Followers, urls: dict[str, str]) -> None:
        with followers.views["outbox"].read() as sql:
            self.rows = [
                (urls[r["subscription_id"]], int(r["position"]), "raw_" + r["webhook_id"])
                for r in sql.rows(
                    "SELECT subscription_id, webhook_id, position FROM w_deliveries "
                    "ORDER BY position, subscription_id"
                )
            ]
            self.bodies = {
                int(r["position"]): r["body"].encode()
                for r in sql.rows("SELECT DISTINCT position, body FROM w_deliveries")
            }
        self.client = httpx.Client(timeout=15.0, follow_redirects=False)
        self.pool = ThreadPoolExecutor(CONCURRENCY)

    def post(self, row: tuple[str, int, str]) -> int:
        url, position, hook = row
        response = self.client.post(
            url,
            content=self.bodies[position],
            headers={"content-type": "application/json", "webhook-id": hook},
        )
        return response.status_code

    def send(self, start: int, stop: int) -> float:
        """Post rows[start:stop]; returns the seconds it took."""
        began = time.perf_counter()
        codes = set(self.pool.map(self.post, self.rows[start:stop]))
        elapsed = time.perf_counter() - began
        assert codes == {200}, codes
        return elapsed

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()


def throughput(url: str, n_events: int, receiver: Receiver, keys: Path) -> dict[str, Any]:
    """The deliveries are sent in ten slices, each first by the raw baseline and then by the
    sender, so that other load on the machine weighs on both alike."""
    ledger = Ledger(Settings(database_url=url, signing_key_file=str(keys)))
    admin = Admin(ledger.settings)
    followers = Followers(ledger, admin=admin)
    try:
        _setup(ledger)
        ids = _subscribe(admin, ledger, receiver, SUBSCRIPTIONS)
        commands = [parse_command(_event(k)) for k in range(n_events)]
        result = ledger.import_commands(commands, principal="cli:bench")
        assert not result.errors, result.errors[:3]
        start = time.perf_counter()
        followers.catch_up(("outbox",))
        build_s = time.perf_counter() - start
        expected = n_events * SUBSCRIPTIONS
        assert _statuses(followers) == {"pending": expected}

        receiver.reset()
        raw = RawPoster(followers, {s: receiver.url(i) for i, s in enumerate(ids)})
        sender = Sender(
            followers.views["outbox"],
            admin,
            ledger.clock,
            allow_private=True,
            concurrency=CONCURRENCY,
        )
        raw_s = send_s = 0.0
        sent = 0
        try:
            step = -(-expected // 10)
            for first in range(0, expected, step):
                raw_s += raw.send(first, first + step)
                began = time.perf_counter()
                while sent < min(expected, first + step) and (attempts := sender.run_once()):
                    sent += attempts
                send_s += time.perf_counter() - began
            assert sender.run_once() == 0
        finally:
            sender.close()
            raw.close()
        stats = receiver.stats()
        # Every delivery arrived once from each: the raw posts and the sender.
        assert stats == {"count": 2 * expected, "unique": 2 * expected}, stats
        assert _statuses(followers) == {"delivered": expected}
        verified = _verify_sample(admin, receiver)
    finally:
        followers.close()
        admin.close()
        ledger.close()
    return {
        "subscriptions": SUBSCRIPTIONS,
        "events": n_events,
        "deliveries": expected,
        "outbox_build_rate": expected / build_s,
        "raw_rate": expected / raw_s,
        "sender_rate": expected / send_s,
        "ratio": raw_s / send_s,
        "signatures_checked": verified,
    }


def _rank(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted figures."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def lag(settings: Settings, seconds: float, receiver: Receiver) -> dict[str, Any]:
    """Append at `LAG_RATE` while the followers and the sender run as in a server; each
    delivery's lag is from its event's append returning to the receiver getting it."""
    services = Services.open(settings)
    try:
        _setup(services.ledger)
        ids = _subscribe(services.admin, services.ledger, receiver, LAG_SUBSCRIPTIONS)
        services.followers.catch_up()
        receiver.reset()
        services.start_followers()
        appended: dict[int, float] = {}
        n = int(seconds * LAG_RATE)
        start = time.time()
        for k in range(n):
            pause = start + k / LAG_RATE - time.time()
            if pause > 0:
                time.sleep(pause)
            written = services.ledger.execute(parse_command(_event(k)), principal="cli:bench")
            appended[written.position] = time.time()
        append_s = time.time() - start
        expected = n * LAG_SUBSCRIPTIONS
        deadline = time.monotonic() + max(30.0, seconds)
        while receiver.stats()["unique"] < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        arrivals = receiver.arrivals()
    finally:
        services.close()
    lags = [
        arrivals.get(webhook_id(sid, position), math.inf) - at
        for position, at in appended.items()
        for sid in ids
    ]
    lags.sort()  # a delivery that never arrived counts as infinitely late
    return {
        "subscriptions": LAG_SUBSCRIPTIONS,
        "events": n,
        "seconds": seconds,
        "append_rate": n / append_s,
        "deliveries": expected,
        "undelivered": sum(1 for x in lags if math.isinf(x)),
        "p50_s": _rank(lags, 0.50),
        "p99_s": _rank(lags, 0.99),
        "max_s": lags[-1],
    }


def run(label: str, url_for: Callable[[str], str], n_events: int, keys: Path) -> dict[str, Any]:
    seconds = max(3.0, LAG_SECONDS * min(1.0, n_events / EVENTS))
    with receiving() as receiver:
        rate = throughput(url_for("throughput"), n_events, receiver, keys)
        print(
            f"\nbench/webhooks — {label}: {rate['subscriptions']} subscriptions x "
            f"{rate['events']:,} events = {rate['deliveries']:,} deliveries, "
            f"{CONCURRENCY} concurrent posts"
        )
        print(f"  outbox follower builds   {rate['outbox_build_rate']:>10,.0f} deliveries/s")
        print(f"  raw httpx posts          {rate['raw_rate']:>10,.0f} deliveries/s")
        print(f"  Sender                   {rate['sender_rate']:>10,.0f} deliveries/s")
        print(
            f"  Sender / raw = {rate['ratio']:.2f}x (goal >= 0.5x); "
            f"{rate['signatures_checked']} signatures checked"
        )
        settings = Settings(
            database_url=url_for("lag"),
            signing_key_file=str(keys),
            webhook_allow_private=True,
        )
        late = lag(settings, seconds, receiver)
        print(
            f"  lag: {late['subscriptions']} subscriptions, {late['events']:,} events at "
            f"{late['append_rate']:.0f}/s for {seconds:.0f} s = {late['deliveries']:,} deliveries"
            + (f", {late['undelivered']:,} NOT DELIVERED" if late["undelivered"] else "")
        )
        print(
            f"  append -> delivery p50 {late['p50_s'] * 1000:.0f} ms, "
            f"p99 {late['p99_s'] * 1000:.0f} ms (goal <= 1000 ms), "
            f"max {late['max_s'] * 1000:.0f} ms"
        )
    return {"throughput": rate, "lag": late}


def main(n_events: int | None = None) -> dict[str, Any]:
    n = n_events or EVENTS
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "signing-key"
        results["sqlite"] = run("SQLite", lambda name: f"sqlite:///{tmp}/{name}.db", n, keys)
        with pg.schemas("benchw") as pg_url:
            if pg_url is not None:
                results["postgres"] = run("PostgreSQL", pg_url, n, keys)
    return results


if __name__ == "__main__":
    main()
