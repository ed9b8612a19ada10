"""Webhook subscriptions (admin-only records), event-type filters, and the address checks
that keep deliveries off private networks."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from eventsourcing.domain import Aggregate

from ledger.domain.errors import InvalidInput

#: How long a rotated-out secret keeps signing beside the new one.
ROTATION_GRACE = timedelta(hours=24)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def type_matches(pattern: str, wire: str) -> bool:
    """`*`, an exact wire name, or a prefix such as `commitment.*`."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return wire.startswith(pattern[:-1])
    return pattern == wire


def check_types(types: list[str], known: set[str]) -> list[str]:
    if not types:
        raise InvalidInput(
            "name at least one event type, a prefix such as commitment.*, or *", field="types"
        )
    kinds = {w.split(".")[0] for w in known} | {"webhook"}
    for pattern in types:
        if pattern == "*" or pattern in known or pattern == "webhook.ping":
            continue
        if pattern.endswith(".*") and pattern[:-2] in kinds:
            continue
        raise InvalidInput(f"{pattern!r} is not an event type or prefix", field="types")
    return list(dict.fromkeys(types))


def check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port out of range raises here, not at delivery)
    except ValueError as e:
        raise InvalidInput(f"not a URL: {e}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL is http:// or https:// with a host", field="url")
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL must not carry credentials", field="url")
    return url


class UnsafeAddress(Exception):
    """The URL resolves to an address deliveries must not reach."""


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


def resolve_safely(url: str, *, allow_private: bool) -> tuple[str, int, str]:
    """Resolve the URL's host once; returns (address, port, host) to connect to, or raises
    UnsafeAddress. The caller connects to that address, so a second lookup can never swap
    in another one (DNS rebinding)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UnsafeAddress(f"{host} does not resolve: {e}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeAddress(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            if _forbidden(ipaddress.ip_address(address)):
                raise UnsafeAddress(f"{host} resolves to {address}, a private address")
    return addresses[0], port, host


class WebhookSubscription(Aggregate):
    class Created(Aggregate.Created):
        url: str
        types: list[str]
        actors: list[str]
        topics: list[str]
        description: str | None
        enabled: bool
        secret: str
        from_position: int
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WebhookSubscription)
            for name in (
                "url",
                "types",
                "actors",
                "topics",
                "description",
                "enabled",
                "secret",
                "from_position",
            ):
                setattr(aggregate, name, getattr(self, name))
            aggregate.previous_secret = None
            aggregate.previous_until = None
            aggregate.deleted = False
            aggregate.disabled_reason = None

    class Updated(Aggregate.Event):
        changes: dict[str, Any]
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WebhookSubscription)
            for name, value in self.changes.items():
                setattr(aggregate, name, value)
            if self.changes.get("enabled"):
                aggregate.disabled_reason = None

    class SecretRotated(Aggregate.Event):
        secret: str
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WebhookSubscription)
            aggregate.previous_secret = aggregate.secret
            aggregate.previous_until = (self.timestamp + ROTATION_GRACE).isoformat()
            aggregate.secret = self.secret

    class Disabled(Aggregate.Event):
        reason: str
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WebhookSubscription)
            aggregate.enabled = False
            aggregate.disabled_reason = self.reason

    class Deleted(Aggregate.Event):
        recorded_by: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, WebhookSubscription)
            aggregate.deleted = True
            aggregate.enabled = False

    if TYPE_CHECKING:
        url: str
        types: list[str]
        actors: list[str]
        topics: list[str]
        description: str | None
        enabled: bool
        secret: str
        from_position: int
        previous_secret: str | None
        previous_until: str | None
        deleted: bool
        disabled_reason: str | None

    def secrets_at(self, moment: datetime) -> list[str]:
        """The secrets to sign with now: the current one, and the previous one for 24 h."""
        keys = [self.secret]
        until = self.previous_until
        if self.previous_secret and until and moment < datetime.fromisoformat(until):
            keys.append(self.previous_secret)
        return keys

    def matches(self, wire: str, actors: set[str], topics: set[str]) -> bool:
        if not self.enabled or self.deleted:
            return False
        if not any(type_matches(p, wire) for p in self.types):
            return False
        if self.actors and not actors & set(self.actors):
            return False
        return not (self.topics and not topics & set(self.topics))

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "url": self.url,
            "types": self.types,
            "actors": self.actors,
            "topics": self.topics,
            "description": self.description,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "from_position": self.from_position,
            "created_at": self.created_on.isoformat(),
            "version": self.version,
        }
