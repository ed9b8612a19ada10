"""The benchmark report: each figure beside its goal, PASS or MISS.

The goals are one declarative table, `GOALS`: a row names a benchmark (its key in
`bench.__main__.BENCHMARKS`), a dotted path into the dict that benchmark's `main` returns
(`{store}` stands for each of `STORES`), how the figure compares with its goal, and, for a
ratio the benchmark does not work out itself, the path it is divided by. A new benchmark
adds rows here and nothing else. A benchmark that did not run shows "not run"; a store it
skipped (PostgreSQL unreachable, or off) shows "not run" too; a path that its result lacks
shows "no figure".
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

STORES = ("sqlite", "postgres")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Goal:
    bench: str
    figure: str
    path: str
    op: Literal[">=", "<="]
    target: float
    unit: Literal["x", "ms", "s", "%", "/s"] = "x"
    over: str | None = None


GOALS: tuple[Goal, ...] = (
    Goal("import", "ledger import / raw sqlite3 executemany", "sqlite.ratio_to_raw", ">=", 0.3),
    Goal("import", "ledger import rate (reference)", "sqlite.ledger_import", ">=", 50_000, "/s"),
    Goal("views", "follower catch-up / read + decode", "{store}.catch_up_ratio", ">=", 0.3),
    Goal("views", "board p99 full / 10k, now", "{store}.board_p99_ms.current.ratio", "<=", 1.5),
    Goal(
        "views",
        "board p99 full / 10k, random at",
        "{store}.board_p99_ms.random_at.ratio",
        "<=",
        1.5,
    ),
    Goal(
        "views",
        "board p99 full / 10k, random known_at",
        "{store}.board_p99_ms.random_known_at.ratio",
        "<=",
        3.0,
    ),
    Goal("integrity", "inclusion proof p99, 1M leaves", "proofs.inclusion_p99_ms", "<=", 1, "ms"),
    Goal(
        "integrity",
        "consistency proof p99, 1M leaves",
        "proofs.consistency_p99_ms",
        "<=",
        1,
        "ms",
    ),
    Goal("integrity", "ledger verify / read", "verify.verify_ratio", ">=", 0.25),
    Goal("integrity", "tree maintenance added to catch-up", "verify.tree_overhead", "<=", 0.2, "%"),
    Goal(
        "api",
        "write req/s / bare FastAPI + sqlite3",
        "ledger_write.rps",
        ">=",
        0.5,
        over="baseline_write.rps",
    ),
    Goal(
        "api",
        "write p99 / bare FastAPI + sqlite3",
        "ledger_write.p99_ms",
        "<=",
        3.0,
        over="baseline_write.p99_ms",
    ),
    Goal("webhooks", "Sender / raw httpx posts", "{store}.throughput.ratio", ">=", 0.5),
    Goal("webhooks", "append -> delivery p99", "{store}.lag.p99_s", "<=", 1.0, "s"),
    Goal("pages", "board page render p99 full / 10k", "{store}.p99_ms.board.ratio", "<=", 1.5),
    Goal(
        "pages",
        "commitment page render p99 full / 10k",
        "{store}.p99_ms.commitment.ratio",
        "<=",
        1.5,
    ),
    Goal("pages", "board page req/s / JSON board", "{store}.board_rps.ratio", ">=", 0.5),
)


@dataclass(frozen=True)
class Line:
    """One row of the report."""

    bench: str
    figure: str
    store: str
    value: float | None
    goal: str
    status: str
    shown: str


def lookup(result: Any, path: str) -> Any:
    """The value at a dotted path, or None where the path ends early."""
    for part in path.split("."):
        if not isinstance(result, dict) or part not in result:
            return None
        result = result[part]
    return result


def fmt(value: float, unit: str) -> str:
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value * 100:.0f}%"
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:.3g} {unit}" if value < 10 else f"{value:,.0f} {unit}"


def goal_text(goal: Goal) -> str:
    return f"{'≥' if goal.op == '>=' else '≤'} {fmt(goal.target, goal.unit)}"


def meets(goal: Goal, value: float) -> bool:
    if math.isnan(value):
        return False
    return value >= goal.target if goal.op == ">=" else value <= goal.target


def _value(goal: Goal, result: Any, store: str | None) -> float | None:
    def at(path: str) -> Any:
        return lookup(result, path.replace("{store}", store or ""))

    value = at(goal.path)
    if goal.over is not None:
        under = at(goal.over)
        if not isinstance(value, int | float) or not isinstance(under, int | float):
            return None
        return float(value) / float(under) if under else math.inf
    return float(value) if isinstance(value, int | float) else None


Status = Literal["PASS", "MISS", "not run", "no figure", "error"]


def judge(goal: Goal, result: Any, store: str | None) -> tuple[Status, float | None]:
    """A goal against one benchmark's result (for one store)."""
    if result is None:
        return "not run", None
    if isinstance(result, dict) and set(result) == {"error"}:
        return "error", None
    if store is not None and lookup(result, store) is None:
        return "not run", None
    value = _value(goal, result, store)
    if value is None:
        return "no figure", None
    return ("PASS" if meets(goal, value) else "MISS"), value


def evaluate(results: dict[str, Any], goals: tuple[Goal, ...] = GOALS) -> list[Line]:
    """Every goal against the results, one line per goal and store."""
    lines = []
    for goal in goals:
        result = results.get(goal.bench)
        per_store = "{store}" in goal.path and result is not None
        for store in STORES if per_store else (None,):
            status, value = judge(goal, result, store)
            shown = fmt(value, goal.unit) if value is not None else status
            line = Line(
                goal.bench, goal.figure, store or "-", value, goal_text(goal), status, shown
            )
            lines.append(line)
    return lines


def render(lines: list[Line], meta: dict[str, Any], *, complete: bool = False) -> str:
    """The report as Markdown; a `complete` one points to its figures beside it."""
    events = meta.get("events")
    size = f"--events {events:,}" if events else "full sizes"
    out = [
        "# Benchmarks",
        "",
        f"{meta.get('finished_at', '')} · {size} · commit `{meta.get('commit', '')}` · "
        f"{meta.get('cpus', '?')} CPUs · Python {meta.get('python', '?')}. Ratios are against "
        "baselines measured in the same run (`python -m bench`; raw figures in "
        f"`bench/{'REPORT' if complete else 'results/latest'}.json`).",
        "",
        "| benchmark | figure | store | value | goal | result |",
        "|---|---|---|---|---|---|",
    ]
    for line in lines:
        result = line.status if line.status != "MISS" else "**MISS**"
        out.append(
            f"| {line.bench} | {line.figure} | {line.store} | {line.shown} | {line.goal} | "
            f"{result} |"
        )
    counts = {s: sum(1 for x in lines if x.status == s) for s in ("PASS", "MISS")}
    others = len(lines) - counts["PASS"] - counts["MISS"]
    out += ["", f"{counts['PASS']} pass, {counts['MISS']} miss, {others} not measured.", ""]
    timings = meta.get("seconds") or {}
    if timings:
        took = ", ".join(f"{name} {s:.0f} s" for name, s in timings.items())
        out += [f"Time taken: {took}.", ""]
    return "\n".join(out)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def metadata(events: int | None, seconds: dict[str, float]) -> dict[str, Any]:
    return {
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "events": events,
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def write(
    results: dict[str, Any],
    meta: dict[str, Any],
    *,
    complete: bool,
    out: Path = HERE,
) -> list[Path]:
    """Write `results/latest.json` and the Markdown report: `REPORT.md` and its figures,
    `REPORT.json`, beside the benchmarks for a complete run at full size (every benchmark,
    no `--events`), else `results/REPORT.md`, so that the committed report only ever shows
    full runs."""
    lines = evaluate(results)
    folder = out / "results"
    folder.mkdir(exist_ok=True)
    report = out / "REPORT.md" if complete else folder / "REPORT.md"
    report.write_text(render(lines, meta, complete=complete))
    data = _json({**meta, "results": results, "goals": [asdict(line) for line in lines]})
    written = [report, *([out / "REPORT.json"] if complete else []), folder / "latest.json"]
    for path in written[1:]:
        path.write_text(data)
    return written


def _json(data: Any) -> str:
    import json

    def clean(value: Any) -> Any:
        if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
            return str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(data), indent=2, default=str) + "\n"
