"""Everything a request may need, opened once per process: the one way to open the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from api.observability import APPENDED, WEBHOOK_ATTEMPTS
from api.settings import ApiSettings
from ledger.admin import Admin
from ledger.app import Ledger
from ledger.clock import Clock
from ledger.config import Settings
from projections.outbox import Sender
from projections.queries import Views
from projections.runner import Followers, Runner
from projections.watcher import DeadlineWatcher


@dataclass
class Services:
    ledger: Ledger
    admin: Admin
    followers: Followers
    api: ApiSettings = field(default_factory=ApiSettings)
    runner: Runner | None = None
    sender: Sender | None = None

    @property
    def views(self) -> Views:
        return self.followers.queries

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        api: ApiSettings | None = None,
        clock: Clock | None = None,
    ) -> Services:
        settings = settings or Settings()
        settings.ensure_local_dirs()
        ledger = Ledger(settings, clock=clock)
        ledger.listeners.append(lambda _position: APPENDED.inc())
        admin = Admin(settings, clock=clock)
        followers = Followers(ledger, clock=clock, admin=admin)
        return cls(ledger=ledger, admin=admin, followers=followers, api=api or ApiSettings())

    def start_followers(self, *, poll: float = 0.2, send_every: float = 1.0) -> None:
        """Run the followers, the deadline watcher and the webhook sender in this process.
        The sender posts as soon as this process's outbox follower queues deliveries, and
        looks for others (retries, deliveries queued elsewhere) every `send_every` seconds."""
        watcher = DeadlineWatcher(self.ledger, self.views, self.ledger.clock)
        settings = self.ledger.settings
        self.sender = Sender(
            self.followers.views["outbox"],
            self.admin,
            self.ledger.clock,
            allow_private=settings.webhook_allow_private,
            lease=timedelta(seconds=settings.webhook_lease),
        )
        self.sender.on_attempt = lambda result: WEBHOOK_ATTEMPTS.labels(
            "delivered" if _delivered(result) else "failed"
        ).inc()
        self.followers.projections["outbox"].listeners.append(self.sender.wake.set)
        self.runner = Runner(
            self.followers,
            poll=poll,
            jobs=[(self.api.watch_every, watcher.run_once)],
            clock=self.ledger.clock,
        ).start()
        self.sender.start(idle=send_every)

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        if self.sender is not None:
            self.sender.close()
            self.sender = None
        self.followers.close()
        self.admin.close()
        self.ledger.close()


def _delivered(result: dict[str, object]) -> bool:
    code = result.get("status_code")
    return isinstance(code, int) and 200 <= code < 300
