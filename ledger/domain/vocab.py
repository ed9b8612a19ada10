"""The ledger's vocabularies (DOMAIN.md) and the moves each status may make."""

from __future__ import annotations

from typing import Final

ACTOR_KINDS: Final = ("person", "organization", "office")
COMMITMENT_KINDS: Final = ("promise", "directive", "pledge")
PRECISIONS: Final = ("day", "week", "month", "year")

COMMITMENT_STATUSES: Final = (
    "open",
    "in_progress",
    "stalled",
    "fulfilled",
    "partially_fulfilled",
    "broken",
    "withdrawn",
    "reversed",
)
#: Unresolved commitments can become overdue; the rest have an outcome.
COMMITMENT_UNRESOLVED: Final = frozenset({"open", "in_progress", "stalled"})
_OUTCOMES = ("fulfilled", "partially_fulfilled", "broken", "withdrawn")
COMMITMENT_MOVES: Final[dict[str, frozenset[str]]] = {
    "open": frozenset({"in_progress", "stalled", *_OUTCOMES}),
    "in_progress": frozenset({"stalled", *_OUTCOMES}),
    "stalled": frozenset({"in_progress", *_OUTCOMES}),
    # A partial result can still be completed, or undone.
    "partially_fulfilled": frozenset({"fulfilled", "broken", "reversed"}),
    # A kept commitment that is later undone (a successor repeals the policy).
    "fulfilled": frozenset({"reversed"}),
    # A broken promise can still be kept late.
    "broken": frozenset({"fulfilled", "partially_fulfilled"}),
    "withdrawn": frozenset(),
    "reversed": frozenset(),
}

CLAIM_VERDICTS: Final = (
    "unassessed",
    "accurate",
    "mostly_accurate",
    "misleading",
    "inaccurate",
    "unsupported",
    "disputed",
)
EVIDENCE_STANCES: Final = ("supports", "contradicts", "context")
CONFIDENCES: Final = ("established", "possible")

DEMAND_STATUSES: Final = ("pending", "acknowledged", "met", "partially_met", "rejected")
DEMAND_MOVES: Final[dict[str, frozenset[str]]] = {
    "pending": frozenset({"acknowledged", "met", "partially_met", "rejected"}),
    "acknowledged": frozenset({"met", "partially_met", "rejected"}),
    "partially_met": frozenset({"met", "rejected"}),
    "rejected": frozenset({"acknowledged", "met", "partially_met"}),
    "met": frozenset(),
}

INCIDENT_REVIEW_STATUSES: Final = (
    "reported",
    "under_review",
    "substantiated",
    "unsubstantiated",
    "closed",
)
INCIDENT_MOVES: Final[dict[str, frozenset[str]]] = {
    "reported": frozenset({"under_review", "substantiated", "unsubstantiated", "closed"}),
    "under_review": frozenset({"substantiated", "unsubstantiated", "closed"}),
    "substantiated": frozenset({"closed"}),
    "unsubstantiated": frozenset({"closed", "under_review"}),
    "closed": frozenset({"under_review"}),
}

INQUIRY_STATUSES: Final = ("awaiting", "answered", "partially_answered", "declined")
INQUIRY_MOVES: Final[dict[str, frozenset[str]]] = {
    "awaiting": frozenset({"answered", "partially_answered", "declined"}),
    "partially_answered": frozenset({"answered", "declined"}),
    # An actor that refused may answer later.
    "declined": frozenset({"answered", "partially_answered"}),
    "answered": frozenset(),
}

ACTION_KINDS: Final = (
    "meeting",
    "policy_announced",
    "ordinance_introduced",
    "vote",
    "report_delivered",
    "refusal_to_comment",
    "statement",
    "other",
)
