"""Administrative records: API keys, kept in their own admin-only log.

The admin log is a separate eventsourcing application on the same store (its own table), so
keys and their audit trail never appear in `/v1/events`, exports, feeds or the Merkle tree.
A key is shown once when created; only its SHA-256 digest is stored, and the key's record id
is derived from that digest, so checking a presented key is one lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from ledger.clock import Clock, SystemClock
from ledger.config import Settings
from ledger.domain.errors import InvalidInput, RuleViolation
from ledger.errors import NotFound
from ledger.store import persistence_env, schema_lock
from ledger.webhooks import WebhookSubscription, check_types, check_url, new_secret

Scope = Literal["reader", "editor", "admin"]
SCOPES: tuple[Scope, ...] = ("reader", "editor", "admin")
#: What each scope may do; a higher scope includes the lower ones.
_RANK = {"reader": 0, "editor": 1, "admin": 2}
_KEY_NAMESPACE = UUID("0b7e1f5a-2c4d-5e6f-8a9b-1c2d3e4f5a6b")
KEY_PREFIX = "lk_"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_record_id(digest: str) -> UUID:
    return uuid5(_KEY_NAMESPACE, digest)


class ApiKey(Aggregate):
    class Issued(Aggregate.Created):
        name: str
        scope: str
        digest: str
        hint: str
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ApiKey)
            aggregate.name = self.name
            aggregate.scope = self.scope
            aggregate.digest = self.digest
            aggregate.hint = self.hint
            aggregate.issued_by = self.recorded_by
            aggregate.revoked_at = None
            aggregate.revoked_by = None

    class Revoked(Aggregate.Event):
        reason: str
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ApiKey)
            aggregate.revoked_at = self.timestamp
            aggregate.revoked_by = self.recorded_by

    if TYPE_CHECKING:
        name: str
        scope: str
        digest: str
        hint: str
        issued_by: str
        revoked_at: datetime | None
        revoked_by: str | None

    @property
    def principal(self) -> str:
        """How events written with this key name their writer."""
        return f"key:{self.name}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return self.active and _RANK[self.scope] >= _RANK[scope]


@dataclass(frozen=True)
class IssuedKey:
    key: str
    record: ApiKey


class Admin(Application[UUID]):
    """The admin-only log and the commands on it."""

    name = "Admin"

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()
        with schema_lock(self.settings.store):
            super().__init__(env=persistence_env(self.settings.store, admin=True))

    def create_key(self, *, name: str, scope: str, recorded_by: str) -> IssuedKey:
        if scope not in SCOPES:
            raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}", field="scope")
        if not name.strip() or len(name) > 100:
            raise InvalidInput("a key needs a name of 1 to 100 characters", field="name")
        if any(k.name == name and k.active for k in self.list_keys()):
            raise RuleViolation(f"an active key named {name!r} already exists", field="name")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = key_digest(key)
        record = ApiKey._create(
            ApiKey.Issued,
            id=key_record_id(digest),
            timestamp=self.clock.now(),
            name=name,
            scope=scope,
            digest=digest,
            hint=key[: len(KEY_PREFIX) + 4],
            recorded_by=recorded_by,
        )
        self.save(record)
        return IssuedKey(key, record)

    def authenticate(self, key: str) -> ApiKey | None:
        """The key's record if the key was ever issued (revoked or not), else None."""
        if not key.startswith(KEY_PREFIX):
            return None
        try:
            record: Aggregate = self.repository.get(key_record_id(key_digest(key)))
        except AggregateNotFoundError:
            return None
        return record if isinstance(record, ApiKey) else None

    def list_keys(self) -> list[ApiKey]:
        keys = []
        for notification in self._all_notifications():
            if notification.originator_version == 1:
                record: Aggregate = self.repository.get(notification.originator_id)
                if isinstance(record, ApiKey):
                    keys.append(record)
        return keys

    def find_key(self, name_or_id: str) -> ApiKey:
        for record in self.list_keys():
            if name_or_id in (record.name, str(record.id)) and record.active:
                return record
        for record in self.list_keys():
            if name_or_id in (record.name, str(record.id)):
                return record
        raise NotFound(f"no key named {name_or_id!r}")

    def revoke_key(self, name_or_id: str, *, reason: str, recorded_by: str) -> ApiKey:
        record = self.find_key(name_or_id)
        if not record.active:
            raise RuleViolation(f"key {record.name!r} is already revoked")
        record.trigger_event(
            ApiKey.Revoked, timestamp=self.clock.now(), reason=reason, recorded_by=recorded_by
        )
        try:
            self.save(record)
        except IntegrityError:
            raise RuleViolation(f"key {record.name!r} changed meanwhile; try again") from None
        return record

    # -- webhook subscriptions ------------------------------------------------------------
    def create_subscription(
        self,
        *,
        url: str,
        types: list[str],
        actors: list[str],
        topics: list[str],
        description: str | None,
        enabled: bool,
        from_position: int,
        recorded_by: str,
    ) -> WebhookSubscription:
        from ledger.app import EVENT_TYPES

        record = WebhookSubscription._create(
            WebhookSubscription.Created,
            id=uuid4(),
            timestamp=self.clock.now(),
            url=check_url(url),
            types=check_types(types, set(EVENT_TYPES.values())),
            actors=list(actors),
            topics=list(topics),
            description=description,
            enabled=enabled,
            secret=new_secret(),
            from_position=from_position,
            recorded_by=recorded_by,
        )
        self.save(record)
        return record

    def subscription(self, subscription_id: UUID) -> WebhookSubscription:
        try:
            record: Aggregate = self.repository.get(subscription_id)
        except AggregateNotFoundError:
            raise NotFound(f"no webhook subscription {subscription_id}") from None
        if not isinstance(record, WebhookSubscription) or record.deleted:
            raise NotFound(f"no webhook subscription {subscription_id}")
        return record

    def subscriptions(self, *, include_deleted: bool = False) -> list[WebhookSubscription]:
        out = []
        for notification in self._all_notifications():
            if notification.originator_version == 1:
                record: Aggregate = self.repository.get(notification.originator_id)
                if isinstance(record, WebhookSubscription) and (
                    include_deleted or not record.deleted
                ):
                    out.append(record)
        return out

    def change_subscription(
        self, subscription_id: UUID, *, recorded_by: str, **changes: Any
    ) -> WebhookSubscription:
        from ledger.app import EVENT_TYPES

        record = self.subscription(subscription_id)
        if "url" in changes:
            check_url(changes["url"])
        if "types" in changes:
            changes["types"] = check_types(changes["types"], set(EVENT_TYPES.values()))
        changes = {k: v for k, v in changes.items() if getattr(record, k) != v}
        if changes:
            record.trigger_event(
                WebhookSubscription.Updated,
                timestamp=self.clock.now(),
                changes=changes,
                recorded_by=recorded_by,
            )
            self._save(record)
        return record

    def rotate_secret(self, subscription_id: UUID, *, recorded_by: str) -> WebhookSubscription:
        record = self.subscription(subscription_id)
        record.trigger_event(
            WebhookSubscription.SecretRotated,
            timestamp=self.clock.now(),
            secret=new_secret(),
            recorded_by=recorded_by,
        )
        self._save(record)
        return record

    def disable_subscription(
        self, subscription_id: UUID, *, reason: str, recorded_by: str
    ) -> WebhookSubscription:
        record = self.subscription(subscription_id)
        if record.enabled:
            record.trigger_event(
                WebhookSubscription.Disabled,
                timestamp=self.clock.now(),
                reason=reason,
                recorded_by=recorded_by,
            )
            self._save(record)
        return record

    def delete_subscription(self, subscription_id: UUID, *, recorded_by: str) -> None:
        record = self.subscription(subscription_id)
        record.trigger_event(
            WebhookSubscription.Deleted, timestamp=self.clock.now(), recorded_by=recorded_by
        )
        self._save(record)

    def _save(self, record: Aggregate) -> None:
        try:
            self.save(record)
        except IntegrityError:
            raise RuleViolation("the subscription changed meanwhile; try again") from None

    def audit(self) -> list[dict[str, Any]]:
        """Who issued and revoked which key, when: the admin-only audit trail."""
        trail = []
        for notification in self._all_notifications():
            event: Any = self.mapper.to_domain_event(notification)
            fields = vars(event)
            trail.append(
                {
                    "position": notification.id,
                    "type": type(event).__qualname__,
                    "record": str(event.originator_id),
                    "recorded_at": event.timestamp.isoformat(),
                    "recorded_by": fields.get("recorded_by"),
                    "name": fields.get("name"),
                    "scope": fields.get("scope"),
                    "url": fields.get("url"),
                    "changes": sorted(fields.get("changes", {})) or None,
                    "reason": fields.get("reason"),
                }
            )
        return trail

    def _all_notifications(self) -> list[Any]:
        out: list[Any] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=500)
            out.extend(page)
            if len(page) < 500:
                return out
            start = page[-1].id + 1
