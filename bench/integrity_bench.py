"""bench/integrity: proofs against a stored tree, `ledger verify`, and what the tree adds to
follower catch-up.

1. Inclusion and consistency proofs at 1M leaves, read from the stored nodes (goal <= 1 ms).
2. Full verify of N stored events against merely reading them (goal >= 0.25x).
3. What the integrity follower adds to a catch-up of all followers: the time it spends on its
   batches against the rest of the same catch-up (goal: <= 20% more).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from typing import Any

from bench.views_bench import build
from ledger import merkle
from ledger.config import Settings
from projections.db import open_view
from projections.integrity import IntegrityQueries, PostgresIntegrityView, SQLiteIntegrityView
from projections.runner import Followers
from projections.verify import verify_local


def _stored_tree(url: str, leaves: int) -> IntegrityQueries:
    settings = Settings(database_url=url)
    view = open_view(settings.store, "integrity", (SQLiteIntegrityView, PostgresIntegrityView))
    tree = merkle.MemoryTree()
    leaf_rows, node_rows = [], []
    for i in range(leaves):
        for level, index, digest in tree.append(merkle.leaf_hash(i.to_bytes(8, "big"))):
            node_rows.append((level, index, digest.hex()))
        leaf_rows.append((i, i + 1, tree.node(0, i).hex()))
        if len(node_rows) > 200_000:
            with view.write() as sql:
                sql.many("INSERT INTO i_leaves VALUES (?,?,?)", leaf_rows)
                sql.many("INSERT INTO i_nodes VALUES (?,?,?)", node_rows)
            leaf_rows, node_rows = [], []
    with view.write() as sql:
        sql.many("INSERT INTO i_leaves VALUES (?,?,?)", leaf_rows)
        sql.many("INSERT INTO i_nodes VALUES (?,?,?)", node_rows)
    return IntegrityQueries(view, None, None)


def proofs(leaves: int, samples: int = 500) -> dict[str, float]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        queries = _stored_tree(f"sqlite:///{tmp}/tree.db", leaves)
        inclusion, consistency = [], []
        for _ in range(samples):
            index = rng.randrange(leaves)
            start = time.perf_counter()
            queries.inclusion(index, leaves)
            inclusion.append(time.perf_counter() - start)
            first = rng.randrange(1, leaves)
            start = time.perf_counter()
            queries.consistency(first, leaves)
            consistency.append(time.perf_counter() - start)
        queries.view.close()
    return {
        "inclusion_median_ms": statistics.median(inclusion) * 1000,
        "inclusion_p99_ms": statistics.quantiles(inclusion, n=100)[98] * 1000,
        "consistency_median_ms": statistics.median(consistency) * 1000,
        "consistency_p99_ms": statistics.quantiles(consistency, n=100)[98] * 1000,
    }


def verify_and_overhead(events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ledger, _ = build(f"sqlite:///{tmp}/log.db", events, seed=5)
        count = ledger.last_position()
        start = time.perf_counter()
        after = 0
        while True:
            page = ledger.store.select_notifications(
                start=after, limit=2000, inclusive_of_start=False
            )
            if not page:
                break
            after = page[-1].id
        read_s = time.perf_counter() - start
        # All followers fed together, as the runner feeds them: the tree's share is the time
        # the integrity follower spent on its batches, against the rest of the catch-up
        # (reading and decoding the log once, and the other followers).
        followers = Followers(ledger)
        start = time.perf_counter()
        followers.catch_up(("records", "timeline", "integrity"))
        all_s = time.perf_counter() - start
        tree_s = followers.spent["integrity"]
        start = time.perf_counter()
        verdict = verify_local(ledger, followers)
        verify_s = time.perf_counter() - start
        assert verdict.ok, verdict.message
        followers.close()
        ledger.close()
    return {
        "events": count,
        "read_rate": count / read_s,
        "verify_rate": count / verify_s,
        "verify_ratio": read_s / verify_s,
        "tree_overhead": tree_s / (all_s - tree_s),
    }


def main(n_events: int | None = None) -> dict[str, Any]:
    leaves = 1_000_000
    results: dict[str, Any] = {"proofs": proofs(leaves)}
    p = results["proofs"]
    print(f"\nbench/integrity — proofs from a stored tree of {leaves:,} leaves (SQLite)")
    print(
        f"  inclusion   median {p['inclusion_median_ms']:.3f} ms, p99 "
        f"{p['inclusion_p99_ms']:.3f} ms (goal <= 1 ms)"
    )
    print(
        f"  consistency median {p['consistency_median_ms']:.3f} ms, p99 "
        f"{p['consistency_p99_ms']:.3f} ms (goal <= 1 ms)"
    )
    v = verify_and_overhead(n_events or 100_000)
    results["verify"] = v
    print(
        f"  verify {v['events']:,} events: {v['verify_rate']:,.0f} events/s against reading "
        f"{v['read_rate']:,.0f}/s = {v['verify_ratio']:.2f}x (goal >= 0.25x)"
    )
    print(
        f"  tree maintenance adds {v['tree_overhead'] * 100:.0f}% to follower catch-up "
        "(goal <= 20%)"
    )
    return results
