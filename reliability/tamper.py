"""Tampering: random edits (a flipped bit), deletions and reorders (two events' payloads
swapped) of stored events, each in a store of its own that verified before it was touched;
`ledger verify` must refuse every one."""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
from typing import Any

from reliability.support import cli

KINDS = ("edit", "delete", "swap")


def _tamper(path: str, kind: str, head: int, rng: random.Random) -> int:
    """Change the stored events of the SQLite store at `path`; returns the position hit."""
    with sqlite3.connect(path) as conn:
        a = rng.randrange(1, head + 1)

        def state(position: int) -> bytes:
            row = conn.execute(
                "SELECT state FROM stored_events WHERE rowid=?", (position,)
            ).fetchone()
            return bytes(row[0])

        if kind == "edit":
            old = state(a)
            i = rng.randrange(len(old))
            flipped = bytes([old[i] ^ (1 << rng.randrange(8))])
            conn.execute(
                "UPDATE stored_events SET state=? WHERE rowid=?",
                (old[:i] + flipped + old[i + 1 :], a),
            )
        elif kind == "delete":
            conn.execute("DELETE FROM stored_events WHERE rowid=?", (a,))
        else:
            b = rng.choice([p for p in range(1, head + 1) if p != a])
            sa, sb = state(a), state(b)
            conn.execute("UPDATE stored_events SET state=? WHERE rowid=?", (sb, a))
            conn.execute("UPDATE stored_events SET state=? WHERE rowid=?", (sa, b))
    return a


def run(size: dict[str, int], seed: int) -> dict[str, Any]:
    from ledger.app import Ledger
    from ledger.config import Settings
    from projections.runner import Followers
    from projections.verify import verify_local
    from tests.contract.helpers import run as execute
    from tests.contract.helpers import seed as seed_store

    rng = random.Random(seed)
    caught = controls = 0
    kinds = dict.fromkeys(KINDS, 0)
    missed: list[str] = []
    for round_ in range(size["tampers"]):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/l.db"
            ledger = Ledger(Settings(database_url=url))
            seed_store(ledger)
            for i in range(20):
                execute(
                    ledger,
                    "claim.evidence",
                    "claim/19-of-23",
                    stance="context",
                    sources=["source/article"],
                    note=f"n{i}",
                )
            followers = Followers(ledger)
            followers.catch_up()
            controls += verify_local(ledger, followers).ok
            head = ledger.last_position()
            followers.close()
            ledger.close()
            kind = KINDS[round_ % len(KINDS)]
            kinds[kind] += 1
            position = _tamper(f"{tmp}/l.db", kind, head, rng)
            env = {**os.environ, "LEDGER_DATABASE_URL": url}
            verdict = cli(env, "verify", check=False)
            if verdict.returncode == 1 and "error:" in verdict.stderr:
                caught += 1
            else:
                missed.append(f"{kind} at {position}: exit {verdict.returncode}")
    return {
        "tampered": size["tampers"],
        "caught": caught,
        "verified_before": controls,
        **kinds,
        "missed": missed[:5],
    }
