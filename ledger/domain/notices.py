"""System notices: the deadline watcher's `DeadlinePassed` and `InquiryOverdue`.

They live on aggregates of their own, never on the record they concern, so time passing
never bumps a record's version (an editor's `If-Match` stays valid). Each notice's id is
derived from what it notices (the record and the date that passed), so recording the same
notice twice, from a restart or a second worker, is refused by the store's uniqueness rule.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate


class DeadlineNotice(Aggregate):
    """Notes that a commitment's deadline passed while it was unresolved."""

    class DeadlinePassed(Aggregate.Created):
        commitment: str
        due_on: str
        status: str
        recorded_by: str

    @staticmethod
    def notice_id(commitment_id: UUID, due_on: str) -> UUID:
        return uuid5(commitment_id, f"deadline-passed/{due_on}")

    @classmethod
    def record(
        cls, *, commitment_id: UUID, due_on: str, status: str, recorded_by: str, at: datetime
    ) -> DeadlineNotice:
        return cls._create(
            cls.DeadlinePassed,
            id=cls.notice_id(commitment_id, due_on),
            timestamp=at,
            commitment=str(commitment_id),
            due_on=due_on,
            status=status,
            recorded_by=recorded_by,
        )


class InquiryNotice(Aggregate):
    """Notes that an inquiry went unanswered past its follow-up date."""

    class InquiryOverdue(Aggregate.Created):
        inquiry: str
        follow_up_on: str
        status: str
        recorded_by: str

    @staticmethod
    def notice_id(inquiry_id: UUID, follow_up_on: str) -> UUID:
        return uuid5(inquiry_id, f"inquiry-overdue/{follow_up_on}")

    @classmethod
    def record(
        cls, *, inquiry_id: UUID, follow_up_on: str, status: str, recorded_by: str, at: datetime
    ) -> InquiryNotice:
        return cls._create(
            cls.InquiryOverdue,
            id=cls.notice_id(inquiry_id, follow_up_on),
            timestamp=at,
            inquiry=str(inquiry_id),
            follow_up_on=follow_up_on,
            status=status,
            recorded_by=recorded_by,
        )
