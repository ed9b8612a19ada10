"""A webhook receiver down for an (injected) ten minutes: the sender keeps trying on its
schedule, nothing arrives while the receiver is down, and after it comes back every delivery
arrives, signed (checked with `standardwebhooks`), and is marked delivered."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

from reliability.support import SignedReceiver

OUTAGE = timedelta(minutes=10)


def run(size: dict[str, int]) -> dict[str, Any]:
    from api.services import Services
    from ledger.clock import ManualClock
    from ledger.config import Settings
    from projections.outbox import Sender, webhook_id
    from tests.contract.helpers import run as execute
    from tests.contract.helpers import seed

    clock = ManualClock(datetime(2017, 9, 15, 12, tzinfo=UTC))
    receiver = SignedReceiver()
    back_at = clock.now() + OUTAGE
    receiver.down = lambda: clock.now() < back_at
    try:
        with tempfile.TemporaryDirectory() as tmp:
            services = Services.open(
                Settings(database_url=f"sqlite:///{tmp}/l.db", webhook_allow_private=True),
                clock=clock,
            )
            try:
                seed(services.ledger)
                sub = services.admin.create_subscription(
                    url=receiver.url,
                    types=["claim.*"],
                    actors=[],
                    topics=[],
                    description=None,
                    enabled=True,
                    from_position=services.ledger.last_position(),
                    recorded_by="cli:reliability",
                )
                receiver.secret = sub.secret
                positions = [
                    execute(
                        services.ledger,
                        "claim.evidence",
                        "claim/19-of-23",
                        stance="context",
                        sources=["source/article"],
                        note=str(i),
                    ).position
                    for i in range(size["outage_events"])
                ]
                services.followers.catch_up()
                sender = Sender(
                    services.followers.views["outbox"], services.admin, clock, allow_private=True
                )
                attempts = 0
                during = 0
                for _ in range(60):
                    attempts += sender.run_once()
                    if clock.now() < back_at:
                        during = len(receiver.ids)
                    clock.advance(timedelta(minutes=1))
                sender.close()
                items, _ = services.followers.outbox.deliveries(str(sub.id), limit=500)
            finally:
                services.close()
    finally:
        receiver.close()
    expected = {webhook_id(str(sub.id), p) for p in positions}
    return {
        "events": len(positions),
        "attempts": attempts,
        "refused_while_down": receiver.counts["down"],
        "arrived_while_down": during,
        "delivered": len(expected & set(receiver.ids)),
        "lost": len(expected - set(receiver.ids)),
        "bad_signatures": receiver.counts["bad_signature"],
        "all_marked_delivered": len(items) == len(positions)
        and all(i["status"] == "delivered" for i in items),
    }
