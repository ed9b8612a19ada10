"""What every record shares: sources, topics, corrections, retraction and redaction.

Records are `eventsourcing` aggregates with explicit event classes, so that each stored event
has a stable schema. Command methods check the rules and then trigger an event; the event's
`apply` is the only place state changes, so replaying the history rebuilds the same record.
Events carry `recorded_by`; their `timestamp` is the ledger's `recorded_at`, which the
application service supplies from its clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate

from ledger.domain.errors import InvalidInput, RuleViolation
from ledger.domain.vocab import PRECISIONS

#: Field values are plain JSON (str, int, bool, None, lists and dicts of them), so a stored
#: event round-trips through export and restore byte for byte.
JSON = Any


def require_text(value: str | None, field: str) -> str:
    if value is None or not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    return value


def require_sources(sources: Sequence[str], field: str = "sources") -> list[str]:
    if not sources:
        raise InvalidInput("a statement must cite at least one source", field=field)
    return list(sources)


def require_choice(value: str, choices: Sequence[str], field: str) -> str:
    if value not in choices:
        raise InvalidInput(f"{value!r} is not one of {', '.join(choices)}", field=field)
    return value


def require_precision(value: str, field: str = "precision") -> str:
    return require_choice(value, PRECISIONS, field)


class Record(Aggregate):
    """Base of the eight public records."""

    KIND: ClassVar[str] = ""
    #: Fields a `Corrected` event may change.
    CORRECTABLE: ClassVar[frozenset[str]] = frozenset()
    #: Text fields a `Redacted` event may withhold.
    REDACTABLE: ClassVar[frozenset[str]] = frozenset()
    #: Whether creating the record must cite a source.
    NEEDS_SOURCES: ClassVar[bool] = True

    if TYPE_CHECKING:
        topics: list[str]
        sources: list[str]

    def _init_common(self, topics: list[str], sources: list[str], recorded_by: str) -> None:
        self.topics = list(topics)
        self.sources = list(sources)
        self.recorded_by = recorded_by
        self.retracted = False
        self.retraction: dict[str, JSON] | None = None
        self.redactions: dict[str, str] = {}
        self.corrections: list[dict[str, JSON]] = []

    class Event(Aggregate.Event):
        recorded_by: str

    class Corrected(Event):
        field: str
        old: JSON
        new: JSON
        reason: str
        sources: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Record)
            setattr(aggregate, self.field, self.new)
            if self.field in ("topics", "sources"):
                setattr(aggregate, self.field, list(self.new))
            aggregate.corrections.append(
                {
                    "field": self.field,
                    "old": self.old,
                    "new": self.new,
                    "reason": self.reason,
                    "sources": self.sources,
                    "recorded_at": self.timestamp.isoformat(),
                    "recorded_by": self.recorded_by,
                }
            )
            aggregate.on_corrected(self.field)

    class Retracted(Event):
        reason: str
        sources: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Record)
            aggregate.retracted = True
            aggregate.retraction = {
                "reason": self.reason,
                "sources": self.sources,
                "recorded_at": self.timestamp.isoformat(),
                "recorded_by": self.recorded_by,
            }

    class Redacted(Event):
        fields: list[str]
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Record)
            for name in self.fields:
                aggregate.redactions[name] = self.reason

    # -- commands shared by every record ------------------------------------------------

    def _emit(self, event_class: type[Aggregate.Event], at: datetime, **fields: JSON) -> None:
        self.trigger_event(event_class, timestamp=at, **fields)

    def require_active(self) -> None:
        if self.retracted:
            raise RuleViolation(f"this {self.KIND} was retracted and cannot change")

    def correct(
        self,
        *,
        field: str,
        value: JSON,
        reason: str,
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.require_active()
        if field not in self.CORRECTABLE:
            allowed = ", ".join(sorted(self.CORRECTABLE))
            raise InvalidInput(
                f"{field!r} cannot be corrected on a {self.KIND} (correctable: {allowed})",
                field="field",
            )
        require_text(reason, "reason")
        old = getattr(self, field)
        if old == value:
            raise RuleViolation(f"{field} already has that value", field="value")
        self.check_correction(field, value)
        self._emit(
            type(self).Corrected,
            at,
            field=field,
            old=old,
            new=value,
            reason=reason,
            sources=list(sources),
            recorded_by=recorded_by,
        )

    def check_correction(self, field: str, value: JSON) -> None:
        """Records override this to keep their invariants under a correction."""

    def on_corrected(self, field: str) -> None:
        """Records override this to recompute state that depends on a corrected field."""

    def retract(
        self, *, reason: str, sources: Sequence[str], recorded_by: str, at: datetime
    ) -> None:
        if self.retracted:
            raise RuleViolation(f"this {self.KIND} is already retracted")
        require_text(reason, "reason")
        self._emit(
            type(self).Retracted,
            at,
            reason=reason,
            sources=list(sources),
            recorded_by=recorded_by,
        )

    def redact(self, *, fields: Sequence[str], reason: str, recorded_by: str, at: datetime) -> None:
        require_text(reason, "reason")
        if not fields:
            raise InvalidInput("name at least one field to redact", field="fields")
        unknown = [f for f in fields if f not in self.REDACTABLE]
        if unknown:
            allowed = ", ".join(sorted(self.REDACTABLE))
            raise InvalidInput(
                f"{', '.join(unknown)} cannot be redacted on a {self.KIND} (redactable: {allowed})",
                field="fields",
            )
        new = [f for f in dict.fromkeys(fields) if f not in self.redactions]
        if not new:
            raise RuleViolation("those fields are already redacted", field="fields")
        self._emit(type(self).Redacted, at, fields=new, reason=reason, recorded_by=recorded_by)
