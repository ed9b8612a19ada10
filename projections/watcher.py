"""The deadline watcher: notices deadlines that pass unresolved and inquiries left
unanswered, and records `DeadlinePassed` / `InquiryOverdue` through the application service,
so subscribers hear of them.

It finds candidates in the views, then checks each against the record itself before writing
(the views may lag). A notice's id derives from the record and the date that passed, so the
same notice is recorded once, whatever restarts or other workers do.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from uuid import UUID

from ledger.app import Ledger
from ledger.clock import Clock, local_date
from ledger.domain import Commitment, DeadlineNotice, Inquiry, InquiryNotice
from ledger.errors import NotFound
from projections.queries import Views

WATCHER = "system:deadline-watcher"
log = logging.getLogger("ledger.watcher")


class DeadlineWatcher:
    def __init__(self, ledger: Ledger, views: Views, clock: Clock) -> None:
        self.ledger = ledger
        self.views = views
        self.clock = clock

    def today(self) -> str:
        return local_date(self.clock.now(), self.ledger.settings.timezone).isoformat()

    def run_once(self) -> int:
        """Record every notice now due; returns how many were recorded."""
        day = self.today()
        recorded = 0
        for row in self.views.unnoticed_deadlines(day):
            recorded += self._deadline(UUID(row["cid"]), day)
        for item in self.views.unnoticed_inquiries(day):
            recorded += self._inquiry(UUID(item["id"]), day)
        return recorded

    def _deadline(self, commitment_id: UUID, day: str) -> int:
        try:
            commitment = self.ledger.get_record("commitment", commitment_id)
        except NotFound:
            return 0
        assert isinstance(commitment, Commitment)
        due = (commitment.due or {}).get("on")
        if commitment.retracted or not commitment.unresolved or not due or due >= day:
            return 0
        notice = DeadlineNotice.record(
            commitment_id=commitment_id,
            due_on=due,
            status=commitment.status,
            recorded_by=WATCHER,
            at=self.clock.now(),
        )
        return 1 if self.ledger.record_notice(notice) is not None else 0

    def _inquiry(self, inquiry_id: UUID, day: str) -> int:
        try:
            inquiry = self.ledger.get_record("inquiry", inquiry_id)
        except NotFound:
            return 0
        assert isinstance(inquiry, Inquiry)
        asked = date.fromisoformat(str(vars(inquiry)["asked_at"])[:10])
        follow_up = (asked + timedelta(days=inquiry.follow_up_after)).isoformat()
        if inquiry.retracted or inquiry.status != "awaiting" or follow_up >= day:
            return 0
        notice = InquiryNotice.record(
            inquiry_id=inquiry_id,
            follow_up_on=follow_up,
            status=inquiry.status,
            recorded_by=WATCHER,
            at=self.clock.now(),
        )
        return 1 if self.ledger.record_notice(notice) is not None else 0
