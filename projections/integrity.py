"""The integrity follower: one Merkle leaf per public event, in position order, with a
gap-free `leaf_index`; the hashes of every complete subtree, so proofs read O(log n) stored
nodes and never recompute the tree; and signed checkpoints, at most every few seconds while
the log grows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger import merkle
from ledger.app import describe
from ledger.integrity import Signer, leaf_hash
from projections.db import PostgresView, Sql, SQLiteView
from projections.records import recorded_key

_TABLES = [
    "CREATE TABLE IF NOT EXISTS i_leaves (leaf_index BIGINT PRIMARY KEY, "
    "position BIGINT NOT NULL UNIQUE, leaf_hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS i_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
    "hash TEXT NOT NULL, PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS i_checkpoints (size BIGINT PRIMARY KEY, root TEXT NOT NULL, "
    "note TEXT NOT NULL, key_id TEXT NOT NULL, signed_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS i_keys (key_id TEXT PRIMARY KEY, origin TEXT NOT NULL, "
    "public_key TEXT NOT NULL, vkey TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT)",
]
INTEGRITY_TABLES = ("i_leaves", "i_nodes", "i_checkpoints")


class SQLiteIntegrityView(SQLiteView):
    TABLES: ClassVar = _TABLES


class PostgresIntegrityView(PostgresView):
    TABLES: ClassVar = _TABLES


def tree_size(sql: Sql) -> int:
    """The number of leaves. They are numbered from 0 without gaps, so the largest number
    answers from one step down an index, where counting them reads every leaf."""
    row = sql.one("SELECT COALESCE(MAX(leaf_index) + 1, 0) AS n FROM i_leaves")
    return int(row["n"]) if row else 0


def node_reader(sql: Sql, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Fetch stored nodes, a few hundred in each query (a proof needs a few dozen)."""
    found: dict[tuple[int, int], bytes] = {}
    keys = sorted(wanted)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = sql.rows(
            f"WITH k (level, idx) AS (VALUES {','.join(['(?,?)'] * len(chunk))}) "
            "SELECT n.level, n.idx, n.hash FROM k JOIN i_nodes n "
            "ON n.level = k.level AND n.idx = k.idx",
            [v for key in chunk for v in key],
        )
        for row in rows:
            found[(int(row["level"]), int(row["idx"]))] = bytes.fromhex(row["hash"])
    return found


class IntegrityProjection(Projection[Any]):
    name = "integrity"

    def __init__(
        self,
        view: Any,
        timezone: str = "UTC",
        *,
        signer: Signer | None = None,
        every: float = 5.0,
        clock: Any = None,
        mapper: Any = None,
    ) -> None:
        super().__init__(view)
        self.signer = signer
        self.every = every
        self.clock = clock
        self.mapper = mapper
        self._last_signed = 0.0

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        payload = self.mapper.to_stored_event(domain_event).state
        self.process_batch(
            [(domain_event, tracking.notification_id, payload)], tracking, after=None
        )

    def process_batch(
        self, events: Sequence[tuple[Any, ...]], tracking: Tracking, *, after: int | None
    ) -> None:
        with self.view.batch(tracking, after) as sql:
            size = tree_size(sql)
            cache: dict[tuple[int, int], bytes] = {}
            leaves: list[tuple[int, int, str]] = []
            nodes: list[tuple[int, int, str]] = []
            for event, position, payload in events:
                leaf = leaf_hash(describe(event, position), payload)
                index = size
                leaves.append((index, position, leaf.hex()))
                made = self._append(sql, cache, index, leaf)
                nodes.extend((lvl, idx, h.hex()) for lvl, idx, h in made)
                size += 1
            sql.many("INSERT INTO i_leaves VALUES (?,?,?)", leaves)
            sql.many("INSERT INTO i_nodes VALUES (?,?,?)", nodes)
            self._maybe_sign(sql, size, cache)

    @staticmethod
    def _append(
        sql: Sql, cache: dict[tuple[int, int], bytes], index: int, leaf: bytes
    ) -> list[tuple[int, int, bytes]]:
        made = [(0, index, leaf)]
        cache[(0, index)] = leaf
        level, at, current = 0, index, leaf
        while at & 1:
            sibling = cache.get((level, at - 1))
            if sibling is None:
                sibling = node_reader(sql, {(level, at - 1)})[(level, at - 1)]
            level, at = level + 1, at >> 1
            current = merkle.node_hash(sibling, current)
            cache[(level, at)] = current
            made.append((level, at, current))
        return made

    def _maybe_sign(self, sql: Sql, size: int, cache: dict[tuple[int, int], bytes]) -> None:
        if self.signer is None or size == 0:
            return
        now = time.monotonic()
        if self._last_signed and now - self._last_signed < self.every:
            return
        sign_checkpoint(sql, self.signer, size, self.clock, cache)
        self._last_signed = now


def sign_checkpoint(
    sql: Sql,
    signer: Signer,
    size: int,
    clock: Any,
    cache: dict[tuple[int, int], bytes] | None = None,
) -> str:
    """Sign (and store) a checkpoint of the first `size` leaves; returns the note."""
    wanted = merkle.needed([(0, size)])
    known = dict(cache or {})
    missing = {n for n in wanted if n not in known}
    known.update(node_reader(sql, missing))
    root = merkle.root_hash(size, lambda level, index: known[(level, index)])
    note = signer.sign(size, root)
    signed_at = recorded_key(clock.now()) if clock is not None else ""
    register_key(sql, signer, signed_at)
    sql.run(
        "INSERT INTO i_checkpoints VALUES (?,?,?,?,?) ON CONFLICT (size) DO NOTHING",
        [size, root.hex(), note, signer.key_id.hex(), signed_at],
    )
    return note


def register_key(sql: Sql, signer: Signer, now: str) -> None:
    """Publish the signing key; a new key closes the validity of the one before it."""
    if sql.one("SELECT key_id FROM i_keys WHERE key_id = ?", [signer.key_id.hex()]):
        return
    sql.run("UPDATE i_keys SET valid_to = ? WHERE valid_to IS NULL", [now])
    sql.run(
        "INSERT INTO i_keys VALUES (?,?,?,?,?,NULL)",
        [signer.key_id.hex(), signer.origin, signer.public_key.hex(), signer.vkey, now],
    )


class IntegrityQueries:
    """Reads of the integrity view: checkpoints, keys, proofs, and leaves of events."""

    def __init__(self, view: Any, signer: Signer | None, clock: Any) -> None:
        self.view = view
        self.signer = signer
        self.clock = clock

    def size(self) -> int:
        with self.view.read() as sql:
            return tree_size(sql)

    def latest_checkpoint(self) -> dict[str, Any] | None:
        with self.view.read() as sql:
            found: dict[str, Any] | None = sql.one(
                "SELECT * FROM i_checkpoints ORDER BY size DESC LIMIT 1"
            )
        return found

    def checkpoint_now(self) -> str:
        """Sign a checkpoint of the whole tree as it stands (on demand)."""
        if self.signer is None:
            raise RuntimeError("this process has no signing key")
        with self.view.write() as sql:
            size = tree_size(sql)
            if size == 0:
                raise ValueError("the log is empty: there is nothing to sign")
            existing = sql.one("SELECT note FROM i_checkpoints WHERE size = ?", [size])
            if existing:
                return str(existing["note"])
            return sign_checkpoint(sql, self.signer, size, self.clock)

    def keys(self) -> list[dict[str, Any]]:
        with self.view.read() as sql:
            rows: list[dict[str, Any]] = sql.rows("SELECT * FROM i_keys ORDER BY valid_from")
        return rows

    def leaves(self, positions: Sequence[int]) -> dict[int, tuple[int, str]]:
        if not positions:
            return {}
        with self.view.read() as sql:
            rows = sql.rows(
                "SELECT position, leaf_index, leaf_hash FROM i_leaves WHERE position IN "
                f"({','.join('?' * len(positions))})",
                list(positions),
            )
        return {int(r["position"]): (int(r["leaf_index"]), r["leaf_hash"]) for r in rows}

    def all_leaves(self) -> list[tuple[int, int, str]]:
        with self.view.read() as sql:
            rows = sql.rows(
                "SELECT leaf_index, position, leaf_hash FROM i_leaves ORDER BY leaf_index"
            )
        return [(int(r["leaf_index"]), int(r["position"]), r["leaf_hash"]) for r in rows]

    def inclusion(self, leaf_index: int, size: int) -> dict[str, Any]:
        ranges = merkle.inclusion_ranges(leaf_index, size)
        with self.view.read() as sql:
            if size > tree_size(sql):
                raise ValueError(f"the tree has fewer than {size} leaves")
            wanted = merkle.needed(ranges) | merkle.needed([(0, size)]) | {(0, leaf_index)}
            nodes = node_reader(sql, wanted)

        def node(level: int, index: int) -> bytes:
            return nodes[(level, index)]

        return {
            "leaf_index": leaf_index,
            "tree_size": size,
            "leaf_hash": node(0, leaf_index).hex(),
            "path": [merkle.range_hash(a, b, node).hex() for a, b in ranges],
            "root_hash": merkle.root_hash(size, node).hex(),
        }

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        ranges = merkle.consistency_ranges(first, second)
        with self.view.read() as sql:
            if second > tree_size(sql):
                raise ValueError(f"the tree has fewer than {second} leaves")
            wanted = (
                merkle.needed(ranges) | merkle.needed([(0, first)]) | merkle.needed([(0, second)])
            )
            nodes = node_reader(sql, wanted)

        def node(level: int, index: int) -> bytes:
            return nodes[(level, index)]

        return {
            "first": first,
            "second": second,
            "path": [merkle.range_hash(a, b, node).hex() for a, b in ranges],
            "first_root": merkle.root_hash(first, node).hex(),
            "second_root": merkle.root_hash(second, node).hex(),
        }
