"""The application service: the one writer of the public log.

Every write, from the HTTP API, the CLI, an import or the deadline watcher, is a `Command`
executed here. The service checks that referenced records exist, stamps `recorded_at` (its
clock) and `recorded_by` (the caller's principal), enforces expected versions, and stores a
command's idempotency key in the same transaction as its events.
"""

from __future__ import annotations

import gc
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Notification
from eventsourcing.utils import get_topic
from pydantic import ValidationError

from ledger.clock import Clock, SystemClock
from ledger.commands import (
    CORRECTION_REFS,
    ActionCreate,
    ActorCreate,
    ActorTitle,
    Body,
    ClaimAssessment,
    ClaimCreate,
    ClaimEvidence,
    Command,
    CommitmentCreate,
    CommitmentDeadline,
    CommitmentStatus,
    Correction,
    DemandCreate,
    DemandResponse,
    IncidentCreate,
    IncidentReview,
    InquiryCreate,
    InquiryResponse,
    Redaction,
    Retraction,
    SourceCreate,
    correction_value,
)
from ledger.config import Settings
from ledger.domain import (
    RECORD_CLASSES,
    Action,
    Actor,
    Claim,
    Commitment,
    DeadlineNotice,
    Demand,
    DomainError,
    Incident,
    Inquiry,
    InquiryNotice,
    InvalidInput,
    Record,
    Source,
)
from ledger.errors import Conflict, IdempotencyMismatch, NotFound, StaleVersion
from ledger.store import (
    IdempotencyRecord,
    PostgresLedgerRecorder,
    SQLiteLedgerRecorder,
    StoredKey,
    persistence_env,
    schema_lock,
)

R = TypeVar("R", bound=Record)

#: What the public sees in place of a withheld field.
REDACTED = "[redacted]"
#: How often a write without an expected version is re-applied after losing a race.
_WRITE_ATTEMPTS = 25
#: Import lines are idempotent whoever runs the import again.
IMPORT_PRINCIPAL = "import"


# -- the wire names of event types (DOMAIN.md, "Event type names") -----------------------
def _event_types() -> dict[type[Any], str]:
    table: dict[type[Any], str] = {
        Actor.Registered: "actor.registered",
        Actor.TitleChanged: "actor.title_changed",
        Source.Registered: "source.registered",
        Commitment.Made: "commitment.made",
        Commitment.StatusChanged: "commitment.status_changed",
        Commitment.DeadlineExtended: "commitment.deadline_extended",
        DeadlineNotice.DeadlinePassed: "commitment.deadline_passed",
        Claim.Made: "claim.made",
        Claim.EvidenceAdded: "claim.evidence_added",
        Claim.Assessed: "claim.assessed",
        Demand.Made: "demand.made",
        Demand.Responded: "demand.responded",
        Incident.Reported: "incident.reported",
        Incident.Reviewed: "incident.reviewed",
        Action.Recorded: "action.recorded",
        Inquiry.Opened: "inquiry.opened",
        Inquiry.Responded: "inquiry.responded",
        InquiryNotice.InquiryOverdue: "inquiry.overdue",
    }
    for kind, cls in RECORD_CLASSES.items():
        table[cls.Corrected] = f"{kind}.corrected"
        table[cls.Retracted] = f"{kind}.retracted"
        table[cls.Redacted] = f"{kind}.redacted"
    return table


#: event class -> wire name; the one table of them.
EVENT_TYPES: dict[type[Any], str] = _event_types()
WIRE_TYPES: dict[str, type[Any]] = {wire: cls for cls, wire in EVENT_TYPES.items()}
_TOPIC_WIRE: dict[str, str] = {get_topic(cls): wire for cls, wire in EVENT_TYPES.items()}
#: The record kind a record's first event names, by that event's topic.
_CREATED_KIND: dict[str, str] = {
    get_topic(cls): wire.split(".")[0]
    for cls, wire in EVENT_TYPES.items()
    if issubclass(cls, Aggregate.Created)
    and cls.__qualname__.split(".")[0] != "DeadlineNotice"
    and cls.__qualname__.split(".")[0] != "InquiryNotice"
}
#: System notices name the record they concern in this data field.
_NOTICE_SUBJECT: dict[str, str] = {
    EVENT_TYPES[DeadlineNotice.DeadlinePassed]: "commitment",
    EVENT_TYPES[InquiryNotice.InquiryOverdue]: "inquiry",
}
#: Data fields that hold an event's world time, in order of preference.
_WORLD_TIME_FIELDS = (
    "occurred_at",
    "made_at",
    "asked_at",
    "published_at",
    "valid_from",
    "due_on",
    "follow_up_on",
)
_BASE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "recorded_by"}
)


def subject_id(event: Any) -> str:
    """The id of the record an event concerns, as `describe` names it: a notice's commitment
    or inquiry, else the event's own record (a demand's response may name a commitment, but
    it is the demand's)."""
    field = _NOTICE_SUBJECT.get(EVENT_TYPES.get(type(event), ""))
    return str(getattr(event, field) if field else event.originator_id)


def describe(event: Any, position: int) -> dict[str, Any]:
    """A decoded event in its public form (`/v1/events`, exports, webhooks, Merkle leaves)."""
    fields = vars(event)
    return _public(
        EVENT_TYPES[type(event)],
        event.originator_id,
        event.originator_version,
        fields,
        event.timestamp.isoformat(),
        position,
    )


def describe_stored(stored: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """`describe` of a stored event (a notification) from its payload's parsed JSON
    (`fields`), without decoding it: what `ledger verify` reads every event with. A public
    payload holds plain JSON values but for its timestamp, written as the library writes a
    datetime; a timestamp written otherwise is refused (ValueError)."""
    stamp = fields["timestamp"]
    if not (isinstance(stamp, dict) and stamp.get("_type_") == "datetime_iso"):
        raise ValueError("the stored event's timestamp is not an ISO datetime")
    # The text the library wrote, as `isoformat` writes it again once decoded.
    recorded_at = datetime.fromisoformat(stamp["_data_"]).isoformat()
    return _public(
        _TOPIC_WIRE[stored.topic],
        stored.originator_id,
        stored.originator_version,
        fields,
        recorded_at,
        stored.id,
    )


def _public(
    wire: str,
    originator_id: Any,
    version: int,
    fields: dict[str, Any],
    recorded_at: str,
    position: int,
) -> dict[str, Any]:
    data = {k: v for k, v in fields.items() if k not in _BASE_FIELDS}
    subject = _NOTICE_SUBJECT.get(wire)
    record = (
        {"kind": subject, "id": data[subject]}
        if subject
        else {"kind": wire.split(".")[0], "id": str(originator_id)}
    )
    occurred = next((data[f] for f in _WORLD_TIME_FIELDS if data.get(f)), None)
    return {
        "position": position,
        "type": wire,
        "record": record,
        "version": None if subject else version,
        "occurred_at": occurred,
        "precision": data.get("precision", "day") if occurred else None,
        "recorded_at": recorded_at,
        "recorded_by": fields["recorded_by"],
        "data": data,
    }


@dataclass(frozen=True)
class Written:
    """What a write produced: the record, its new version, and the log position."""

    kind: str
    id: UUID
    version: int
    position: int
    replayed: bool = False


@dataclass
class ImportResult:
    applied: int = 0
    skipped: int = 0
    events: int = 0
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    principal: str
    at: datetime


class Batch:
    """The records one or more commands touch before they are saved together."""

    def __init__(self, ledger: Ledger, absent: set[UUID] | None = None) -> None:
        self.ledger = ledger
        self.records: dict[UUID, Record] = {}
        self.touched: list[UUID] = []
        #: Ids known not to exist in the store when the batch began.
        self.absent = absent or set()
        #: (record id, fields, version of the redaction) whose earlier text is to be erased.
        self.erasures: list[tuple[UUID, list[str], int]] = []

    def _touch(self, record_id: UUID) -> None:
        if record_id not in self.touched:
            self.touched.append(record_id)

    def kind_of(self, record_id: UUID) -> str | None:
        if record_id in self.records:
            return self.records[record_id].KIND
        if record_id in self.absent:
            return None
        return self.ledger.kind_of(record_id)

    def get(self, record_id: UUID, cls: type[R]) -> R:
        record = self.records.get(record_id)
        if record is None:
            try:
                loaded: Aggregate = self.ledger.repository.get(record_id)
            except AggregateNotFoundError:
                raise NotFound(f"no {cls.KIND} with id {record_id}") from None
            if not isinstance(loaded, Record):
                raise NotFound(f"no {cls.KIND} with id {record_id}")
            record = loaded
            self.records[record_id] = record
        if not isinstance(record, cls):
            raise NotFound(f"no {cls.KIND} with id {record_id} (it is a {record.KIND})")
        self._touch(record_id)
        return record

    def create(self, record: R) -> R:
        if self.kind_of(record.id) is not None:
            raise Conflict(f"a record with id {record.id} already exists", field="id")
        self.records[record.id] = record
        self._touch(record.id)
        return record

    def check_refs(self, body: Body) -> None:
        for name, kind in body.REFS.items():
            value = getattr(body, name)
            for ref in value if isinstance(value, list) else [value]:
                if ref is not None and self.kind_of(ref) != kind:
                    raise InvalidInput(f"there is no {kind} with id {ref}", field=name)

    def collect(self) -> list[DomainEventProtocol[UUID]]:
        """The pending events of the records touched since the last collect, in order."""
        events: list[DomainEventProtocol[UUID]] = []
        for record_id in self.touched:
            events.extend(self.records[record_id].collect_events())
        self.touched = []
        return events

    def discard(self) -> None:
        """Drop what a refused command started: handlers check before they change, so this
        only forgets the records it created."""
        for record_id in self.touched:
            record = self.records[record_id]
            if record.version == len(record.collect_events()):
                del self.records[record_id]
        self.touched = []


class Ledger(Application[UUID]):
    """The accountability ledger's application service."""

    name = "Ledger"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()
        with schema_lock(self.settings.store):
            super().__init__(env={**persistence_env(self.settings.store), **(env or {})})
        self.store = cast(SQLiteLedgerRecorder | PostgresLedgerRecorder, self.recorder)
        #: Called with the last position after each write (in-process followers wake up).
        self.listeners: list[Callable[[int], None]] = []
        self._kinds: dict[UUID, str] = {}
        self._handlers: dict[str, Callable[[Batch, Command, _Context], Record]] = {
            "actor.create": self._create_actor,
            "actor.title": self._change_actor_title,
            "source.create": self._create_source,
            "commitment.create": self._make_commitment,
            "commitment.status": self._change_commitment_status,
            "commitment.deadline": self._extend_deadline,
            "claim.create": self._make_claim,
            "claim.evidence": self._add_evidence,
            "claim.assessment": self._assess_claim,
            "demand.create": self._make_demand,
            "demand.response": self._respond_to_demand,
            "incident.create": self._report_incident,
            "incident.review": self._review_incident,
            "action.create": self._record_action,
            "inquiry.create": self._open_inquiry,
            "inquiry.response": self._respond_to_inquiry,
        }
        for kind in RECORD_CLASSES:
            self._handlers[f"{kind}.correction"] = self._correct
            self._handlers[f"{kind}.retraction"] = self._retract
            self._handlers[f"{kind}.redaction"] = self._redact

    # -- lookups --------------------------------------------------------------------------
    def learn_kinds(self, ids: Sequence[UUID]) -> set[UUID]:
        """Look up many ids at once; returns those that do not exist."""
        unknown = [i for i in dict.fromkeys(ids) if i not in self._kinds]
        for record_id, topic in self.store.first_topics(unknown).items():
            kind = _CREATED_KIND.get(topic)
            if kind is not None:
                self._kinds[record_id] = kind
        return {i for i in unknown if i not in self._kinds}

    def kind_of(self, record_id: UUID) -> str | None:
        """The kind of an existing record, or None. Records are never deleted, so a kind once
        seen is remembered."""
        kind = self._kinds.get(record_id)
        if kind is None:
            first = self.store.select_events(record_id, limit=1)
            if not first:
                return None
            kind = _CREATED_KIND.get(first[0].topic)
            if kind is None:
                return None
            self._kinds[record_id] = kind
        return kind

    def get_record(self, kind: str, record_id: UUID, *, version: int | None = None) -> Record:
        cls = RECORD_CLASSES[kind]
        try:
            record: Aggregate = self.repository.get(record_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no {kind} with id {record_id}") from None
        if not isinstance(record, cls):
            raise NotFound(f"no {kind} with id {record_id}")
        return record

    # -- writing --------------------------------------------------------------------------
    def execute(self, command: Command, *, principal: str) -> Written:
        """Apply one command; a retry with the same idempotency key returns the first result."""
        if command.key:
            found = self.store.find_keys(principal, [command.key]).get(command.key)
            if found is not None:
                return self._replay(found, command)
        for attempt in range(_WRITE_ATTEMPTS):
            if attempt:
                # Back off with jitter, so racing writers stop colliding.
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
            batch = Batch(self)
            record = self._apply(batch, command, _Context(principal, self.clock.now()))
            events = batch.collect()
            keys = self._key_records(principal, command, record, len(events))
            try:
                recordings = self.events.put(events, idempotency=keys, erase=batch.erasures)
            except IntegrityError:
                if command.key:
                    found = self.store.find_keys(principal, [command.key]).get(command.key)
                    if found is not None:
                        return self._replay(found, command)
                if command.creates:
                    raise Conflict(
                        f"a record with id {record.id} already exists", field="id"
                    ) from None
                if command.expected_version is not None:
                    current = self.get_record(command.kind, record.id).version
                    raise StaleVersion(
                        f"the {command.kind} changed meanwhile: it is at version {current}",
                        current=current,
                    ) from None
                continue  # Another writer changed the record first: apply again on its news.
            position = recordings[-1].notification.id
            self._written(position)
            return Written(record.KIND, record.id, record.version, position)
        raise Conflict("the record kept changing under this write; try again")

    def _key_records(
        self, principal: str, command: Command, record: Record, n_events: int
    ) -> list[IdempotencyRecord]:
        if not command.key:
            return []
        result = {"kind": record.KIND, "id": str(record.id), "version": record.version}
        return [IdempotencyRecord(principal, command.key, command.request_hash(), result, n_events)]

    @staticmethod
    def _replay(found: StoredKey, command: Command) -> Written:
        if found.request_hash != command.request_hash():
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used for a different request",
                field="Idempotency-Key",
            )
        r = found.result
        return Written(r["kind"], UUID(r["id"]), r["version"], r["position"], replayed=True)

    def import_commands(
        self,
        commands: Sequence[Command],
        *,
        principal: str,
        progress: Callable[[str, int], None] | None = None,
        chunk_size: int = 5000,
        dry_run: bool = False,
    ) -> ImportResult:
        """Apply a whole file of commands, or nothing if any of them is refused.

        Every command is first applied in memory, so a refused one is named (with every other
        refused one) before anything is written. Lines already applied by an earlier run of
        the same file are skipped, by their idempotency keys. With `dry_run`, only the check
        is made.
        """
        # An import holds many young objects at once; the cyclic collector would rescan them
        # over and over, and none of them form cycles that outlive the import.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._import(commands, principal, progress, chunk_size, dry_run)
        finally:
            if collecting:
                gc.enable()

    def _import(
        self,
        commands: Sequence[Command],
        principal: str,
        progress: Callable[[str, int], None] | None,
        chunk_size: int,
        dry_run: bool,
    ) -> ImportResult:
        result = ImportResult()
        hashes = [c.request_hash() for c in commands]
        keys = [c.key or f"line:{h}" for c, h in zip(commands, hashes, strict=True)]
        found = self.store.find_keys(IMPORT_PRINCIPAL, keys)
        absent = self.learn_kinds([c.id for c in commands if c.id is not None])
        batch = Batch(self, absent)
        planned: list[tuple[list[DomainEventProtocol[UUID]], IdempotencyRecord, list[Any]]] = []
        seen: set[str] = set()
        for index, (command, key, digest) in enumerate(zip(commands, keys, hashes, strict=True)):
            if progress:
                progress("check", 1)
            stored = found.get(key)
            if stored is not None or key in seen:
                if stored is not None and stored.request_hash != digest:
                    result.errors.append((index, "key", "key already used for another command"))
                result.skipped += 1
                continue
            seen.add(key)
            try:
                record = self._apply(batch, command, _Context(principal, self.clock.now()))
            except DomainError as e:
                batch.discard()
                result.errors.append((index, e.field, e.message))
                continue
            events = batch.collect()
            result_of = {"kind": record.KIND, "id": str(record.id), "version": record.version}
            key_record = IdempotencyRecord(IMPORT_PRINCIPAL, key, digest, result_of, len(events))
            planned.append((events, key_record, batch.erasures))
            batch.erasures = []
        if result.errors or dry_run:
            return result
        for start in range(0, len(planned), chunk_size):
            part = planned[start : start + chunk_size]
            events = [e for evs, _, _ in part for e in evs]
            try:
                self.events.put(
                    events,
                    idempotency=[k for _, k, _ in part],
                    erase=[x for _, _, erasures in part for x in erasures],
                )
            except IntegrityError:
                raise Conflict(
                    f"another writer changed records of command {start + 1} onwards while "
                    "importing; run the import again to apply the rest",
                ) from None
            result.applied += len(part)
            result.events += len(events)
            self._written(self.last_position())
            if progress:
                progress("write", len(part))
        return result

    def _apply(self, batch: Batch, command: Command, ctx: _Context) -> Record:
        return self._handlers[command.op](batch, command, ctx)

    # -- command handlers: one per command ------------------------------------------------
    def _new_id(self, batch: Batch, command: Command) -> UUID:
        record_id = command.id or uuid4()
        if batch.kind_of(record_id) is not None:
            raise Conflict(f"a record with id {record_id} already exists", field="id")
        return record_id

    def _target(self, batch: Batch, command: Command, cls: type[R]) -> R:
        assert command.id is not None
        record = batch.get(command.id, cls)
        expected = command.expected_version
        if expected is not None and record.version != expected:
            raise StaleVersion(
                f"the {record.KIND} is at version {record.version}, not {expected}",
                current=record.version,
            )
        return record

    @staticmethod
    def _sign(ctx: _Context) -> dict[str, Any]:
        return {"recorded_by": ctx.principal, "at": ctx.at}

    def _create_actor(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(ActorCreate, c.data)
        b.check_refs(data)
        actor = Actor.register(id=self._new_id(b, c), **data.domain_kwargs(), **self._sign(ctx))
        return b.create(actor)

    def _change_actor_title(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(ActorTitle, c.data)
        actor = self._target(b, c, Actor)
        b.check_refs(data)
        actor.change_title(**data.domain_kwargs(), **self._sign(ctx))
        return actor

    def _create_source(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(SourceCreate, c.data)
        source = Source.register(id=self._new_id(b, c), **data.domain_kwargs(), **self._sign(ctx))
        return b.create(source)

    def _make_commitment(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(CommitmentCreate, c.data)
        b.check_refs(data)
        made = Commitment.make(id=self._new_id(b, c), **data.domain_kwargs(), **self._sign(ctx))
        return b.create(made)

    def _change_commitment_status(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(CommitmentStatus, c.data)
        commitment = self._target(b, c, Commitment)
        b.check_refs(data)
        commitment.change_status(**data.domain_kwargs(), **self._sign(ctx))
        return commitment

    def _extend_deadline(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(CommitmentDeadline, c.data)
        commitment = self._target(b, c, Commitment)
        b.check_refs(data)
        commitment.extend_deadline(
            due=data.due(),
            reason=data.reason,
            granted_by=str(data.granted_by) if data.granted_by else None,
            sources=[str(s) for s in data.sources],
            **self._sign(ctx),
        )
        return commitment

    def _make_claim(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(ClaimCreate, c.data)
        b.check_refs(data)
        return b.create(
            Claim.make(id=self._new_id(b, c), **data.domain_kwargs(), **self._sign(ctx))
        )

    def _add_evidence(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(ClaimEvidence, c.data)
        claim = self._target(b, c, Claim)
        b.check_refs(data)
        claim.add_evidence(**data.domain_kwargs(), **self._sign(ctx))
        return claim

    def _assess_claim(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(ClaimAssessment, c.data)
        claim = self._target(b, c, Claim)
        b.check_refs(data)
        claim.assess(**data.domain_kwargs(), **self._sign(ctx))
        return claim

    def _make_demand(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(DemandCreate, c.data)
        b.check_refs(data)
        return b.create(
            Demand.make(id=self._new_id(b, c), **data.domain_kwargs(), **self._sign(ctx))
        )

    def _respond_to_demand(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(DemandResponse, c.data)
        demand = self._target(b, c, Demand)
        b.check_refs(data)
        demand.respond(**data.domain_kwargs(), **self._sign(ctx))
        return demand

    def _report_incident(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(IncidentCreate, c.data)
        b.check_refs(data)
        return b.create(
            Incident.report(id=self._new_id(b, c), **data.domain_kwargs(), **self._sign(ctx))
        )

    def _review_incident(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(IncidentReview, c.data)
        incident = self._target(b, c, Incident)
        b.check_refs(data)
        incident.review(**data.domain_kwargs(), **self._sign(ctx))
        return incident

    def _record_action(self, b: Batch, c: Command, ctx: _Context) -> Record:
        """An action and the changes its links make to their targets, in one transaction.
        Every link is checked before anything changes."""
        data = cast(ActionCreate, c.data)
        b.check_refs(data)
        kwargs = data.domain_kwargs()
        action = b.create(Action.record(id=self._new_id(b, c), **kwargs, **self._sign(ctx)))
        when: dict[str, Any] = {"occurred_at": action.occurred_at, "precision": action.precision}
        because = f"{data.kind.replace('_', ' ')}: {data.summary}"
        sources = kwargs["sources"]
        changes: list[Callable[[], None]] = []
        link_status = (
            ("fulfils", "fulfilled"),
            ("partially_fulfils", "partially_fulfilled"),
            ("breaks", "broken"),
        )
        for link, status in link_status:
            for target in kwargs[link]:
                commitment = b.get(UUID(target), Commitment)
                self._check_link(partial(commitment.check_status_change, status), link, target)
                changes.append(
                    partial(
                        commitment.change_status,
                        status=status,
                        reason=because,
                        sources=sources,
                        action=str(action.id),
                        confidence=data.confidence,
                        **when,
                        **self._sign(ctx),
                    )
                )
        for target in kwargs["meets"]:
            demand = b.get(UUID(target), Demand)
            self._check_link(partial(demand.check_response, "met"), "meets", target)
            changes.append(
                partial(
                    demand.respond,
                    status="met",
                    note=because,
                    sources=sources,
                    action=str(action.id),
                    **when,
                    **self._sign(ctx),
                )
            )
        for link, stance in (("supports", "supports"), ("contradicts", "contradicts")):
            for target in kwargs[link]:
                claim = b.get(UUID(target), Claim)
                self._check_link(claim.require_active, link, target)
                changes.append(
                    partial(
                        claim.add_evidence,
                        stance=stance,
                        sources=sources,
                        note=because,
                        action=str(action.id),
                        confidence=data.confidence,
                        **self._sign(ctx),
                    )
                )
        for change in changes:
            change()
        return action

    @staticmethod
    def _check_link(check: Callable[[], None], link: str, target: str) -> None:
        try:
            check()
        except DomainError as e:
            raise type(e)(f"{link} {target}: {e.message}", field=link) from None

    def _open_inquiry(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(InquiryCreate, c.data)
        b.check_refs(data)
        return b.create(
            Inquiry.open(id=self._new_id(b, c), **data.domain_kwargs(), **self._sign(ctx))
        )

    def _respond_to_inquiry(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(InquiryResponse, c.data)
        inquiry = self._target(b, c, Inquiry)
        b.check_refs(data)
        inquiry.respond(**data.domain_kwargs(), **self._sign(ctx))
        return inquiry

    def _correct(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(Correction, c.data)
        record = self._target(b, c, RECORD_CLASSES[c.kind])
        b.check_refs(data)
        if data.field not in record.CORRECTABLE:
            allowed = ", ".join(sorted(record.CORRECTABLE))
            raise InvalidInput(
                f"{data.field!r} cannot be corrected on a {record.KIND} (correctable: {allowed})",
                field="field",
            )
        try:
            value = correction_value(data.field, data.value)
        except ValidationError as e:
            raise InvalidInput(
                f"not a valid {data.field}: {e.errors()[0]['msg']}", field="value"
            ) from None
        ref_kind = CORRECTION_REFS.get(data.field)
        if ref_kind:
            for ref in value if isinstance(value, list) else [value]:
                if ref is not None and b.kind_of(UUID(ref)) != ref_kind:
                    raise InvalidInput(f"there is no {ref_kind} with id {ref}", field="value")
        record.correct(
            field=data.field,
            value=value,
            reason=data.reason,
            sources=[str(s) for s in data.sources],
            **self._sign(ctx),
        )
        return record

    def _retract(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(Retraction, c.data)
        record = self._target(b, c, RECORD_CLASSES[c.kind])
        b.check_refs(data)
        record.retract(
            reason=data.reason, sources=[str(s) for s in data.sources], **self._sign(ctx)
        )
        return record

    def _redact(self, b: Batch, c: Command, ctx: _Context) -> Record:
        data = cast(Redaction, c.data)
        record = self._target(b, c, RECORD_CLASSES[c.kind])
        before = set(record.redactions)
        record.redact(fields=data.fields, reason=data.reason, **self._sign(ctx))
        b.erasures.append((record.id, sorted(set(record.redactions) - before), record.version))
        return record

    # -- system notices -------------------------------------------------------------------
    def record_notice(self, notice: Aggregate) -> int | None:
        """Append a deadline watcher's notice; None if it was already recorded."""
        try:
            recordings = self.save(notice)
        except IntegrityError:
            return None
        position = recordings[-1].notification.id
        self._written(position)
        return position

    def _written(self, position: int) -> None:
        for listener in self.listeners:
            listener(position)

    # -- the log, as the public sees it ---------------------------------------------------
    def public_event(self, notification: Notification) -> dict[str, Any]:
        """An event as `/v1/events`, exports and webhooks show it."""
        return describe(self.mapper.to_domain_event(notification), notification.id)

    def masked(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Events as the public may read them: the text of withheld (redacted) fields is
        replaced, in every event of the record, by "[redacted]"."""
        ids = list({UUID(e["record"]["id"]) for e in events})
        withheld = self.store.redacted_fields(ids) if ids else {}
        if not withheld:
            return events
        out = []
        for event in events:
            fields = withheld.get(event["record"]["id"])
            if not fields or event["type"].endswith(".redacted"):
                out.append(event)
                continue
            data = dict(event["data"])
            for name in fields:
                if name in data:
                    data[name] = REDACTED
            if data.get("field") in fields:
                data["old"] = data["new"] = REDACTED
            out.append({**event, "data": data})
        return out

    def log_events(self, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        notifications = self.store.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [self.public_event(n) for n in notifications]

    def history(self, kind: str, record_id: UUID) -> list[dict[str, Any]]:
        """Every event of one record, oldest first."""
        if self.kind_of(record_id) != kind:
            raise NotFound(f"no {kind} with id {record_id}")
        return [self.public_event(n) for n in self.store.select_record(record_id)]

    def last_position(self) -> int:
        return self.store.max_notification_id() or 0

    def export_lines(self, page: int = 1000) -> Iterator[str]:
        """The whole log as JSON lines, in position order."""
        after = 0
        while True:
            batch = self.log_events(after=after, limit=page)
            if not batch:
                return
            for item in batch:
                yield json.dumps(item, ensure_ascii=False, separators=(",", ":"))
            after = batch[-1]["position"]

    def restore(self, lines: Iterable[str], *, chunk_size: int = 2000) -> int:
        """Load an export into an empty store, keeping positions, ids, `recorded_at` and
        `recorded_by`, so that exporting again prints the same lines."""
        if self.last_position():
            raise Conflict("restore needs an empty store; this one already holds events")
        rows = []
        count = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(self._stored_from_export(json.loads(line)))
            except (KeyError, TypeError, ValueError) as e:
                raise InvalidInput(f"line {number} is not an exported event: {e}") from None
            if len(rows) >= chunk_size:
                self.store.restore(rows)
                count += len(rows)
                rows = []
        if rows:
            self.store.restore(rows)
            count += len(rows)
        return count

    def _stored_from_export(self, item: dict[str, Any]) -> Any:
        cls = WIRE_TYPES[item["type"]]
        data = dict(item["data"])
        subject = _NOTICE_SUBJECT.get(item["type"])
        if subject == "commitment":
            originator = DeadlineNotice.notice_id(UUID(data["commitment"]), data["due_on"])
            version = 1
        elif subject == "inquiry":
            originator = InquiryNotice.notice_id(UUID(data["inquiry"]), data["follow_up_on"])
            version = 1
        else:
            originator = UUID(item["record"]["id"])
            version = int(item["version"])
        kwargs: dict[str, Any] = {
            "originator_id": originator,
            "originator_version": version,
            "timestamp": datetime.fromisoformat(item["recorded_at"]),
            "recorded_by": item["recorded_by"],
            **data,
        }
        if issubclass(cls, Aggregate.Created):
            outer = cls.__qualname__.rsplit(".", 1)[0]
            kwargs["originator_topic"] = f"{cls.__module__}:{outer}"
        event = cls(**kwargs)
        return (int(item["position"]), self.mapper.to_stored_event(event))
