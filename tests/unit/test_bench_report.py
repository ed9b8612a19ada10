"""The benchmark report: goals read from the dicts the benchmark mains return, each figure
beside its goal with PASS or MISS, and "not run" for what did not run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import report
from bench.__main__ import BENCHMARKS
from bench.report import GOALS, Goal, evaluate, render, write

#: Shaped as each benchmark's `main` returns it (bench/import_log.py, views_bench.py,
#: integrity_bench.py, api_bench.py, webhooks_bench.py).
RESULTS: dict[str, Any] = {
    "import": {
        "events": 5000,
        "sqlite": {"ledger_import": 60_000.0, "raw_sqlite": 150_000.0, "ratio_to_raw": 0.4},
        "postgres": {"ledger_import": 8000.0, "ratio_to_library": 1.2},
    },
    "views": {
        "sqlite": {
            "catch_up_ratio": 0.25,
            "board_p99_ms": {
                "current": {"big": 2.0, "small": 1.0, "ratio": 2.0},
                "random_at": {"big": 1.0, "small": 1.0, "ratio": 1.0},
                "random_known_at": {"big": 2.5, "small": 1.0, "ratio": 2.5},
            },
        }
    },
    "integrity": {
        "proofs": {"inclusion_p99_ms": 0.4, "consistency_p99_ms": 1.7},
        "verify": {"verify_ratio": 0.3, "tree_overhead": 0.15},
    },
    "api": {
        "ledger_write": {"rps": 300.0, "p99_ms": 90.0},
        "baseline_write": {"rps": 500.0, "p99_ms": 20.0},
    },
    "webhooks": {
        "sqlite": {"throughput": {"ratio": 0.7}, "lag": {"p99_s": math.inf}},
        "postgres": {"throughput": {"ratio": 0.6}, "lag": {"p99_s": 0.4}},
    },
}


def table(results: dict[str, Any]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(bench, figure, store) -> (shown value, status)."""
    return {(x.bench, x.figure, x.store): (x.shown, x.status) for x in evaluate(results)}


def test_each_figure_is_judged_against_its_goal() -> None:
    rows = table(RESULTS)
    assert rows["import", "ledger import / raw sqlite3 executemany", "-"] == ("0.40x", "PASS")
    assert rows["import", "ledger import rate (reference)", "-"] == ("60,000/s", "PASS")
    assert rows["views", "follower catch-up / read + decode", "sqlite"] == ("0.25x", "MISS")
    assert rows["views", "board p99 full / 10k, now", "sqlite"] == ("2.00x", "MISS")
    assert rows["views", "board p99 full / 10k, random at", "sqlite"] == ("1.00x", "PASS")
    assert rows["views", "board p99 full / 10k, random known_at", "sqlite"] == ("2.50x", "PASS")
    assert rows["integrity", "inclusion proof p99, 1M leaves", "-"] == ("0.4 ms", "PASS")
    assert rows["integrity", "consistency proof p99, 1M leaves", "-"] == ("1.7 ms", "MISS")
    assert rows["integrity", "tree maintenance added to catch-up", "-"] == ("15%", "PASS")
    # A ratio the benchmark leaves to the report: the figure over its baseline.
    assert rows["api", "write req/s / bare FastAPI + sqlite3", "-"] == ("0.60x", "PASS")
    assert rows["api", "write p99 / bare FastAPI + sqlite3", "-"] == ("4.50x", "MISS")
    # An undelivered webhook makes the lag infinite: a miss, not a crash.
    assert rows["webhooks", "append -> delivery p99", "sqlite"] == ("inf", "MISS")
    assert rows["webhooks", "append -> delivery p99", "postgres"] == ("0.4 s", "PASS")
    assert rows["webhooks", "Sender / raw httpx posts", "postgres"] == ("0.60x", "PASS")


def test_what_did_not_run_says_so() -> None:
    rows = table(RESULTS)
    # A store the benchmark skipped (PostgreSQL unreachable): that store's rows.
    assert rows["views", "follower catch-up / read + decode", "postgres"] == (
        "not run",
        "not run",
    )
    # A benchmark that did not run at all (or does not exist yet): one row per goal.
    pages = {k: v for k, v in rows.items() if k[0] == "pages"}
    assert set(pages) == {
        ("pages", "board page render p99 full / 10k", "-"),
        ("pages", "commitment page render p99 full / 10k", "-"),
        ("pages", "board page req/s / JSON board", "-"),
    }
    assert set(pages.values()) == {("not run", "not run")}


def test_a_missing_path_or_a_failed_benchmark_is_shown_not_hidden() -> None:
    broken = {**RESULTS, "integrity": {"proofs": {}}, "api": {"error": "RuntimeError: boom"}}
    rows = table(broken)
    assert rows["integrity", "inclusion proof p99, 1M leaves", "-"] == ("no figure", "no figure")
    assert rows["api", "write req/s / bare FastAPI + sqlite3", "-"] == ("error", "error")


def test_a_new_benchmark_only_adds_rows() -> None:
    goals = (*GOALS, Goal("queue", "jobs/s / raw", "{store}.jobs.ratio", ">=", 2.0))
    lines = evaluate({"queue": {"postgres": {"jobs": {"ratio": 2.5}}}}, goals)
    queue = [(x.store, x.shown, x.status) for x in lines if x.bench == "queue"]
    assert queue == [("sqlite", "not run", "not run"), ("postgres", "2.50x", "PASS")]


def test_every_benchmark_has_goals_and_the_coming_ones_have_theirs() -> None:
    named = {g.bench for g in GOALS}
    assert set(BENCHMARKS) <= named
    assert {"webhooks", "pages"} <= named
    assert {g.figure for g in GOALS if g.bench == "webhooks"} == {
        "Sender / raw httpx posts",
        "append -> delivery p99",
    }


def test_the_markdown_report_has_every_row_and_a_count() -> None:
    meta = {"finished_at": "2026-01-02 03:04 UTC", "events": 5000, "commit": "abc1234",
            "cpus": 2, "python": "3.11.7", "seconds": {"import": 2.0}}  # fmt: skip
    text = render(evaluate(RESULTS), meta)
    lines = text.splitlines()
    assert lines[0] == "# Benchmarks"
    assert "--events 5,000" in lines[2] and "commit `abc1234`" in lines[2]
    assert "| benchmark | figure | store | value | goal | result |" in lines
    assert "| api | write p99 / bare FastAPI + sqlite3 | - | 4.50x | ≤ 3.00x | **MISS** |" in lines
    assert "| import | ledger import rate (reference) | - | 60,000/s | ≥ 50,000/s | PASS |" in lines
    rows = [x for x in lines if x.startswith("| ") and not x.startswith("| benchmark")]
    assert len(rows) == len(evaluate(RESULTS))
    passed = sum(1 for x in evaluate(RESULTS) if x.status == "PASS")
    missed = sum(1 for x in evaluate(RESULTS) if x.status == "MISS")
    assert f"{passed} pass, {missed} miss, {len(rows) - passed - missed} not measured." in lines
    assert "Time taken: import 2 s." in lines


def test_only_a_complete_full_run_writes_the_committed_report(tmp_path: Path) -> None:
    meta = report.metadata(5000, {"import": 1.0})
    partial = write(RESULTS, meta, complete=False, out=tmp_path)
    assert partial == [tmp_path / "results" / "REPORT.md", tmp_path / "results" / "latest.json"]
    assert not (tmp_path / "REPORT.md").exists()
    data = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert data["results"]["import"]["sqlite"]["ratio_to_raw"] == 0.4
    assert data["results"]["webhooks"]["sqlite"]["lag"]["p99_s"] == "inf"
    assert data["events"] == 5000
    assert {"bench", "figure", "store", "value", "goal", "status"} <= set(data["goals"][0])
    complete = write(RESULTS, report.metadata(None, {}), complete=True, out=tmp_path)
    assert complete[:2] == [tmp_path / "REPORT.md", tmp_path / "REPORT.json"]
    assert "full sizes" in complete[0].read_text()
    assert json.loads(complete[1].read_text())["events"] is None
