"""The ledger's domain model: records, their events and rules. No I/O happens here."""

from ledger.domain.base import Record
from ledger.domain.errors import DomainError, InvalidInput, RuleViolation
from ledger.domain.notices import DeadlineNotice, InquiryNotice
from ledger.domain.records import (
    PLURALS,
    RECORD_CLASSES,
    Action,
    Actor,
    Claim,
    Commitment,
    Demand,
    Incident,
    Inquiry,
    Source,
)

__all__ = [
    "PLURALS",
    "RECORD_CLASSES",
    "Action",
    "Actor",
    "Claim",
    "Commitment",
    "DeadlineNotice",
    "Demand",
    "DomainError",
    "Incident",
    "Inquiry",
    "InquiryNotice",
    "InvalidInput",
    "Record",
    "RuleViolation",
    "Source",
]
