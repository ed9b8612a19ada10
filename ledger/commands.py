"""The commands the ledger accepts, as validated input (pydantic models).

One model per command body; the HTTP API takes the same bodies, and an import file holds one
command per line: `{"op": "commitment.create", "id": "commitment/warren-recommendations",
"data": {...}}`. Wherever an id is expected, a slug such as `actor/greg-fischer` may stand
for it: it names the id `uuid5(LEDGER_NAMESPACE, slug)`, so a data set keeps the same ids in
every store.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Literal, Union, cast
from uuid import UUID, uuid5

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from ledger.domain import vocab

#: The namespace of slug-derived ids.
LEDGER_NAMESPACE = UUID("6f1c3a52-8d0e-5b7a-9a41-3c2e7d9b0f15")
_SLUG = re.compile(r"^[a-z][a-z0-9_-]*/[a-z0-9][a-z0-9._-]*$")
_TOPIC = r"^[a-z0-9]+(-[a-z0-9]+)*$"


@functools.lru_cache(maxsize=65536)
def slug_id(slug: str) -> UUID:
    """The stable id a slug names (`commitment/warren-recommendations`)."""
    return uuid5(LEDGER_NAMESPACE, slug)


_SLUG_IDS: dict[str, UUID] = {}


def _to_id(value: Any) -> Any:
    if isinstance(value, str):
        known = _SLUG_IDS.get(value)
        if known is not None:
            return known
        if _SLUG.match(value):
            if len(_SLUG_IDS) < 100_000:
                _SLUG_IDS[value] = slug_id(value)
            return slug_id(value)
    return value


#: A record id, given as a UUID or as a slug; it serializes as the UUID's string.
Ref = Annotated[UUID, BeforeValidator(_to_id)]
Topic = Annotated[str, Field(pattern=_TOPIC, max_length=80)]
Text = Annotated[str, Field(min_length=1, max_length=20_000)]
ShortText = Annotated[str, Field(min_length=1, max_length=500)]
Precision = Literal["day", "week", "month", "year"]


def _world_time(value: Any) -> Any:
    """A world date is an ISO date (`2017-09-15`) or a datetime (UTC unless zoned)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date such as 2017-09-15")
    text = value.strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date (2017-09-15) or datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


WorldTime = Annotated[str, BeforeValidator(_world_time)]


def _day(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date such as 2017-09-22") from None
    raise ValueError("expected an ISO 8601 date such as 2017-09-22")


Day = Annotated[str, BeforeValidator(_day)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Body(BaseModel):
    """Base of every command body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=False)
    #: Fields holding ids of other records, and the kind each must be.
    REFS: ClassVar[dict[str, str]] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000: such an event would stop every view there.
        if _has_nul(value):
            raise ValueError("text must not contain the NUL character (U+0000)")
        return value

    def domain_kwargs(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Due(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: Day
    text: ShortText | None = None
    precision: Precision = "day"
    basis: ShortText | None = None

    @model_validator(mode="after")
    def _basis_for_words(self) -> Due:
        if self.text and not self.basis:
            raise ValueError("a deadline given in words needs its basis: how the date was derived")
        return self


Sources = Annotated[list[Ref], Field(max_length=100)]
Topics = Annotated[list[Topic], Field(max_length=50)]


class ActorCreate(Body):
    REFS = {"sources": "source"}
    name: ShortText
    kind: Literal["person", "organization", "office"]
    title: ShortText | None = None
    jurisdiction: ShortText | None = None
    aliases: list[ShortText] = Field(default_factory=list, max_length=50)
    topics: Topics = Field(default_factory=list)
    sources: Sources = Field(default_factory=list)


class ActorTitle(Body):
    REFS = {"sources": "source"}
    title: ShortText
    valid_from: WorldTime = Field(alias="from")
    sources: Sources


class SourceCreate(Body):
    url: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^(https?|urn|file):\S+$")]
    title: ShortText
    publisher: ShortText | None = None
    author: ShortText | None = None
    published_at: WorldTime | None = None
    retrieved_at: WorldTime | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    excerpts: list[Text] = Field(default_factory=list, max_length=100)
    topics: Topics = Field(default_factory=list)


class CommitmentCreate(Body):
    REFS = {"made_by": "actor", "assignee": "actor", "sources": "source"}
    kind: Literal["promise", "directive", "pledge"]
    made_by: Ref
    assignee: Ref | None = None
    text: Text
    summary: Text | None = None
    made_at: WorldTime
    precision: Precision = "day"
    due: Due | None = None
    topics: Topics = Field(default_factory=list)
    sources: Sources


class CommitmentStatus(Body):
    REFS = {"sources": "source"}
    status: Literal[vocab.COMMITMENT_STATUSES[1:]]  # type: ignore[valid-type]
    occurred_at: WorldTime
    precision: Precision = "day"
    reason: Text
    sources: Sources


class CommitmentDeadline(Body):
    REFS = {"granted_by": "actor", "sources": "source"}
    on: Day
    text: ShortText | None = None
    precision: Precision = "day"
    basis: ShortText | None = None
    reason: Text
    granted_by: Ref | None = None
    sources: Sources

    def due(self) -> dict[str, Any]:
        return {"on": self.on, "text": self.text, "precision": self.precision, "basis": self.basis}


class ClaimCreate(Body):
    REFS = {"made_by": "actor", "sources": "source"}
    made_by: Ref
    text: Text
    summary: Text | None = None
    made_at: WorldTime
    precision: Precision = "day"
    topics: Topics = Field(default_factory=list)
    sources: Sources


class ClaimEvidence(Body):
    REFS = {"sources": "source", "incident": "incident", "action": "action"}
    stance: Literal["supports", "contradicts", "context"]
    sources: Sources
    note: Text | None = None
    incident: Ref | None = None
    action: Ref | None = None
    confidence: Literal["established", "possible"] = "established"


class ClaimAssessment(Body):
    REFS = {"sources": "source"}
    verdict: Literal[vocab.CLAIM_VERDICTS[1:]]  # type: ignore[valid-type]
    rationale: Text
    sources: Sources


class DemandCreate(Body):
    REFS = {
        "demanded_by": "actor",
        "addressed_to": "actor",
        "action": "action",
        "sources": "source",
    }
    demanded_by: Ref
    addressed_to: Ref
    text: Text
    summary: Text | None = None
    made_at: WorldTime
    precision: Precision = "day"
    action: Ref | None = None
    topics: Topics = Field(default_factory=list)
    sources: Sources


class DemandResponse(Body):
    REFS = {"commitment": "commitment", "sources": "source"}
    status: Literal[vocab.DEMAND_STATUSES[1:]]  # type: ignore[valid-type]
    occurred_at: WorldTime
    precision: Precision = "day"
    note: Text | None = None
    sources: Sources
    commitment: Ref | None = None


class IncidentCreate(Body):
    REFS = {"actors": "actor", "sources": "source"}
    occurred_at: WorldTime
    precision: Precision = "day"
    place: ShortText | None = None
    actors: list[Ref] = Field(default_factory=list, max_length=100)
    description: Text
    review_status: Literal[vocab.INCIDENT_REVIEW_STATUSES] = "reported"  # type: ignore[valid-type]
    topics: Topics = Field(default_factory=list)
    sources: Sources


class IncidentReview(Body):
    REFS = {"sources": "source"}
    status: Literal[vocab.INCIDENT_REVIEW_STATUSES[1:]]  # type: ignore[valid-type]
    occurred_at: WorldTime
    precision: Precision = "day"
    note: Text | None = None
    sources: Sources


class Tally(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yes: int = Field(ge=0)
    no: int = Field(ge=0)
    abstain: int = Field(default=0, ge=0)
    absent: int = Field(default=0, ge=0)


Links = Annotated[list[Ref], Field(max_length=100)]


class ActionCreate(Body):
    REFS = {
        "actor": "actor",
        "fulfils": "commitment",
        "partially_fulfils": "commitment",
        "breaks": "commitment",
        "meets": "demand",
        "supports": "claim",
        "contradicts": "claim",
        "sources": "source",
    }
    actor: Ref
    kind: Literal[vocab.ACTION_KINDS]  # type: ignore[valid-type]
    occurred_at: WorldTime
    precision: Precision = "day"
    summary: Text
    details: Text | None = None
    tally: Tally | None = None
    fulfils: Links = Field(default_factory=list)
    partially_fulfils: Links = Field(default_factory=list)
    breaks: Links = Field(default_factory=list)
    meets: Links = Field(default_factory=list)
    supports: Links = Field(default_factory=list)
    contradicts: Links = Field(default_factory=list)
    confidence: Literal["established", "possible"] = "established"
    topics: Topics = Field(default_factory=list)
    sources: Sources


class InquiryCreate(Body):
    REFS = {"asked_by": "actor", "asked_to": "actor", "sources": "source"}
    asked_by: Ref
    asked_to: Ref
    question: Text
    asked_at: WorldTime
    precision: Precision = "day"
    follow_up_after: int = Field(default=7, ge=0, le=3650)
    topics: Topics = Field(default_factory=list)
    sources: Sources


class InquiryResponse(Body):
    REFS = {"sources": "source"}
    status: Literal[vocab.INQUIRY_STATUSES[1:]]  # type: ignore[valid-type]
    occurred_at: WorldTime
    precision: Precision = "day"
    text: Text | None = None
    sources: Sources


class Correction(Body):
    REFS = {"sources": "source"}
    field: Annotated[str, Field(min_length=1, max_length=64)]
    value: Any
    reason: Text
    sources: Sources = Field(default_factory=list)


class Retraction(Body):
    REFS = {"sources": "source"}
    reason: Text
    sources: Sources = Field(default_factory=list)


class Redaction(Body):
    reason: Text
    fields: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=20
    )


#: How a corrected value is checked, by field name; fields not named here take text.
CORRECTION_TYPES: dict[str, Any] = {
    "made_by": Ref,
    "assignee": Ref | None,
    "demanded_by": Ref,
    "addressed_to": Ref,
    "asked_by": Ref,
    "asked_to": Ref,
    "actor": Ref,
    "action": Ref | None,
    "actors": list[Ref],
    "sources": list[Ref],
    "topics": list[Topic],
    "aliases": list[ShortText],
    "excerpts": list[Text],
    "made_at": WorldTime,
    "asked_at": WorldTime,
    "occurred_at": WorldTime,
    "published_at": WorldTime | None,
    "retrieved_at": WorldTime | None,
    "precision": Precision,
    "due": Due | None,
    "follow_up_after": Annotated[int, Field(ge=0, le=3650)],
    "tally": Tally | None,
    "kind": ShortText,
    "name": ShortText,
    "title": ShortText | None,
}
#: The kind of record each id-holding correctable field names.
CORRECTION_REFS: dict[str, str] = {
    "made_by": "actor",
    "assignee": "actor",
    "demanded_by": "actor",
    "addressed_to": "actor",
    "asked_by": "actor",
    "asked_to": "actor",
    "actor": "actor",
    "actors": "actor",
    "action": "action",
    "sources": "source",
}
_TEXT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Text | None)
_CORRECTION_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(kind) for name, kind in CORRECTION_TYPES.items()
}


def correction_value(field: str, value: Any) -> Any:
    """Check a corrected value with its field's type; returns it as plain JSON."""
    adapter = _CORRECTION_ADAPTERS.get(field, _TEXT_ADAPTER)
    return adapter.dump_python(adapter.validate_python(value), mode="json")


#: op -> (body model, whether it creates a record)
OPS: dict[str, tuple[type[Body], bool]] = {
    "actor.create": (ActorCreate, True),
    "actor.title": (ActorTitle, False),
    "source.create": (SourceCreate, True),
    "commitment.create": (CommitmentCreate, True),
    "commitment.status": (CommitmentStatus, False),
    "commitment.deadline": (CommitmentDeadline, False),
    "claim.create": (ClaimCreate, True),
    "claim.evidence": (ClaimEvidence, False),
    "claim.assessment": (ClaimAssessment, False),
    "demand.create": (DemandCreate, True),
    "demand.response": (DemandResponse, False),
    "incident.create": (IncidentCreate, True),
    "incident.review": (IncidentReview, False),
    "action.create": (ActionCreate, True),
    "inquiry.create": (InquiryCreate, True),
    "inquiry.response": (InquiryResponse, False),
}
RECORD_KINDS = ("actor", "source", "commitment", "claim", "demand", "incident", "action", "inquiry")
for _kind in RECORD_KINDS:
    OPS[f"{_kind}.correction"] = (Correction, False)
    OPS[f"{_kind}.retraction"] = (Retraction, False)
    OPS[f"{_kind}.redaction"] = (Redaction, False)


class Command(BaseModel):
    """One command: what an import line holds, and what an HTTP write becomes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: str
    id: Ref | None = None
    data: SerializeAsAny[Body]
    key: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    expected_version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _id_for_changes(self) -> Command:
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}")
        if not OPS[self.op][1] and self.id is None:
            raise ValueError(f"{self.op} needs the id of the record it changes")
        return self

    @property
    def kind(self) -> str:
        return self.op.split(".", 1)[0]

    @property
    def creates(self) -> bool:
        return OPS[self.op][1]

    def request_hash(self) -> str:
        """A digest of what the command asks, to tell a retry from a different request."""
        canonical = self.model_dump_json(include={"op", "id", "data", "expected_version"})
        return hashlib.sha256(canonical.encode()).hexdigest()


def _command_model(op: str, body: type[Body]) -> type[Command]:
    """The command model of one op: its `op` is that op and its `data` that op's body."""
    model: type[Command] = create_model(
        f"Command[{op}]",
        __base__=Command,
        op=(cast(Any, Literal[op]), ...),
        data=(body, ...),
    )
    return model


_COMMANDS = [_command_model(op, body) for op, (body, _creates) in OPS.items()]
_PARSER: TypeAdapter[Command] = TypeAdapter(
    cast(Any, Annotated[Union[tuple(_COMMANDS)], Field(discriminator="op")])  # noqa: UP007
)


class CommandError(ValueError):
    """A command that does not parse; `errors` lists (field, reason) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {r}" if f else r for f, r in errors))
        self.errors = errors


def _errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = list(err["loc"])
        if err["type"] == "union_tag_invalid":
            given = err.get("input")
            op = str(given.get("op", "")) if isinstance(given, dict) else ""
            near = difflib.get_close_matches(op, OPS, n=3)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            out.append(("op", f"unknown op {op!r}{hint} (ops are listed in the README)"))
            continue
        if err["type"] == "json_invalid":
            out.append(("", "not JSON: " + err["msg"].removeprefix("Invalid JSON: ")))
            continue
        if err["type"] == "union_tag_not_found":
            out.append(("op", "each command needs an op, such as commitment.create"))
            continue
        if loc and isinstance(loc[0], str) and loc[0] in OPS:
            loc = loc[1:]  # the op's own tag, not a field
        message = err["msg"].removeprefix("Value error, ")
        field = ".".join(str(p) for p in loc)
        if not field and message.endswith("needs the id of the record it changes"):
            field = "id"
        out.append((field, message))
    return out


def parse_command(obj: Any) -> Command:
    """Validate one command (a decoded JSON object); raises CommandError naming each field."""
    try:
        return _PARSER.validate_python(obj)
    except ValidationError as e:
        raise CommandError(_errors(e)) from None


def parse_command_json(line: str | bytes) -> Command:
    """Validate one command given as JSON text (an import line)."""
    try:
        return _PARSER.validate_json(line)
    except ValidationError as e:
        raise CommandError(_errors(e)) from None
