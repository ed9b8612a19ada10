"""Everything a request may need, opened once per process: the one way to open the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.settings import ApiSettings
from ledger.admin import Admin
from ledger.app import Ledger
from ledger.clock import Clock
from ledger.config import Settings
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
        admin = Admin(settings, clock=clock)
        followers = Followers(ledger, clock=clock)
        return cls(ledger=ledger, admin=admin, followers=followers, api=api or ApiSettings())

    def start_followers(self, *, poll: float = 0.2) -> None:
        """Run the followers and the deadline watcher in this process."""
        watcher = DeadlineWatcher(self.ledger, self.views, self.ledger.clock)
        self.runner = Runner(
            self.followers,
            poll=poll,
            jobs=[(self.api.watch_every, watcher.run_once)],
            clock=self.ledger.clock,
        ).start()

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self.followers.close()
        self.admin.close()
        self.ledger.close()
