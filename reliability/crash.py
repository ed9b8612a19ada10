"""Crashes: kill -9 at random moments (the seed is printed; LEDGER_CRASH_SEED repeats it).

- `catch_up`: a `ledger worker` killed again and again while it catches up with a long log
  (SQLite): the views then equal a full rebuild and `ledger verify` passes.
- `under_load`: the production topology on PostgreSQL (the API with two server processes,
  two `ledger worker`s running the followers and the webhook senders), fed by a `ledger
  import` per round and a burst of HTTP writes that each raise a webhook. Each round kills a
  random choice of the API, the workers and the importer at a random moment and starts them
  again; interrupted imports are run again (lines already applied are skipped) and HTTP
  writes are retried with their Idempotency-Key. Afterwards: no partial or duplicated event
  (every stored event decodes, versions have no gaps, the imported events equal an import
  into a store that never crashed, every acknowledged write is in the log once at the
  position it was acknowledged with), the views equal a full rebuild, `ledger verify` passes,
  and every webhook reached a receiver that checks signatures with `standardwebhooks`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from reliability.support import (
    LEDGER,
    Process,
    SignedReceiver,
    cli,
    eventually,
    free_port,
    ledger_env,
    new_key,
    pg_store,
    server,
    wait_healthy,
    worker,
    write_jsonl,
)

BURST_CLAIMS = [f"burst-{i}" for i in range(10)]


def crash_seed() -> int:
    return int(os.environ.get("LEDGER_CRASH_SEED", random.randrange(1_000_000)))


# -- a worker killed while it catches up (SQLite) -------------------------------------------
def catch_up(size: dict[str, int], seed: int) -> dict[str, Any]:
    from ledger.app import Ledger
    from ledger.cli import read_commands
    from ledger.config import Settings
    from projections.runner import REBUILT_BY_DEFAULT, Followers
    from tests.contract.test_followers_crash import generated_commands

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        env = {**os.environ, "LEDGER_DATABASE_URL": url}
        ledger = Ledger(Settings(database_url=url))
        numbered, _ = read_commands(
            generated_commands(Path(tmp) / "log.jsonl", 300 * size["kills"])
        )
        ledger.import_commands([c for _, c in numbered], principal="cli:reliability")
        head = ledger.last_position()
        followers = Followers(ledger)
        kills = 0
        positions = []
        for _ in range(size["kills"] * 2):
            process = subprocess.Popen(
                [LEDGER, "worker", "--poll", "0.05", "--batch", "10", "--watch-every", "3600"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.5, 1.0))
            process.send_signal(signal.SIGKILL)
            process.wait()
            position = min(followers.position(n) for n in REBUILT_BY_DEFAULT)
            if position >= head:
                break
            kills += 1
            positions.append(position)
            if kills >= size["kills"]:
                break
        followers.catch_up()
        before = {n: followers.snapshot(n) for n in REBUILT_BY_DEFAULT}
        for name in before:
            followers.rebuild(name)
        followers.catch_up()
        after = {n: followers.snapshot(n) for n in before}
        followers.close()
        ledger.close()
        verified = cli(env, "verify", check=False)
    return {
        "seed": seed,
        "events": head,
        "kills_mid_catch_up": kills,
        "progress": positions[-1] if positions else 0,
        "views_equal_rebuild": before == after,
        "verify": verified.returncode == 0,
        "verify_says": (verified.stderr.strip().splitlines() or [""])[-1],
    }


# -- the production topology under load -----------------------------------------------------
class Burst:
    """HTTP writers adding evidence to the burst claims, each write with an Idempotency-Key
    retried until it is acknowledged, through kills of the API."""

    def __init__(self, base: str, key: str, threads: int, seed: int) -> None:
        self.base, self.key, self.seed = base, key, seed
        self.lock = threading.Lock()
        self.acked: dict[str, int] = {}
        self.retries = 0
        self.server_errors = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)
        ]

    def start(self) -> Burst:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=180)

    def _run(self, number: int) -> None:
        rng = random.Random(self.seed * 100 + number)
        auth = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base, timeout=15) as http:
            i = 0
            while not self.stopping.is_set():
                note, claim = f"b{number}-{i}", rng.choice(BURST_CLAIMS)
                i += 1
                headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
                body = {"stance": "context", "sources": ["source/s"], "note": note}
                give_up = time.monotonic() + 150
                while True:
                    try:
                        r = http.post(f"/v1/claims/{claim}/evidence", headers=headers, json=body)
                    except httpx.HTTPError:
                        r = None
                    if r is not None and r.status_code == 200:
                        with self.lock:
                            self.acked[note] = int(r.headers["X-Ledger-Position"])
                        break
                    if r is not None and r.status_code >= 500:
                        with self.lock:
                            self.server_errors += 1
                    elif r is not None and r.status_code not in (409, 429):
                        self.failures.append(f"{note}: {r.status_code} {r.text[:200]}")
                        break
                    if time.monotonic() > give_up:
                        self.failures.append(f"{note}: not acknowledged within 150 s")
                        break
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.1)


def _base_lines() -> list[dict[str, Any]]:
    from tests.contract.test_followers_crash import generated_commands

    with tempfile.TemporaryDirectory() as tmp:
        path = generated_commands(Path(tmp) / "base.jsonl", 0)
        lines: list[dict[str, Any]] = [json.loads(x) for x in path.read_text().splitlines()]
    lines += [
        {
            "op": "claim.create",
            "id": f"claim/{claim}",
            "data": {
                "made_by": "actor/a",
                "text": f"claim {claim}",
                "made_at": "2018-01-01",
                "sources": ["source/s"],
            },
        }
        for claim in BURST_CLAIMS
    ]
    return lines


def _canonical(event: dict[str, Any]) -> str:
    keep = ("type", "record", "version", "occurred_at", "precision", "data")
    return json.dumps({k: event.get(k) for k in keep}, sort_keys=True)


def _imported(ledger: Any, principal: str) -> Counter[str]:
    return Counter(
        _canonical(e)
        for e in map(json.loads, ledger.export_lines())
        if e["recorded_by"] == principal
    )


def _reference(files: list[Path], principal: str) -> Counter[str]:
    """The same files imported into a store that never crashed."""
    from ledger.app import Ledger
    from ledger.cli import read_commands
    from ledger.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Settings(database_url=f"sqlite:///{tmp}/reference.db"))
        for file in files:
            numbered, problems = read_commands(file)
            assert not problems, problems
            result = ledger.import_commands([c for _, c in numbered], principal=principal)
            assert not result.errors, result.errors[:3]
        out = _imported(ledger, principal)
        ledger.close()
    return out


def _stored(ledger: Any) -> tuple[int, int, int, dict[int, dict[str, Any]]]:
    """(events, events that do not decode, records whose versions have gaps, public events
    by position) of everything stored."""
    count = undecodable = 0
    versions: dict[Any, list[int]] = {}
    public: dict[int, dict[str, Any]] = {}
    after = 0
    while True:
        page = ledger.store.select_notifications(start=after, limit=1000, inclusive_of_start=False)
        if not page:
            break
        for n in page:
            count += 1
            versions.setdefault(n.originator_id, []).append(n.originator_version)
            try:
                public[n.id] = ledger.public_event(n)
            except Exception:
                undecodable += 1
        after = page[-1].id
    gaps = sum(1 for v in versions.values() if sorted(v) != list(range(1, len(v) + 1)))
    return count, undecodable, gaps, public


def _pending(followers: Any) -> int:
    with followers.views["outbox"].read() as sql:
        row = sql.one("SELECT COUNT(*) AS n FROM w_deliveries WHERE status = 'pending'", [])
    return int(row["n"]) if row else 0


class Topology:
    """The API and two workers of one store, and what each round of kills did to them."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api = server(env, self.port, tmp / "api.log")
        self.workers = [worker(env, tmp / f"worker{n}.log", "--batch", "200") for n in (1, 2)]
        self.kills: Counter[str] = Counter()
        self.reruns = 0
        self.unfinished: list[str] = []

    @property
    def targets(self) -> dict[str, Process]:
        return {"api": self.api, "worker-1": self.workers[0], "worker-2": self.workers[1]}

    def start(self) -> None:
        for process in self.targets.values():
            process.start()
        wait_healthy(self.base)

    def stop(self) -> None:
        for process in self.targets.values():
            process.stop()

    def round(self, rng: random.Random, file: Path, log: Path, *, everything: bool) -> None:
        """Import `file` and, at a random moment, kill -9 a random choice of the API, the
        workers and the importer (or `everything`); start them again and complete the
        import."""
        importer = Process(["import", str(file)], self.env, log).start()
        time.sleep(rng.uniform(0.2, 2.5))
        names = list(self.targets)
        chance = 1.0 if everything else 0.5
        victims = {"import": importer} if importer.running and rng.random() < chance else {}
        victims.update({n: p for n, p in self.targets.items() if rng.random() < chance})
        if not victims:
            name = rng.choice(names)
            victims[name] = self.targets[name]
        for name, process in victims.items():
            process.kill9()
            self.kills[name] += 1
        for name, process in victims.items():
            if name != "import":
                process.start()
        if importer.wait(timeout=300) != 0:
            for _ in range(5):
                self.reruns += 1
                if cli(self.env, "import", str(file), check=False).returncode == 0:
                    break
                time.sleep(0.5)
            else:
                self.unfinished.append(file.name)
        wait_healthy(self.base)


def under_load(size: dict[str, int], seed: int) -> dict[str, Any]:
    from tests.contract.test_followers_crash import generated_commands

    rng = random.Random(seed)
    receiver = SignedReceiver()
    try:
        with pg_store() as url, tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            env = ledger_env(
                url,
                tmp,
                LEDGER_RUN_FOLLOWERS="false",
                LEDGER_WEBHOOK_ALLOW_PRIVATE="1",
                LEDGER_WEBHOOK_LEASE=str(size.get("lease_seconds", 10)),
            )
            files = [write_jsonl(tmp / "base.jsonl", _base_lines())]
            files += [
                generated_commands(tmp / f"round{r}.jsonl", size["crash_commitments"], f"r{r}-")
                for r in range(size["crash_rounds"])
            ]
            cli(env, "import", str(files[0]))
            editor, admin_key = new_key(env, "burst"), new_key(env, "hooks", "admin")
            topology = Topology(env, tmp)
            try:
                topology.start()
                created = httpx.post(
                    f"{topology.base}/v1/webhooks",
                    headers={"Authorization": f"Bearer {admin_key}"},
                    json={"url": receiver.url, "types": ["*"], "description": "crash test"},
                    timeout=30,
                )
                created.raise_for_status()
                subscription = created.json()
                receiver.secret = subscription["secret"]
                burst = Burst(topology.base, editor, threads=2, seed=seed).start()
                try:
                    for r, file in enumerate(files[1:]):
                        # The first round kills everything; the others a random choice.
                        topology.round(rng, file, tmp / f"import{r}.log", everything=r == 0)
                finally:
                    burst.stop()
                outcome = _recover_and_inspect(
                    size, url, tmp, env, topology, files, subscription, burst, receiver
                )
            finally:
                topology.stop()
    finally:
        receiver.close()
    return {
        "seed": seed,
        "rounds": size["crash_rounds"],
        "kills": dict(sorted(topology.kills.items())),
        "import_reruns": topology.reruns,
        "unfinished_imports": topology.unfinished,
        **outcome,
    }


def _recover_and_inspect(
    size: dict[str, int],
    url: str,
    tmp: Path,
    env: dict[str, str],
    topology: Topology,
    files: list[Path],
    subscription: dict[str, Any],
    burst: Burst,
    receiver: SignedReceiver,
) -> dict[str, Any]:
    from ledger.admin import Admin
    from ledger.app import Ledger
    from ledger.cli import principal
    from ledger.clock import ManualClock
    from ledger.config import Settings
    from projections.outbox import LEASE, Sender, webhook_id
    from projections.runner import REBUILT_BY_DEFAULT, Followers

    ledger = Ledger(Settings(database_url=url, signing_key_file=str(tmp / "signing-key")))
    admin = Admin(ledger.settings)
    followers = Followers(ledger, admin=admin)
    try:
        # Recovery: the workers catch up and deliver, a killed sender's deliveries once its
        # lease has run out; whatever is still leased when they are stopped is sent here
        # with the clock moved past the lease.
        def settled() -> bool:
            head = ledger.last_position()
            caught_up = all(followers.position(n) >= head for n in followers.names)
            return caught_up and _pending(followers) == 0

        caught_up_in_time = eventually(settled, timeout=size["settle_seconds"], every=1.0)
        topology.stop()
        followers.catch_up()
        clock = ManualClock(datetime.now(UTC) + LEASE + timedelta(seconds=5))
        sender = Sender(followers.views["outbox"], admin, clock, allow_private=True)
        after_lease = 0
        for _ in range(40):
            sent = sender.run_once(limit=500)
            after_lease += sent
            if not sent:
                if not _pending(followers):
                    break
                clock.advance(timedelta(minutes=10))
        sender.close()
        # What the log holds.
        events, undecodable, gaps, public = _stored(ledger)
        who = principal()
        imported = _imported(ledger, who)
        reference = _reference(files, who)
        notes: Counter[str] = Counter()
        note_at: dict[int, str] = {}
        for position, event in public.items():
            if event["type"] == "claim.evidence_added" and event["recorded_by"] != who:
                notes[event["data"]["note"]] += 1
                note_at[position] = event["data"]["note"]
        acked = burst.acked
        partial = {
            "undecodable": undecodable,
            "version_gaps": gaps,
            "import_missing": sum((reference - imported).values()),
            "import_extra": sum((imported - reference).values()),
            "acked_missing": len(set(acked) - set(notes)),
            "acked_elsewhere": sum(1 for n, p in acked.items() if note_at.get(p) != n),
            "duplicated": sum(c - 1 for c in notes.values() if c > 1),
            "unacknowledged": len(set(notes) - set(acked)),
        }
        # The views against a full rebuild.
        before = {n: followers.snapshot(n) for n in REBUILT_BY_DEFAULT}
        for n in REBUILT_BY_DEFAULT:
            followers.rebuild(n)
        followers.catch_up()
        rebuilt = before == {n: followers.snapshot(n) for n in REBUILT_BY_DEFAULT}
        # Every webhook, de-duplicated by webhook-id, against every event after subscribing.
        sid = subscription["id"]
        expected = {webhook_id(sid, p) for p in public if p > subscription["from_position"]}
        with followers.views["outbox"].read() as sql:
            rows = sql.rows(
                "SELECT webhook_id, status FROM w_deliveries WHERE subscription_id = ?", [sid]
            )
    finally:
        followers.close()
        admin.close()
        ledger.close()
    verified = cli(env, "verify", check=False)
    received = set(receiver.ids)
    return {
        "events": events,
        "http_writes_acknowledged": len(acked),
        "http_retries": burst.retries,
        "http_server_errors": burst.server_errors,
        "http_failures": burst.failures[:5],
        "partial": partial,
        "partial_events": sum(partial.values()),
        "views_equal_rebuild": rebuilt,
        "verify": verified.returncode == 0,
        "verify_says": (verified.stderr.strip().splitlines() or [""])[-1],
        "webhooks_expected": len(expected),
        "webhooks_received": len(received & expected),
        "webhooks_missing": len(expected - received),
        "webhooks_unexpected": len(received - expected),
        "outbox_equals_log": {r["webhook_id"] for r in rows} == expected,
        "not_delivered_rows": sum(1 for r in rows if r["status"] != "delivered"),
        "duplicate_deliveries": receiver.counts["verified"] - len(received),
        "bad_signatures": receiver.counts["bad_signature"],
        "torn_requests": receiver.counts["torn"],
        "workers_caught_up": caught_up_in_time,
        "sent_after_lease": after_lease,
    }
