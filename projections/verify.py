"""`ledger verify`: check the stored log against its Merkle tree and signed checkpoints.

Locally it recomputes every leaf from the stored events, the root at the latest signed
checkpoint, and that checkpoint's signature; on any edit, deletion, insertion or reordering
of stored events it fails and names the first bad position. Remotely it audits a ledger from
an old saved checkpoint against a pinned key: the new checkpoint must verify with that key
and a consistency proof must show that history was only appended to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from ledger import merkle
from ledger.app import Ledger, describe_stored
from ledger.integrity import (
    Checkpoint,
    fields_digest,
    leaf_bytes,
    parse_checkpoint,
    parse_vkey,
)
from projections.runner import Followers


@dataclass
class Verdict:
    ok: bool
    message: str
    bad_position: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def verify_local(
    ledger: Ledger, followers: Followers, progress: Callable[[int, int], None] | None = None
) -> Verdict:
    integrity = followers.integrity
    recorded = integrity.all_leaves()  # (leaf_index, position, leaf_hash) as first computed
    latest = integrity.latest_checkpoint()
    total = ledger.last_position()
    tree = merkle.MemoryTree()
    positions: list[int] = []
    after = 0
    first_bad: tuple[int, str] | None = None
    # Erased values must each be announced by a redaction of their record in the log.
    erasures: list[tuple[int, str, list[str]]] = []
    redacted: dict[str, set[str]] = {}
    while True:
        page = ledger.store.select_notifications(start=after, limit=2000, inclusive_of_start=False)
        if not page:
            break
        for n in page:
            # A payload edited in the database may even have changed type.
            payload = n.state if isinstance(n.state, bytes) else str(n.state).encode()
            try:
                fields = orjson.loads(payload)
                event = describe_stored(n, fields)
                digest, erased = fields_digest(fields)
                leaf = merkle.leaf_hash(leaf_bytes(event, digest))
                record_id = event["record"]["id"]
                if event["type"].endswith(".redacted"):
                    redacted.setdefault(record_id, set()).update(event["data"]["fields"])
                if erased:
                    names = [
                        str(event["data"].get("field")) if f in ("old", "new") else f
                        for f in erased
                    ]
                    erasures.append((n.id, record_id, names))
            except Exception:  # a payload edited into nonsense still names its position
                leaf = merkle.leaf_hash(b"undecodable:" + payload)
                if first_bad is None:
                    first_bad = (n.id, "the stored event cannot be decoded")
            index = tree.size
            tree.append(leaf)
            positions.append(n.id)
            if first_bad is None and index < len(recorded):
                _, want_position, want_hash = recorded[index]
                if n.id != want_position:
                    first_bad = (
                        min(n.id, want_position),
                        f"leaf {index} should be position {want_position}, found {n.id} "
                        "(an event was deleted, inserted or moved)",
                    )
                elif leaf.hex() != want_hash:
                    first_bad = (n.id, "the stored event differs from the one in the tree")
        after = page[-1].id
        if progress:
            progress(len(page), total)
    for position, record_id, names in erasures:
        unannounced = [f for f in names if f not in redacted.get(record_id, set())]
        if unannounced and (first_bad is None or position < first_bad[0]):
            first_bad = (
                position,
                f"{', '.join(unannounced)} erased without a redaction in the log",
            )
            break
    if first_bad is None and tree.size < len(recorded):
        missing = recorded[tree.size][1]
        first_bad = (missing, f"the log ends before position {missing}, which the tree holds")
    details: dict[str, Any] = {"events": tree.size, "tree_size": len(recorded)}
    if latest is not None:
        size = int(latest["size"])
        details["checkpoint_size"] = size
        published = integrity.keys()
        key = next((k for k in published if k["key_id"] == latest["key_id"]), None)
        if key is None:
            return Verdict(False, "the checkpoint's key is not published", None, details)
        try:
            checkpoint = parse_checkpoint(
                latest["note"], key["origin"], bytes.fromhex(key["public_key"])
            )
        except ValueError as e:
            return Verdict(False, f"the latest checkpoint does not verify: {e}", None, details)
        if tree.size < size:
            bad = first_bad[0] if first_bad else (positions[-1] + 1 if positions else 1)
            return Verdict(
                False,
                f"the log holds {tree.size} events but the signed checkpoint covers {size}; "
                f"the first difference is at position {bad}",
                bad,
                details,
            )
        root = tree.root(size)
        details["root"] = root.hex()
        if root != checkpoint.root:
            where = first_bad or (None, "")
            return Verdict(
                False,
                "the log does not match its signed checkpoint"
                + (f": at position {where[0]}, {where[1]}" if where[0] else ""),
                where[0],
                details,
            )
    if first_bad is not None:
        return Verdict(False, f"position {first_bad[0]}: {first_bad[1]}", first_bad[0], details)
    signed = f", checkpoint of {details.get('checkpoint_size')} verified" if latest else ""
    return Verdict(True, f"{tree.size} events verified{signed}", None, details)


def verify_remote(
    url: str, saved_checkpoint: str, pinned_vkey: str, client: httpx.Client | None = None
) -> tuple[Verdict, str | None]:
    """Audit a ledger at `url` from a saved checkpoint, trusting only the pinned key.
    Returns the verdict and the new checkpoint's note (to save) if it verified."""
    name, public_key = parse_vkey(pinned_vkey)
    try:
        old = parse_checkpoint(saved_checkpoint, name, public_key)
    except ValueError as e:
        return Verdict(
            False, f"the saved checkpoint does not verify with the pinned key: {e}"
        ), None
    http = client or httpx.Client(timeout=30)
    base = url.rstrip("/")
    try:
        response = http.get(f"{base}/v1/integrity/checkpoint")
        response.raise_for_status()
        try:
            new: Checkpoint = parse_checkpoint(response.text, name, public_key)
        except ValueError as e:
            return Verdict(False, f"the server's checkpoint does not verify: {e}"), None
        details = {"old_size": old.size, "new_size": new.size}
        if new.size < old.size:
            return Verdict(False, "the log shrank: history was rewritten", None, details), None
        if new.size == old.size:
            same = new.root == old.root
            message = (
                "no new events; same root"
                if same
                else "history was rewritten: same size, different root"
            )
            return Verdict(same, message, None, details), response.text if same else None
        proof = http.get(
            f"{base}/v1/integrity/proof/consistency",
            params={"first": old.size, "second": new.size},
        )
        proof.raise_for_status()
        path = [bytes.fromhex(h) for h in proof.json()["path"]]
    except httpx.HTTPError as e:
        return Verdict(False, f"could not fetch from {base}: {e}"), None
    finally:
        if client is None:
            http.close()
    if merkle.verify_consistency(old.size, new.size, old.root, new.root, path):
        return (
            Verdict(True, f"append-only: {old.size} -> {new.size} events", None, details),
            response.text,
        )
    return Verdict(False, "history was rewritten: the consistency proof fails", None, details), None
