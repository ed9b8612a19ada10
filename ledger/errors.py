"""Every error a command can meet, domain and application alike, in one place.

The HTTP layer maps each class to one status: InvalidInput 422, RuleViolation 409,
Conflict 409, StaleVersion 412, NotFound 404, IdempotencyMismatch 422.
"""

from __future__ import annotations

from ledger.domain.errors import DomainError, InvalidInput, RuleViolation


class NotFound(DomainError):
    """The record a command or read names does not exist (or is another kind)."""


class Conflict(DomainError):
    """The write collided with another (a duplicate id, a concurrent change)."""


class StaleVersion(DomainError):
    """The caller's expected version is not the record's current one."""

    def __init__(self, message: str, *, current: int) -> None:
        super().__init__(message, field="expected_version")
        self.current = current


class IdempotencyMismatch(DomainError):
    """An idempotency key reused for a different request."""


__all__ = [
    "Conflict",
    "DomainError",
    "IdempotencyMismatch",
    "InvalidInput",
    "NotFound",
    "RuleViolation",
    "StaleVersion",
]
