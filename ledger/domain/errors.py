"""Errors the domain raises when a command breaks its rules."""

from __future__ import annotations


class DomainError(Exception):
    """A command the ledger's rules refuse; `field` names the input at fault, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """A value that is not acceptable whatever the record's state (a missing source, an
    unknown status word, a directive with no assignee)."""


class RuleViolation(DomainError):
    """A move the record's current state forbids (fulfilling a withdrawn commitment)."""
