"""Webhooks: the outbox follower turns each matching event into one delivery per
subscription, in the same transaction as its tracking position; the sender posts them with
Standard Webhooks signatures, retries with backoff over more than three days, and logs every
attempt. Deliveries are leased when claimed, so a sender that dies mid-batch loses nothing:
the lease runs out and another sender (or the same after restart) delivers them.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4, uuid5

import httpx
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from standardwebhooks.webhooks import Webhook

from ledger.admin import Admin
from ledger.app import EVENT_TYPES, Ledger, describe
from ledger.integrity import leaf_hash
from ledger.webhooks import UnsafeAddress, WebhookSubscription, resolve_safely
from projections.db import PostgresView, Sql, SQLiteView
from projections.records import recorded_key

log = logging.getLogger("ledger.webhooks")

#: Seconds before each retry: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h; over three days.
SCHEDULE = (5, 300, 1800, 7200, 18000, *([36000] * 7))
GIVE_UP_AFTER = timedelta(days=5)
#: How long a claimed delivery stays reserved for its sender (`LEDGER_WEBHOOK_LEASE`).
LEASE = timedelta(seconds=60)
SLOW_DOWN = {429, 502, 503, 504}
_DELIVERY_NS = UUID("3d1f0c8e-6b2a-5c4d-9e8f-7a6b5c4d3e2f")

_TABLES = [
    "CREATE TABLE IF NOT EXISTS w_records (record_id TEXT PRIMARY KEY, actors TEXT NOT NULL, "
    "topics TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS w_deliveries (id TEXT PRIMARY KEY, subscription_id TEXT NOT "
    "NULL, position BIGINT NOT NULL, event_type TEXT NOT NULL, webhook_id TEXT NOT NULL, "
    "body TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, "
    "next_attempt_at TEXT, first_attempt_at TEXT, last_status INTEGER, last_error TEXT, "
    "created_at TEXT NOT NULL, delivered_at TEXT)",
    # In the order deliveries are claimed, so a claim reads its batch and no more however
    # many are due (it replaces w_deliveries_due, which left a sort of every due row).
    "DROP INDEX IF EXISTS w_deliveries_due",
    "CREATE INDEX IF NOT EXISTS w_deliveries_queue ON w_deliveries "
    "(status, next_attempt_at, position)",
    "CREATE INDEX IF NOT EXISTS w_deliveries_sub ON w_deliveries (subscription_id, position)",
    "CREATE TABLE IF NOT EXISTS w_attempts (delivery_id TEXT NOT NULL, attempt INTEGER NOT "
    "NULL, at TEXT NOT NULL, status_code INTEGER, latency_ms DOUBLE PRECISION, "
    "response TEXT, error TEXT, next_attempt_at TEXT, PRIMARY KEY (delivery_id, attempt))",
]
OUTBOX_TABLES = ("w_records", "w_deliveries", "w_attempts")


class SQLiteOutboxView(SQLiteView):
    TABLES: ClassVar = _TABLES


class PostgresOutboxView(PostgresView):
    TABLES: ClassVar = _TABLES


def delivery_id(subscription_id: str, position: int) -> str:
    return str(uuid5(_DELIVERY_NS, f"{subscription_id}/{position}"))


def webhook_id(subscription_id: str, position: int) -> str:
    """Stable for one event and one subscription, so receivers can de-duplicate."""
    return f"msg_{uuid5(_DELIVERY_NS, f'{subscription_id}/{position}').hex}"


def body_of(ledger: Ledger, public: dict[str, Any], payload: bytes, base_url: str) -> str:
    record = public["record"]
    from ledger.domain import PLURALS

    plural = PLURALS.get(record["kind"], record["kind"])
    url = f"{base_url.rstrip('/')}/v1/{plural}/{record['id']}"
    body = {
        "version": 1,
        "type": public["type"],
        "position": public["position"],
        "record": record,
        "record_version": public["version"],
        "occurred_at": public["occurred_at"],
        "recorded_at": public["recorded_at"],
        "recorded_by": public["recorded_by"],
        "data": public["data"],
        "links": {"record": url, "history": f"{url}/history"},
        "leaf_hash": leaf_hash(public, payload).hex() if payload else None,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


class Subscriptions:
    """Every subscription (deleted ones too) by id, read again only when the admin log has
    grown: one query instead of one per subscription."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self._head: int | None = -1
        self._by_id: dict[str, WebhookSubscription] = {}

    def __call__(self) -> dict[str, WebhookSubscription]:
        head = self.admin.recorder.max_notification_id()
        if head != self._head:
            found = self.admin.subscriptions(include_deleted=True)
            self._by_id, self._head = {str(s.id): s for s in found}, head
        return self._by_id


class OutboxProjection(Projection[Any]):
    name = "outbox"

    def __init__(self, view: Any, *, ledger: Ledger, admin: Admin, base_url: str) -> None:
        super().__init__(view)
        self.ledger = ledger
        self.admin = admin
        self.subscriptions = Subscriptions(admin)
        self.base_url = base_url
        #: Called after each batch that queued deliveries (a sender in this process wakes).
        self.listeners: list[Callable[[], None]] = []

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        payload = self.ledger.mapper.to_stored_event(domain_event).state
        self.process_batch(
            [(domain_event, tracking.notification_id, payload)], tracking, after=None
        )

    def process_batch(
        self, events: Sequence[tuple[Any, ...]], tracking: Tracking, *, after: int | None
    ) -> None:
        subscriptions = [s for s in self.subscriptions().values() if _live(s)]
        publics = self.ledger.masked(
            [describe(e, p) for e, p, *_ in events if type(e) in EVENT_TYPES]
        )
        payloads = {p: rest[0] if rest else b"" for _, p, *rest in events}
        with self.view.batch(tracking, after) as sql:
            records: dict[str, dict[str, Any]] = {}
            rows = []
            now = recorded_key(self.ledger.clock.now())
            for public in publics:
                subject = public["record"]["id"]
                info = self._record(sql, records, subject, public)
                body: str | None = None  # the same for every subscription
                for sub in subscriptions:
                    if public["position"] <= sub.from_position:
                        continue
                    if not sub.matches(public["type"], set(info["actors"]), set(info["topics"])):
                        continue
                    sid = str(sub.id)
                    if body is None:
                        payload = payloads[public["position"]]
                        body = body_of(self.ledger, public, payload, self.base_url)
                    rows.append(
                        (
                            delivery_id(sid, public["position"]),
                            sid,
                            public["position"],
                            public["type"],
                            webhook_id(sid, public["position"]),
                            body,
                            "pending",
                            0,
                            now,
                            None,
                            None,
                            None,
                            now,
                            None,
                        )
                    )
            for record_id, info in records.items():
                sql.run(
                    "INSERT INTO w_records VALUES (?,?,?) ON CONFLICT (record_id) DO UPDATE "
                    "SET actors = excluded.actors, topics = excluded.topics",
                    [record_id, json.dumps(info["actors"]), json.dumps(info["topics"])],
                )
            sql.many(
                "INSERT INTO w_deliveries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (id) DO NOTHING",
                rows,
            )
        if rows:
            for listener in self.listeners:
                listener()

    @staticmethod
    def _record(
        sql: Sql, records: dict[str, dict[str, Any]], record_id: str, public: dict[str, Any]
    ) -> dict[str, Any]:
        info = records.get(record_id)
        if info is None:
            row = sql.one("SELECT * FROM w_records WHERE record_id = ?", [record_id])
            info = (
                {"actors": json.loads(row["actors"]), "topics": json.loads(row["topics"])}
                if row
                else {"actors": [], "topics": []}
            )
            records[record_id] = info
        data = public["data"]
        actors = [
            data[f]
            for f in (
                "made_by",
                "assignee",
                "demanded_by",
                "addressed_to",
                "asked_by",
                "asked_to",
                "actor",
            )
            if data.get(f)
        ]
        actors += list(data.get("actors") or [])
        if public["record"]["kind"] == "actor":
            actors.append(record_id)
        info["actors"] = list(dict.fromkeys([*info["actors"], *actors]))
        if data.get("topics"):
            info["topics"] = list(data["topics"])
        if data.get("field") == "topics":
            info["topics"] = list(data.get("new") or [])
        return info


class Sender:
    """Posts due deliveries; several senders may run (on PostgreSQL they skip each other's
    claimed rows). `run_once` delivers one batch; `start` keeps delivering in a thread of its
    own, at once when woken (`wake`) and at least every `idle` seconds otherwise."""

    def __init__(
        self,
        view: Any,
        admin: Admin,
        clock: Any,
        *,
        allow_private: bool = False,
        timeout: float = 15.0,
        concurrency: int = 8,
        lease: timedelta = LEASE,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.view = view
        self.admin = admin
        self.clock = clock
        self.allow_private = allow_private
        self.timeout = timeout
        self.concurrency = concurrency
        self.lease = lease
        #: Called with each attempt's result (the server counts them in its metrics).
        self.on_attempt: Any = lambda result: None
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": "accountability-ledger-webhooks/1"},
            limits=httpx.Limits(max_keepalive_connections=max(20, concurrency)),
        )
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="webhook-post")
        self.wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.subscriptions = Subscriptions(admin)

    def close(self) -> None:
        self.stop()
        # Posts not yet begun are dropped: their deliveries stay leased, and are sent again
        # once the lease runs out.
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def start(self, *, idle: float = 1.0, limit: int = 200) -> Sender:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(idle, limit), name="webhook-sender", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self, idle: float, limit: int) -> None:
        while not self._stopping.is_set():
            self.wake.clear()
            try:
                sent = self.run_once(limit)
            except Exception:  # keep sending; the next round tries again
                if not self._stopping.is_set():
                    log.exception("webhook sender error")
                sent = 0
            if sent < limit:
                self.wake.wait(idle)

    def claim(self, limit: int) -> list[dict[str, Any]]:
        now = self.clock.now()
        with self.view.write() as sql:
            # One statement that writes first: on SQLite it waits for the write lock instead
            # of failing when another connection commits between a read and the write; on
            # PostgreSQL, rows another sender is claiming are skipped, not waited for.
            lock = " FOR UPDATE SKIP LOCKED" if sql.dialect == "postgres" else ""
            rows: list[dict[str, Any]] = sql.rows(
                "UPDATE w_deliveries SET next_attempt_at = ? WHERE id IN (SELECT id FROM "
                "w_deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
                f"ORDER BY next_attempt_at, position LIMIT ?{lock}) RETURNING *",
                [recorded_key(now + self.lease), recorded_key(now), limit],
            )
        return sorted(rows, key=lambda r: int(r["position"]))

    def run_once(self, limit: int = 200) -> int:
        """Deliver what is due; returns the number of attempts made."""
        rows = self.claim(limit)
        if not rows:
            return 0
        subs = self.subscriptions()
        # Each host is looked up once per batch, and its posts go to the address found then.
        live = {sid: sub for sid, sub in subs.items() if _live(sub)}
        urls = list({live[r["subscription_id"]].url for r in rows if r["subscription_id"] in live})
        targets = dict(zip(urls, self.pool.map(self._resolve, urls), strict=True))
        results = list(
            self.pool.map(lambda r: self._attempt(r, subs.get(r["subscription_id"]), targets), rows)
        )
        self._record(rows, [result for result, _ in results])
        disabled: set[str] = set()
        for row, (result, disable) in zip(rows, results, strict=True):
            self.on_attempt(result)
            if disable and row["subscription_id"] not in disabled:
                disabled.add(row["subscription_id"])
                self.admin.disable_subscription(
                    UUID(row["subscription_id"]), reason=disable, recorded_by="system:webhooks"
                )
        return len(rows)

    def _resolve(self, url: str) -> tuple[str, int, str] | UnsafeAddress:
        try:
            return resolve_safely(url, allow_private=self.allow_private)
        except UnsafeAddress as e:
            return e

    def _attempt(
        self,
        row: dict[str, Any],
        sub: WebhookSubscription | None,
        targets: dict[str, tuple[str, int, str] | UnsafeAddress],
    ) -> tuple[dict[str, Any], str | None]:
        now = self.clock.now()
        attempt = int(row["attempts"]) + 1
        result: dict[str, Any] = {
            "attempt": attempt,
            "at": now,
            "status_code": None,
            "latency_ms": None,
            "response": None,
            "error": None,
        }
        if sub is None or not _live(sub):
            result["cancel"] = True
            result["error"] = "the subscription is disabled or deleted"
            return result, None
        started = time.perf_counter()
        try:
            target = targets[sub.url]
            if isinstance(target, UnsafeAddress):
                raise target
            address, port, host = target
            response = self._post(sub, row, address, port, host, now)
            result["status_code"] = response.status_code
            result["response"] = response.text[:500]
            result["retry_after"] = _retry_after(response.headers.get("retry-after"), now)
        except UnsafeAddress as e:
            result["error"] = f"refused: {e}"
        except httpx.HTTPError as e:
            result["error"] = f"{type(e).__name__}: {e}"[:500]
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        disable = None
        if result["status_code"] == 410:
            disable = "the receiver answered 410 Gone"
        first = row["first_attempt_at"] or recorded_key(now)
        if not _ok(result) and _age(first, now) >= GIVE_UP_AFTER:
            disable = "deliveries failed for 5 days"
        return result, disable

    def _post(
        self,
        sub: WebhookSubscription,
        row: dict[str, Any],
        address: str,
        port: int,
        host: str,
        now: datetime,
    ) -> httpx.Response:
        parts = urlsplit(sub.url)
        literal = f"[{address}]" if ":" in address else address
        target = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        body = row["body"]
        # Receivers compare the signed timestamp with their own clock to refuse replays, so it
        # is the real time of sending; the ledger's clock only schedules the attempts.
        sent = datetime.now(UTC)
        signatures = [
            Webhook(secret).sign(row["webhook_id"], sent, body) for secret in sub.secrets_at(now)
        ]
        headers = {
            "host": parts.netloc.rsplit("@", 1)[-1],
            "content-type": "application/json",
            "webhook-id": row["webhook_id"],
            "webhook-timestamp": str(int(sent.timestamp())),
            "webhook-signature": " ".join(signatures),
        }
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return self.client.post(
            target, content=body.encode(), headers=headers, extensions=extensions
        )

    def _record(self, rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        """Each attempt, and each delivery's new state, in one transaction for the batch."""
        attempts, deliveries = [], []
        for row, result in zip(rows, results, strict=True):
            now: datetime = result["at"]
            at = recorded_key(now)
            first = row["first_attempt_at"] or at
            if result.get("cancel"):
                status, following = "cancelled", None
            elif _ok(result):
                status, following = "delivered", None
            elif result["status_code"] == 410 or result["attempt"] > len(SCHEDULE):
                status, following = "failed", None
            else:
                delay = SCHEDULE[result["attempt"] - 1] * random.uniform(0.9, 1.1)
                if result["status_code"] in SLOW_DOWN:
                    delay *= 2
                moment = now + timedelta(seconds=delay)
                if result.get("retry_after") and result["retry_after"] > moment:
                    moment = result["retry_after"]
                status, following = "pending", recorded_key(moment)
            attempts.append(
                (
                    row["id"],
                    result["attempt"],
                    at,
                    result["status_code"],
                    result["latency_ms"],
                    result["response"],
                    result["error"],
                    following,
                )
            )
            deliveries.append(
                (
                    status,
                    result["attempt"],
                    following,
                    first,
                    result["status_code"],
                    result["error"],
                    at if status == "delivered" else None,
                    row["id"],
                )
            )
        with self.view.write() as sql:
            sql.many(
                "INSERT INTO w_attempts VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", attempts
            )
            sql.many(
                "UPDATE w_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, "
                "first_attempt_at = ?, last_status = ?, last_error = ?, delivered_at = ? "
                "WHERE id = ?",
                deliveries,
            )


def _live(sub: WebhookSubscription) -> bool:
    return bool(sub.enabled and not sub.deleted)


def _ok(result: dict[str, Any]) -> bool:
    code = result.get("status_code")
    return code is not None and 200 <= code < 300


def _age(first: str, now: datetime) -> timedelta:
    start = datetime.strptime(first, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=now.tzinfo)
    return now - start


def _retry_after(value: str | None, now: datetime) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


class OutboxQueries:
    def __init__(self, view: Any, ledger: Ledger, clock: Any, base_url: str) -> None:
        self.view = view
        self.ledger = ledger
        self.clock = clock
        self.base_url = base_url

    def deliveries(
        self,
        subscription_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        cursor: int | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        where = ["subscription_id = ?"]
        params: list[Any] = [subscription_id]
        if status:
            where.append("status = ?")
            params.append(status)
        if cursor is not None:
            where.append("position < ?")
            params.append(cursor)
        with self.view.read() as sql:
            rows = sql.rows(
                f"SELECT * FROM w_deliveries WHERE {' AND '.join(where)} "
                "ORDER BY position DESC LIMIT ?",
                [*params, limit + 1],
            )
            ids = [r["id"] for r in rows[:limit]]
            attempts = (
                sql.rows(
                    f"SELECT * FROM w_attempts WHERE delivery_id IN ({','.join('?' * len(ids))}) "
                    "ORDER BY attempt",
                    ids,
                )
                if ids
                else []
            )
        by_delivery: dict[str, list[dict[str, Any]]] = {}
        for a in attempts:
            by_delivery.setdefault(a["delivery_id"], []).append(
                {
                    k: a[k]
                    for k in (
                        "attempt",
                        "at",
                        "status_code",
                        "latency_ms",
                        "response",
                        "error",
                        "next_attempt_at",
                    )
                }
            )
        items = [
            {
                "id": r["id"],
                "webhook_id": r["webhook_id"],
                "position": r["position"],
                "type": r["event_type"],
                "status": r["status"],
                "attempts": by_delivery.get(r["id"], []),
                "next_attempt_at": r["next_attempt_at"] if r["status"] == "pending" else None,
                "delivered_at": r["delivered_at"],
            }
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return items, (int(rows[limit - 1]["position"]) if more else None)

    def redeliver(self, delivery: str) -> dict[str, Any] | None:
        with self.view.write() as sql:
            row: dict[str, Any] | None = sql.one(
                "SELECT * FROM w_deliveries WHERE id = ?", [delivery]
            )
            if row is None:
                return None
            sql.run(
                "UPDATE w_deliveries SET status = 'pending', next_attempt_at = ? WHERE id = ?",
                [recorded_key(self.clock.now()), delivery],
            )
        return row

    def ping(self, sub: WebhookSubscription) -> str:
        now = self.clock.now()
        body = json.dumps(
            {
                "version": 1,
                "type": "webhook.ping",
                "position": None,
                "data": {"subscription": str(sub.id)},
                "recorded_at": now.isoformat(),
            },
            separators=(",", ":"),
        )
        new_id = str(uuid4())
        with self.view.write() as sql:
            sql.run(
                "INSERT INTO w_deliveries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    new_id,
                    str(sub.id),
                    0,
                    "webhook.ping",
                    f"msg_{uuid4().hex}",
                    body,
                    "pending",
                    0,
                    recorded_key(now),
                    None,
                    None,
                    None,
                    recorded_key(now),
                    None,
                ],
            )
        return new_id

    def replay(self, sub: WebhookSubscription, *, since_position: int) -> int:
        """Queue again every matching event after `since_position` (same webhook ids)."""
        count = 0
        after = since_position
        now = recorded_key(self.clock.now())
        while True:
            notifications = self.ledger.store.select_notifications(
                start=after, limit=500, inclusive_of_start=False
            )
            if not notifications:
                return count
            publics = self.ledger.masked(
                [describe(self.ledger.mapper.to_domain_event(n), n.id) for n in notifications]
            )
            states = {n.id: n.state for n in notifications}
            with self.view.write() as sql:
                for public in publics:
                    info = OutboxProjection._record(sql, {}, public["record"]["id"], public)
                    if not sub.matches(public["type"], set(info["actors"]), set(info["topics"])):
                        continue
                    sid, position = str(sub.id), public["position"]
                    sql.run(
                        "INSERT INTO w_deliveries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                        "ON CONFLICT (id) DO UPDATE SET status = 'pending', "
                        "next_attempt_at = excluded.next_attempt_at",
                        [
                            delivery_id(sid, position),
                            sid,
                            position,
                            public["type"],
                            webhook_id(sid, position),
                            body_of(self.ledger, public, states[position], self.base_url),
                            "pending",
                            0,
                            now,
                            None,
                            None,
                            None,
                            now,
                            None,
                        ],
                    )
                    count += 1
            after = notifications[-1].id
