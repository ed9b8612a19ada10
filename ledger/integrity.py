"""Tamper evidence: Merkle leaves of the public log, and signed checkpoints.

A leaf is the RFC 8785 canonical JSON of an event's place and provenance and the SHA-256 of
its stored payload; its hash is RFC 9162's. Checkpoints are C2SP signed notes in the
tlog-checkpoint format (origin, tree size, base64 root hash), signed with Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import merkle
from ledger.config import Settings

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "


#: The key of the marker that stands in a stored payload for an erased (redacted) value.
ERASED = "_redacted_"


#: The integers RFC 8785 can write exactly (those an IEEE 754 double holds).
_SAFE_INTEGER = 2**53 - 1


def _plain(value: Any) -> bool:
    """Whether orjson writes `value` exactly as RFC 8785 does: strings, safe integers,
    booleans and null, in lists and in objects with ASCII keys (sorted alike). Floats and
    anything else go through the reference implementation."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INTEGER <= value <= _SAFE_INTEGER)
    # Loops rather than all() over a generator, and strings (most values) without a call:
    # every stored event goes through here when the log is verified.
    if kind is list:
        for item in value:  # noqa: SIM110 (a loop costs less than all() here)
            if type(item) is not str and not _plain(item):
                return False
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(item) is not str and not _plain(item):
                return False
        return True
    return False


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON of `value`."""
    if type(value) is str or _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # e.g. a lone surrogate: let the reference implementation say so
    return rfc8785.dumps(value)


def erased_marker(value: Any) -> dict[str, str]:
    """What replaces a withheld value in stored payloads: the digest of the value."""
    return {ERASED: hashlib.sha256(canonical_json(value)).hexdigest()}


def payload_digest(payload: bytes) -> tuple[str, list[str]]:
    """The digest a leaf commits to, and the fields found erased.

    Each top-level field of the stored payload is hashed on its own (SHA-256 of its RFC 8785
    JSON), and the digest is the SHA-256 of the canonical map of those hashes. An erased field
    keeps its hash in its marker, so redaction leaves the digest, the leaf and every proof as
    they were, while any other change to the payload changes them."""
    return fields_digest(orjson.loads(payload))


def fields_digest(fields: dict[str, Any]) -> tuple[str, list[str]]:
    """`payload_digest` of a payload already parsed."""
    digests: dict[str, str] = {}
    erased: list[str] = []
    for name, value in fields.items():
        if type(value) is dict and len(value) == 1 and ERASED in value:
            digests[name] = str(value[ERASED])
            erased.append(name)
        else:
            digests[name] = hashlib.sha256(canonical_json(value)).hexdigest()
    return hashlib.sha256(canonical_json(digests)).hexdigest(), erased


def erase_fields(payload: bytes, fields: Sequence[str]) -> bytes | None:
    """The payload with the values of `fields` (and a correction's old and new value of one
    of them) replaced by their markers; None if nothing was left to erase."""
    state = orjson.loads(payload)
    changed = False
    names = [f for f in fields if f in state]
    if state.get("field") in fields:
        names += [k for k in ("old", "new") if k in state]
    for name in names:
        value = state[name]
        if not (isinstance(value, dict) and set(value) == {ERASED}):
            state[name] = erased_marker(value)
            changed = True
    return orjson.dumps(state) if changed else None


def leaf_bytes(event: dict[str, Any], digest: str) -> bytes:
    """The leaf of one public event (as `describe` gives it) with the digest of its stored
    payload (`payload_digest`)."""
    return canonical_json(
        {
            "position": event["position"],
            "record": event["record"],
            "version": event["version"],
            "type": event["type"],
            "occurred_at": event["occurred_at"],
            "recorded_at": event["recorded_at"],
            "recorded_by": event["recorded_by"],
            "payload_sha256": digest,
        }
    )


def leaf_hash(event: dict[str, Any], payload: bytes) -> bytes:
    return merkle.leaf_hash(leaf_bytes(event, payload_digest(payload)[0]))


def key_id(name: str, public_key: bytes) -> bytes:
    """The C2SP signed-note key ID of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def vkey(name: str, public_key: bytes) -> str:
    """The C2SP verifier key: name+hex key id+base64(type || public key)."""
    encoded = base64.b64encode(ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, bytes]:
    name, hex_id, encoded = text.strip().split("+", 2)
    raw = base64.b64decode(encoded)
    if raw[:1] != ED25519 or len(raw) != 33:
        raise ValueError("not an Ed25519 verifier key")
    if key_id(name, raw[1:]).hex() != hex_id:
        raise ValueError("the verifier key's id does not match its key")
    return name, raw[1:]


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str


def parse_checkpoint(note: str, name: str, public_key: bytes) -> Checkpoint:
    """Check a signed checkpoint against a pinned key; raises ValueError if it fails."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note: no blank line before the signatures")
    body += "\n"
    lines = body.splitlines()
    if len(lines) < 3:
        raise ValueError("a checkpoint has an origin, a size and a root hash")
    wanted = key_id(name, public_key)
    key = Ed25519PublicKey.from_public_bytes(public_key)
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            continue
        signer, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        raw = base64.b64decode(encoded)
        if signer != name or raw[:4] != wanted:
            continue
        try:
            key.verify(raw[4:], body.encode())
        except InvalidSignature:
            raise ValueError("the checkpoint's signature does not verify") from None
        return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2]), note)
    raise ValueError(f"the checkpoint carries no signature by {name}")


class Signer:
    """The log's signing key: read from a file, created there on first use."""

    def __init__(self, origin: str, private_key: Ed25519PrivateKey) -> None:
        self.origin = origin
        self.private_key = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(origin, self.public_key)
        self.vkey = vkey(origin, self.public_key)

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        path = signing_key_path(settings)
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 key")
        else:
            key = Ed25519PrivateKey.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                with path.open("xb") as f:  # another process may have made it first
                    f.write(pem)
                path.chmod(0o600)
            except FileExistsError:
                return cls.from_settings(settings)
        return cls(settings.origin, key)

    def sign(self, size: int, root: bytes) -> str:
        body = checkpoint_body(self.origin, size, root)
        signature = self.private_key.sign(body.encode())
        encoded = base64.b64encode(self.key_id + signature).decode()
        return f"{body}\n{SIGNATURE_PREFIX}{self.origin} {encoded}\n"


def signing_key_path(settings: Settings) -> Path:
    if settings.signing_key_file:
        return Path(settings.signing_key_file)
    store = settings.store
    if store.is_sqlite:
        path = Path(store.sqlite_path)
        return path.with_name(f"{path.stem}.signing-key")
    return Path("var") / f"{store.pg_dbname}-{store.pg_schema or 'public'}.signing-key"
