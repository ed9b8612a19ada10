"""The eight public records of DOMAIN.md and the rules of their lives.

Ids are plain strings in event data (actor ids, source ids), so stored payloads are plain
JSON. The application service checks that referenced records exist; these classes check
everything that can be decided from the record itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.domain.base import (
    JSON,
    Record,
    require_choice,
    require_precision,
    require_sources,
    require_text,
)
from ledger.domain.errors import InvalidInput, RuleViolation
from ledger.domain.vocab import (
    ACTION_KINDS,
    ACTOR_KINDS,
    CLAIM_VERDICTS,
    COMMITMENT_KINDS,
    COMMITMENT_MOVES,
    COMMITMENT_STATUSES,
    COMMITMENT_UNRESOLVED,
    CONFIDENCES,
    DEMAND_MOVES,
    DEMAND_STATUSES,
    EVIDENCE_STANCES,
    INCIDENT_MOVES,
    INCIDENT_REVIEW_STATUSES,
    INQUIRY_MOVES,
    INQUIRY_STATUSES,
)

R = TypeVar("R", bound=Record)


def _create(cls: type[R], event: type[Aggregate.Created], id: UUID, at: datetime, **kw: Any) -> R:
    """Start a record's history with its creation event."""
    return cls._create(event, id=id, timestamp=at, **kw)


def _copy_fields(event: object, aggregate: object, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(event, name)
        setattr(aggregate, name, list(value) if isinstance(value, list) else value)


def _move(current: str, new: str, moves: dict[str, frozenset[str]], noun: str) -> None:
    if new == current:
        raise RuleViolation(f"the {noun} is already {current}", field="status")
    if new not in moves[current]:
        allowed = ", ".join(sorted(moves[current])) or "nothing"
        raise RuleViolation(
            f"a {current} {noun} cannot become {new} (it can become: {allowed})",
            field="status",
        )


def _status_entry(event: Any, **extra: JSON) -> dict[str, JSON]:
    entry: dict[str, JSON] = {
        "status": event.status,
        "occurred_at": event.occurred_at,
        "precision": event.precision,
        "sources": list(event.sources),
        "recorded_at": event.timestamp.isoformat(),
        "recorded_by": event.recorded_by,
    }
    entry.update(extra)
    return entry


# ---------------------------------------------------------------------------------------
class Actor(Record):
    """A person, organization or office."""

    KIND = "actor"
    NEEDS_SOURCES = False
    FIELDS: ClassVar = ("name", "kind", "title", "jurisdiction", "aliases")
    CORRECTABLE = frozenset({"name", "kind", "title", "jurisdiction", "aliases", "topics"})
    REDACTABLE = frozenset({"name", "title", "aliases"})

    class Registered(Aggregate.Created):
        name: str
        kind: str
        title: str | None
        jurisdiction: str | None
        aliases: list[str]
        topics: list[str]
        sources: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Actor)
            aggregate._init_common(self.topics, self.sources, self.recorded_by)
            _copy_fields(self, aggregate, Actor.FIELDS)
            aggregate.titles = []
            if self.title:
                aggregate.titles.append({"title": self.title, "from": None, "sources": []})

    class TitleChanged(Record.Event):
        title: str
        valid_from: str
        sources: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Actor)
            aggregate.title = self.title
            aggregate.titles.append(
                {"title": self.title, "from": self.valid_from, "sources": list(self.sources)}
            )

    if TYPE_CHECKING:
        name: str
        kind: str
        title: str | None
        titles: list[dict[str, JSON]]

    @classmethod
    def register(
        cls,
        *,
        id: UUID,
        name: str,
        kind: str,
        title: str | None = None,
        jurisdiction: str | None = None,
        aliases: Sequence[str] = (),
        topics: Sequence[str] = (),
        sources: Sequence[str] = (),
        recorded_by: str,
        at: datetime,
    ) -> Actor:
        require_text(name, "name")
        require_choice(kind, ACTOR_KINDS, "kind")
        return _create(
            cls,
            cls.Registered,
            id,
            at,
            name=name,
            kind=kind,
            title=title,
            jurisdiction=jurisdiction,
            aliases=list(aliases),
            topics=list(topics),
            sources=list(sources),
            recorded_by=recorded_by,
        )

    def change_title(
        self,
        *,
        title: str,
        valid_from: str,
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.require_active()
        require_text(title, "title")
        if title == self.title:
            raise RuleViolation(f"the actor's title is already {title!r}", field="title")
        self._emit(
            self.TitleChanged,
            at,
            title=title,
            valid_from=valid_from,
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def check_correction(self, field: str, value: JSON) -> None:
        if field == "kind":
            require_choice(value, ACTOR_KINDS, "value")
        if field == "name":
            require_text(value, "value")


# ---------------------------------------------------------------------------------------
class Source(Record):
    """A citable document."""

    KIND = "source"
    NEEDS_SOURCES = False
    FIELDS: ClassVar = (
        "url",
        "title",
        "publisher",
        "author",
        "published_at",
        "retrieved_at",
        "sha256",
        "excerpts",
    )
    CORRECTABLE = frozenset(FIELDS) | {"topics"}
    REDACTABLE = frozenset({"title", "author", "excerpts"})

    class Registered(Aggregate.Created):
        url: str
        title: str
        publisher: str | None
        author: str | None
        published_at: str | None
        retrieved_at: str | None
        sha256: str | None
        excerpts: list[str]
        topics: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Source)
            aggregate._init_common(self.topics, [], self.recorded_by)
            _copy_fields(self, aggregate, Source.FIELDS)

    if TYPE_CHECKING:
        url: str
        title: str

    @classmethod
    def register(
        cls,
        *,
        id: UUID,
        url: str,
        title: str,
        publisher: str | None = None,
        author: str | None = None,
        published_at: str | None = None,
        retrieved_at: str | None = None,
        sha256: str | None = None,
        excerpts: Sequence[str] = (),
        topics: Sequence[str] = (),
        recorded_by: str,
        at: datetime,
    ) -> Source:
        require_text(url, "url")
        require_text(title, "title")
        return _create(
            cls,
            cls.Registered,
            id,
            at,
            url=url,
            title=title,
            publisher=publisher,
            author=author,
            published_at=published_at,
            retrieved_at=retrieved_at,
            sha256=sha256,
            excerpts=list(excerpts),
            topics=list(topics),
            recorded_by=recorded_by,
        )


# ---------------------------------------------------------------------------------------
class Commitment(Record):
    """Something an actor undertook: a promise, a directive to another actor, or a pledge."""

    KIND = "commitment"
    FIELDS: ClassVar = (
        "kind",
        "made_by",
        "assignee",
        "text",
        "summary",
        "made_at",
        "precision",
        "due",
    )
    CORRECTABLE = frozenset(FIELDS) | {"topics", "sources"}
    REDACTABLE = frozenset({"text", "summary"})

    class Made(Aggregate.Created):
        kind: str
        made_by: str
        assignee: str | None
        text: str
        summary: str | None
        made_at: str
        precision: str
        due: dict[str, JSON] | None
        topics: list[str]
        sources: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Commitment)
            aggregate._init_common(self.topics, self.sources, self.recorded_by)
            _copy_fields(self, aggregate, Commitment.FIELDS)
            aggregate.due = dict(self.due) if self.due else None
            aggregate.original_due = dict(self.due) if self.due else None
            aggregate.status = "open"
            aggregate.status_history = []
            aggregate.extensions = []

    class StatusChanged(Record.Event):
        status: str
        occurred_at: str
        precision: str
        reason: str
        sources: list[str]
        action: str | None
        confidence: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Commitment)
            aggregate.status_history.append(
                _status_entry(
                    self,
                    previous=aggregate.status,
                    reason=self.reason,
                    action=self.action,
                    confidence=self.confidence,
                )
            )
            aggregate.status = self.status

    class DeadlineExtended(Record.Event):
        due: dict[str, JSON]
        previous: dict[str, JSON]
        reason: str
        granted_by: str | None
        sources: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Commitment)
            aggregate.due = dict(self.due)
            aggregate.extensions.append(
                {
                    "due": dict(self.due),
                    "previous": dict(self.previous),
                    "reason": self.reason,
                    "granted_by": self.granted_by,
                    "sources": list(self.sources),
                    "recorded_at": self.timestamp.isoformat(),
                    "recorded_by": self.recorded_by,
                }
            )

    if TYPE_CHECKING:
        kind: str
        made_by: str
        assignee: str | None
        status: str
        due: dict[str, JSON] | None
        original_due: dict[str, JSON] | None
        status_history: list[dict[str, JSON]]
        extensions: list[dict[str, JSON]]

    @staticmethod
    def check_due(due: dict[str, JSON] | None, field: str = "due") -> None:
        if due is None:
            return
        if not due.get("on"):
            raise InvalidInput("a deadline needs the resolved date 'on'", field=f"{field}.on")
        require_precision(due.get("precision", "day"), f"{field}.precision")
        if due.get("text") and not due.get("basis"):
            raise InvalidInput(
                "a deadline given in words needs its basis: how the date was derived",
                field=f"{field}.basis",
            )

    @staticmethod
    def check_parties(kind: str, made_by: str, assignee: str | None) -> None:
        require_choice(kind, COMMITMENT_KINDS, "kind")
        if kind == "directive" and not assignee:
            raise InvalidInput("a directive needs an assignee", field="assignee")
        if assignee is not None and assignee == made_by:
            raise InvalidInput("an actor cannot assign a directive to itself", field="assignee")

    @classmethod
    def make(
        cls,
        *,
        id: UUID,
        kind: str,
        made_by: str,
        assignee: str | None = None,
        text: str,
        summary: str | None = None,
        made_at: str,
        precision: str = "day",
        due: dict[str, JSON] | None = None,
        topics: Sequence[str] = (),
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> Commitment:
        cls.check_parties(kind, made_by, assignee)
        require_text(text, "text")
        require_precision(precision)
        cls.check_due(due)
        return _create(
            cls,
            cls.Made,
            id,
            at,
            kind=kind,
            made_by=made_by,
            assignee=assignee,
            text=text,
            summary=summary,
            made_at=made_at,
            precision=precision,
            due=dict(due) if due else None,
            topics=list(topics),
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    @property
    def unresolved(self) -> bool:
        return self.status in COMMITMENT_UNRESOLVED

    def change_status(
        self,
        *,
        status: str,
        occurred_at: str,
        precision: str = "day",
        reason: str,
        sources: Sequence[str],
        action: str | None = None,
        confidence: str = "established",
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.check_status_change(status)
        require_precision(precision)
        require_choice(confidence, CONFIDENCES, "confidence")
        require_text(reason, "reason")
        self._emit(
            self.StatusChanged,
            at,
            status=status,
            occurred_at=occurred_at,
            precision=precision,
            reason=reason,
            sources=require_sources(sources),
            action=action,
            confidence=confidence,
            recorded_by=recorded_by,
        )

    def check_status_change(self, status: str) -> None:
        """Refuse a status the rules forbid, without changing anything."""
        self.require_active()
        require_choice(status, COMMITMENT_STATUSES, "status")
        _move(self.status, status, COMMITMENT_MOVES, "commitment")
        if self.kind == "pledge" and status == "fulfilled" and not self.due:
            raise RuleViolation(
                "a pledge is fulfilled only where it has an end date; it can only be broken",
                field="status",
            )

    def extend_deadline(
        self,
        *,
        due: dict[str, JSON],
        reason: str,
        granted_by: str | None,
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.require_active()
        if self.due is None:
            raise RuleViolation(
                "this commitment has no deadline to extend; correct its 'due' instead",
                field="on",
            )
        if not self.unresolved:
            raise RuleViolation(
                f"a {self.status} commitment's deadline can no longer be extended",
                field="on",
            )
        self.check_due(due, field="deadline")
        if due["on"] == self.due["on"]:
            raise RuleViolation(f"the deadline is already {due['on']}", field="on")
        require_text(reason, "reason")
        self._emit(
            self.DeadlineExtended,
            at,
            due=dict(due),
            previous=dict(self.due),
            reason=reason,
            granted_by=granted_by,
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def check_correction(self, field: str, value: JSON) -> None:
        if field in ("kind", "made_by", "assignee"):
            parties = {"kind": self.kind, "made_by": self.made_by, "assignee": self.assignee}
            parties[field] = value
            self.check_parties(
                str(parties["kind"]), str(parties["made_by"] or ""), parties["assignee"]
            )
        elif field == "due":
            self.check_due(value, field="value")
        elif field == "precision":
            require_precision(value, "value")
        elif field in ("text", "made_at"):
            require_text(value, "value")
        elif field == "sources":
            require_sources(value, "value")

    def on_corrected(self, field: str) -> None:
        # A corrected deadline was the deadline all along: it is the original one too,
        # unless it had since been extended.
        if field == "due" and not self.extensions:
            self.original_due = dict(self.due) if self.due else None


# ---------------------------------------------------------------------------------------
class Claim(Record):
    """A checkable assertion an actor made."""

    KIND = "claim"
    FIELDS: ClassVar = ("made_by", "text", "summary", "made_at", "precision")
    CORRECTABLE = frozenset(FIELDS) | {"topics", "sources"}
    REDACTABLE = frozenset({"text", "summary"})

    class Made(Aggregate.Created):
        made_by: str
        text: str
        summary: str | None
        made_at: str
        precision: str
        topics: list[str]
        sources: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Claim)
            aggregate._init_common(self.topics, self.sources, self.recorded_by)
            _copy_fields(self, aggregate, Claim.FIELDS)
            aggregate.verdict = "unassessed"
            aggregate.evidence = []
            aggregate.assessments = []

    class EvidenceAdded(Record.Event):
        stance: str
        sources: list[str]
        note: str | None
        incident: str | None
        action: str | None
        confidence: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Claim)
            aggregate.evidence.append(
                {
                    "stance": self.stance,
                    "sources": list(self.sources),
                    "note": self.note,
                    "incident": self.incident,
                    "action": self.action,
                    "confidence": self.confidence,
                    "recorded_at": self.timestamp.isoformat(),
                    "recorded_by": self.recorded_by,
                }
            )

    class Assessed(Record.Event):
        verdict: str
        rationale: str
        sources: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Claim)
            aggregate.verdict = self.verdict
            aggregate.assessments.append(
                {
                    "verdict": self.verdict,
                    "rationale": self.rationale,
                    "sources": list(self.sources),
                    "recorded_at": self.timestamp.isoformat(),
                    "recorded_by": self.recorded_by,
                }
            )

    if TYPE_CHECKING:
        made_by: str
        verdict: str
        evidence: list[dict[str, JSON]]
        assessments: list[dict[str, JSON]]

    @classmethod
    def make(
        cls,
        *,
        id: UUID,
        made_by: str,
        text: str,
        summary: str | None = None,
        made_at: str,
        precision: str = "day",
        topics: Sequence[str] = (),
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> Claim:
        require_text(text, "text")
        require_precision(precision)
        return _create(
            cls,
            cls.Made,
            id,
            at,
            made_by=made_by,
            text=text,
            summary=summary,
            made_at=made_at,
            precision=precision,
            topics=list(topics),
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def add_evidence(
        self,
        *,
        stance: str,
        sources: Sequence[str],
        note: str | None = None,
        incident: str | None = None,
        action: str | None = None,
        confidence: str = "established",
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.require_active()
        require_choice(stance, EVIDENCE_STANCES, "stance")
        require_choice(confidence, CONFIDENCES, "confidence")
        self._emit(
            self.EvidenceAdded,
            at,
            stance=stance,
            sources=require_sources(sources),
            note=note,
            incident=incident,
            action=action,
            confidence=confidence,
            recorded_by=recorded_by,
        )

    def assess(
        self,
        *,
        verdict: str,
        rationale: str,
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.require_active()
        require_choice(verdict, CLAIM_VERDICTS[1:], "verdict")
        require_text(rationale, "rationale")
        if verdict == self.verdict:
            raise RuleViolation(f"the claim is already assessed {verdict}", field="verdict")
        self._emit(
            self.Assessed,
            at,
            verdict=verdict,
            rationale=rationale,
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def check_correction(self, field: str, value: JSON) -> None:
        if field in ("text", "made_at", "made_by"):
            require_text(value, "value")
        elif field == "precision":
            require_precision(value, "value")
        elif field == "sources":
            require_sources(value, "value")


# ---------------------------------------------------------------------------------------
class Demand(Record):
    """What a group asks of an actor."""

    KIND = "demand"
    FIELDS: ClassVar = (
        "demanded_by",
        "addressed_to",
        "text",
        "summary",
        "made_at",
        "precision",
        "action",
    )
    CORRECTABLE = frozenset(FIELDS) | {"topics", "sources"}
    REDACTABLE = frozenset({"text", "summary"})

    class Made(Aggregate.Created):
        demanded_by: str
        addressed_to: str
        text: str
        summary: str | None
        made_at: str
        precision: str
        action: str | None
        topics: list[str]
        sources: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Demand)
            aggregate._init_common(self.topics, self.sources, self.recorded_by)
            _copy_fields(self, aggregate, Demand.FIELDS)
            aggregate.status = "pending"
            aggregate.responses = []

    class Responded(Record.Event):
        status: str
        occurred_at: str
        precision: str
        note: str | None
        sources: list[str]
        commitment: str | None
        action: str | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Demand)
            aggregate.responses.append(
                _status_entry(
                    self,
                    previous=aggregate.status,
                    note=self.note,
                    commitment=self.commitment,
                    action=self.action,
                )
            )
            aggregate.status = self.status

    if TYPE_CHECKING:
        demanded_by: str
        addressed_to: str
        status: str
        responses: list[dict[str, JSON]]

    @classmethod
    def make(
        cls,
        *,
        id: UUID,
        demanded_by: str,
        addressed_to: str,
        text: str,
        summary: str | None = None,
        made_at: str,
        precision: str = "day",
        action: str | None = None,
        topics: Sequence[str] = (),
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> Demand:
        require_text(text, "text")
        require_precision(precision)
        if demanded_by == addressed_to:
            raise InvalidInput("a demand is addressed to another actor", field="addressed_to")
        return _create(
            cls,
            cls.Made,
            id,
            at,
            demanded_by=demanded_by,
            addressed_to=addressed_to,
            text=text,
            summary=summary,
            made_at=made_at,
            precision=precision,
            action=action,
            topics=list(topics),
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def respond(
        self,
        *,
        status: str,
        occurred_at: str,
        precision: str = "day",
        note: str | None = None,
        sources: Sequence[str],
        commitment: str | None = None,
        action: str | None = None,
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.check_response(status)
        require_precision(precision)
        self._emit(
            self.Responded,
            at,
            status=status,
            occurred_at=occurred_at,
            precision=precision,
            note=note,
            sources=require_sources(sources),
            commitment=commitment,
            action=action,
            recorded_by=recorded_by,
        )

    def check_response(self, status: str) -> None:
        """Refuse a response status the rules forbid, without changing anything."""
        self.require_active()
        require_choice(status, DEMAND_STATUSES, "status")
        _move(self.status, status, DEMAND_MOVES, "demand")

    def check_correction(self, field: str, value: JSON) -> None:
        if field in ("text", "made_at", "demanded_by", "addressed_to"):
            require_text(value, "value")
            if field in ("demanded_by", "addressed_to"):
                parties = {"demanded_by": self.demanded_by, "addressed_to": self.addressed_to}
                parties[field] = value
                if parties["demanded_by"] == parties["addressed_to"]:
                    raise InvalidInput(
                        "a demand is addressed to another actor", field="addressed_to"
                    )
        elif field == "precision":
            require_precision(value, "value")
        elif field == "sources":
            require_sources(value, "value")


# ---------------------------------------------------------------------------------------
class Incident(Record):
    """Something that happened in the world that may be under review."""

    KIND = "incident"
    FIELDS: ClassVar = ("occurred_at", "precision", "place", "actors", "description")
    CORRECTABLE = frozenset(FIELDS) | {"topics", "sources"}
    REDACTABLE = frozenset({"place", "description"})

    class Reported(Aggregate.Created):
        occurred_at: str
        precision: str
        place: str | None
        actors: list[str]
        description: str
        review_status: str
        topics: list[str]
        sources: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Incident)
            aggregate._init_common(self.topics, self.sources, self.recorded_by)
            _copy_fields(self, aggregate, Incident.FIELDS)
            aggregate.review_status = self.review_status
            aggregate.reviews = []

    class Reviewed(Record.Event):
        status: str
        occurred_at: str
        precision: str
        note: str | None
        sources: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Incident)
            aggregate.reviews.append(
                _status_entry(self, previous=aggregate.review_status, note=self.note)
            )
            aggregate.review_status = self.status

    if TYPE_CHECKING:
        actors: list[str]
        review_status: str
        reviews: list[dict[str, JSON]]

    @classmethod
    def report(
        cls,
        *,
        id: UUID,
        occurred_at: str,
        precision: str = "day",
        place: str | None = None,
        actors: Sequence[str] = (),
        description: str,
        review_status: str = "reported",
        topics: Sequence[str] = (),
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> Incident:
        require_text(description, "description")
        require_precision(precision)
        require_choice(review_status, INCIDENT_REVIEW_STATUSES, "review_status")
        return _create(
            cls,
            cls.Reported,
            id,
            at,
            occurred_at=occurred_at,
            precision=precision,
            place=place,
            actors=list(dict.fromkeys(actors)),
            description=description,
            review_status=review_status,
            topics=list(topics),
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def review(
        self,
        *,
        status: str,
        occurred_at: str,
        precision: str = "day",
        note: str | None = None,
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.require_active()
        require_choice(status, INCIDENT_REVIEW_STATUSES, "status")
        require_precision(precision)
        _move(self.review_status, status, INCIDENT_MOVES, "incident review")
        self._emit(
            self.Reviewed,
            at,
            status=status,
            occurred_at=occurred_at,
            precision=precision,
            note=note,
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def check_correction(self, field: str, value: JSON) -> None:
        if field in ("description", "occurred_at"):
            require_text(value, "value")
        elif field == "precision":
            require_precision(value, "value")
        elif field == "sources":
            require_sources(value, "value")


# ---------------------------------------------------------------------------------------
class Action(Record):
    """An official act. Its links (`fulfils`, `breaks`, `meets`, `supports`, `contradicts`)
    change their targets in the same transaction; the application service applies them."""

    KIND = "action"
    FIELDS: ClassVar = (
        "actor",
        "kind",
        "occurred_at",
        "precision",
        "summary",
        "details",
        "tally",
        "fulfils",
        "partially_fulfils",
        "breaks",
        "meets",
        "supports",
        "contradicts",
        "confidence",
    )
    CORRECTABLE = frozenset(
        {"actor", "kind", "occurred_at", "precision", "summary", "details", "tally", "topics"}
    )
    REDACTABLE = frozenset({"summary", "details"})
    LINKS: ClassVar = (
        "fulfils",
        "partially_fulfils",
        "breaks",
        "meets",
        "supports",
        "contradicts",
    )

    class Recorded(Aggregate.Created):
        actor: str
        kind: str
        occurred_at: str
        precision: str
        summary: str
        details: str | None
        tally: dict[str, int] | None
        fulfils: list[str]
        partially_fulfils: list[str]
        breaks: list[str]
        meets: list[str]
        supports: list[str]
        contradicts: list[str]
        confidence: str
        topics: list[str]
        sources: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Action)
            aggregate._init_common(self.topics, self.sources, self.recorded_by)
            _copy_fields(self, aggregate, Action.FIELDS)

    if TYPE_CHECKING:
        actor: str
        kind: str
        occurred_at: str
        precision: str
        summary: str

    @classmethod
    def record(
        cls,
        *,
        id: UUID,
        actor: str,
        kind: str,
        occurred_at: str,
        precision: str = "day",
        summary: str,
        details: str | None = None,
        tally: dict[str, int] | None = None,
        fulfils: Sequence[str] = (),
        partially_fulfils: Sequence[str] = (),
        breaks: Sequence[str] = (),
        meets: Sequence[str] = (),
        supports: Sequence[str] = (),
        contradicts: Sequence[str] = (),
        confidence: str = "established",
        topics: Sequence[str] = (),
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> Action:
        require_choice(kind, ACTION_KINDS, "kind")
        require_text(summary, "summary")
        require_precision(precision)
        require_choice(confidence, CONFIDENCES, "confidence")
        if tally is not None and kind != "vote":
            raise InvalidInput("only a vote has a tally", field="tally")
        targets = {
            "fulfils": fulfils,
            "partially_fulfils": partially_fulfils,
            "breaks": breaks,
        }
        seen: dict[str, str] = {}
        for link, ids in targets.items():
            # A target named twice in one link is named once (the lists are de-duplicated
            # below); only the same target in two different links is a contradiction.
            for target in dict.fromkeys(ids):
                if target in seen:
                    raise InvalidInput(
                        f"commitment {target} is named by both {seen[target]} and {link}",
                        field=link,
                    )
                seen[target] = link
        overlap = set(supports) & set(contradicts)
        if overlap:
            raise InvalidInput(
                "an action cannot both support and contradict the same claim",
                field="contradicts",
            )
        return _create(
            cls,
            cls.Recorded,
            id,
            at,
            actor=actor,
            kind=kind,
            occurred_at=occurred_at,
            precision=precision,
            summary=summary,
            details=details,
            tally=dict(tally) if tally is not None else None,
            fulfils=list(dict.fromkeys(fulfils)),
            partially_fulfils=list(dict.fromkeys(partially_fulfils)),
            breaks=list(dict.fromkeys(breaks)),
            meets=list(dict.fromkeys(meets)),
            supports=list(dict.fromkeys(supports)),
            contradicts=list(dict.fromkeys(contradicts)),
            confidence=confidence,
            topics=list(topics),
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def check_correction(self, field: str, value: JSON) -> None:
        if field == "kind":
            require_choice(value, ACTION_KINDS, "value")
        elif field in ("summary", "occurred_at", "actor"):
            require_text(value, "value")
        elif field == "precision":
            require_precision(value, "value")


# ---------------------------------------------------------------------------------------
class Inquiry(Record):
    """A question a reporter or group put to an actor, awaiting an answer."""

    KIND = "inquiry"
    FIELDS: ClassVar = (
        "asked_by",
        "asked_to",
        "question",
        "asked_at",
        "precision",
        "follow_up_after",
    )
    CORRECTABLE = frozenset(FIELDS) | {"topics", "sources"}
    REDACTABLE = frozenset({"question"})

    class Opened(Aggregate.Created):
        asked_by: str
        asked_to: str
        question: str
        asked_at: str
        precision: str
        follow_up_after: int
        topics: list[str]
        sources: list[str]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Inquiry)
            aggregate._init_common(self.topics, self.sources, self.recorded_by)
            _copy_fields(self, aggregate, Inquiry.FIELDS)
            aggregate.status = "awaiting"
            aggregate.responses = []

    class Responded(Record.Event):
        status: str
        occurred_at: str
        precision: str
        text: str | None
        sources: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Inquiry)
            aggregate.responses.append(
                _status_entry(self, previous=aggregate.status, text=self.text)
            )
            aggregate.status = self.status

    if TYPE_CHECKING:
        asked_by: str
        asked_to: str
        status: str
        follow_up_after: int
        responses: list[dict[str, JSON]]

    @classmethod
    def open(
        cls,
        *,
        id: UUID,
        asked_by: str,
        asked_to: str,
        question: str,
        asked_at: str,
        precision: str = "day",
        follow_up_after: int = 7,
        topics: Sequence[str] = (),
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> Inquiry:
        require_text(question, "question")
        require_precision(precision)
        cls.check_follow_up(follow_up_after, "follow_up_after")
        if asked_by == asked_to:
            raise InvalidInput("an inquiry is put to another actor", field="asked_to")
        return _create(
            cls,
            cls.Opened,
            id,
            at,
            asked_by=asked_by,
            asked_to=asked_to,
            question=question,
            asked_at=asked_at,
            precision=precision,
            follow_up_after=follow_up_after,
            topics=list(topics),
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    @staticmethod
    def check_follow_up(days: JSON, field: str) -> None:
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise InvalidInput("follow_up_after is a whole number of days, 0 or more", field=field)

    def respond(
        self,
        *,
        status: str,
        occurred_at: str,
        precision: str = "day",
        text: str | None = None,
        sources: Sequence[str],
        recorded_by: str,
        at: datetime,
    ) -> None:
        self.require_active()
        require_choice(status, INQUIRY_STATUSES, "status")
        require_precision(precision)
        _move(self.status, status, INQUIRY_MOVES, "inquiry")
        if status in ("answered", "partially_answered") and not (text and text.strip()):
            raise InvalidInput("an answer needs its text", field="text")
        self._emit(
            self.Responded,
            at,
            status=status,
            occurred_at=occurred_at,
            precision=precision,
            text=text,
            sources=require_sources(sources),
            recorded_by=recorded_by,
        )

    def check_correction(self, field: str, value: JSON) -> None:
        if field == "follow_up_after":
            self.check_follow_up(value, "value")
        elif field in ("question", "asked_at", "asked_by", "asked_to"):
            require_text(value, "value")
            if field in ("asked_by", "asked_to"):
                parties = {"asked_by": self.asked_by, "asked_to": self.asked_to}
                parties[field] = value
                if parties["asked_by"] == parties["asked_to"]:
                    raise InvalidInput("an inquiry is put to another actor", field="asked_to")
        elif field == "precision":
            require_precision(value, "value")
        elif field == "sources":
            require_sources(value, "value")


RECORD_CLASSES: dict[str, type[Record]] = {
    cls.KIND: cls for cls in (Actor, Source, Commitment, Claim, Demand, Incident, Action, Inquiry)
}
#: Plural collection names, as in API paths (`/v1/commitments`).
PLURALS: dict[str, str] = {
    "actor": "actors",
    "source": "sources",
    "commitment": "commitments",
    "claim": "claims",
    "demand": "demands",
    "incident": "incidents",
    "action": "actions",
    "inquiry": "inquiries",
}
