"""`make reliability`: proof under stress, with a table of figures.

    python -m reliability [--size small|full] [--only NAME,...]

Each row is one figure of issue 9 beside its goal, PASS or FAIL:

- writers: P processes x N commands over HTTP on PostgreSQL on the same 10 records
  (reliability/writers.py);
- catch-up and crash: kill -9 of a worker while it catches up, and of the API, the workers
  and the importer during an import and a webhook burst (reliability/crash.py);
- outage: a webhook receiver down for an (injected) ten minutes (reliability/outage.py);
- openapi and import: generated bad input through the HTTP API and `ledger import`
  (reliability/bad_input.py);
- auth and ssrf: the refusals of writes without the right key and of webhooks to private
  addresses (reliability/guards.py);
- tamper: edits, deletions and reorders of stored events (reliability/tamper.py).

The full size is the issue's; `make test` runs the small one. The table is printed and
written to reliability/results/latest.md and latest.json; a complete full run also writes
reliability/REPORT.md. The exit status is 1 if any row fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REPORT = HERE / "REPORT.md"

SIZES: dict[str, dict[str, int]] = {
    "small": {
        "writers": 4,
        "commands": 60,
        "kills": 4,
        "crash_rounds": 3,
        "crash_commitments": 40,
        "settle_seconds": 60,
        "outage_events": 20,
        "fuzz_every": 4,
        "fuzz_requests": 250,
        "import_files": 10,
        "tampers": 9,
    },
    "full": {
        "writers": 8,
        "commands": 1000,
        "kills": 20,
        "crash_rounds": 20,
        "crash_commitments": 100,
        "settle_seconds": 180,
        "outage_events": 200,
        "fuzz_every": 1,
        "fuzz_requests": 1000,
        "import_files": 200,
        "tampers": 100,
    },
}


@dataclass
class Row:
    check: str
    ok: bool
    figure: str
    goal: str
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def kills_text(kills: dict[str, int]) -> str:
    return ", ".join(f"{name} x{n}" for name, n in kills.items()) or "none"


# -- one function per row: run the check, judge it against its goal -------------------------
def writers_row(size: dict[str, int], seed: int) -> Row:
    from reliability import writers

    w = writers.run(size)
    return Row(
        "concurrent writers",
        ok=w["other"] == 0
        and w["lost_updates"] == 0
        and w["duplicates"] == 0
        and w["unacknowledged_in_log"] == 0
        and w["served_equals_replay"]
        and w["views_equal_rebuild"],
        figure=f"{w['applied']} applied, {w['refused']} refused 409/412, {w['other']} other; "
        f"lost updates {w['lost_updates']}; state = replay: {yes(w['served_equals_replay'])}; "
        f"views = rebuild: {yes(w['views_equal_rebuild'])}",
        goal="every command applied or 409/412; 0 lost updates; state = replay of the log",
        detail=f"{w['processes']} processes x {size['commands']:,} commands over HTTP on "
        f"PostgreSQL, 10 records, If-Match, {w['seconds']} s"
        + (f"; others: {w['others']}" if w["others"] else ""),
        data=w,
    )


def catch_up_row(size: dict[str, int], seed: int) -> Row:
    from reliability import crash

    c = crash.catch_up(size, seed)
    return Row(
        "kill -9 of a worker catching up",
        ok=c["kills_mid_catch_up"] == size["kills"] and c["views_equal_rebuild"] and c["verify"],
        figure=f"{c['kills_mid_catch_up']} kills; views = rebuild: "
        f"{yes(c['views_equal_rebuild'])}; ledger verify: {'ok' if c['verify'] else 'FAILED'}",
        goal=f"{size['kills']} kills mid catch-up; views = full rebuild; ledger verify passes",
        detail=f"seed {seed}; SQLite, {c['events']:,} events, batches of 10",
        data=c,
    )


def crash_row(size: dict[str, int], seed: int) -> Row:
    from reliability import crash

    c = crash.under_load(size, seed)
    partial = {k: v for k, v in c["partial"].items() if v}
    return Row(
        "kill -9 during import + webhook burst",
        ok=c["partial_events"] == 0
        and c["views_equal_rebuild"]
        and c["verify"]
        and c["webhooks_missing"] == 0
        and c["webhooks_unexpected"] == 0
        and c["bad_signatures"] == 0
        and c["outbox_equals_log"]
        and c["not_delivered_rows"] == 0
        and not c["unfinished_imports"]
        and not c["http_failures"],
        figure=f"{c['partial_events']} partial events{f' {partial}' if partial else ''}; "
        f"views = rebuild: {yes(c['views_equal_rebuild'])}; ledger verify: "
        f"{'ok' if c['verify'] else 'FAILED'}; webhooks delivered "
        f"{c['webhooks_received']:,}/{c['webhooks_expected']:,} "
        f"({c['duplicate_deliveries']:,} duplicates dropped by webhook-id, "
        f"{c['bad_signatures']} bad signatures)",
        goal="0 partial events; views = full rebuild; ledger verify passes; every webhook "
        "delivered at least once",
        detail=f"seed {seed}; {c['rounds']} rounds on PostgreSQL (API x2 processes, 2 workers); "
        f"killed {kills_text(c['kills'])}; {c['events']:,} events; "
        f"{c['http_writes_acknowledged']:,} HTTP writes acknowledged after "
        f"{c['http_retries']:,} retries ({c['http_server_errors']} 5xx); "
        f"{c['import_reruns']} import re-runs; {c['sent_after_lease']:,} left to a last sweep "
        "past the senders' lease"
        + (f"; failures: {c['http_failures']}" if c["http_failures"] else "")
        + (f"; unfinished imports: {c['unfinished_imports']}" if c["unfinished_imports"] else "")
        + ("" if c["verify"] else f"; verify said: {c['verify_says']}"),
        data=c,
    )


def outage_row(size: dict[str, int], seed: int) -> Row:
    from reliability import outage

    o = outage.run(size)
    return Row(
        "receiver outage (10 min, injected)",
        ok=o["lost"] == 0
        and o["arrived_while_down"] == 0
        and o["refused_while_down"] > 0
        and o["bad_signatures"] == 0
        and o["all_marked_delivered"],
        figure=f"{o['delivered']}/{o['events']} delivered after recovery, lost {o['lost']}; "
        f"{o['refused_while_down']} attempts refused while down",
        goal="all deliveries arrive after recovery",
        detail=f"{o['attempts']} attempts over 60 injected minutes; signatures checked",
        data=o,
    )


def openapi_row(size: dict[str, int], seed: int) -> Row:
    from reliability import bad_input

    f = bad_input.openapi(size)
    waits = f["documented_waits"]
    return Row(
        "bad input: OpenAPI (schemathesis)",
        ok=f["requests"] >= size["fuzz_requests"]
        and f["server_errors"] == 0
        and f["failed_checks"] == 0
        and f["written_by_refused"] == 0,
        figure=f"{f['requests']:,} requests: {f['server_errors']} server errors, "
        f"{f['failed_checks']} schema violations, {f['written_by_refused']} refused requests "
        "that wrote",
        goal=f">= {size['fuzz_requests']:,} requests; 0 server errors; 0 schema violations; "
        "nothing written when refused",
        detail=f"{f['operations']} of {f['of_operations']} operations; statuses "
        f"{f['statuses']}; {waits} documented 503 views-behind"
        + (f"; examples: {f['examples']}" if f["examples"] else ""),
        data=f,
    )


def import_row(size: dict[str, int], seed: int) -> Row:
    from reliability import bad_input

    i = bad_input.import_files(size, seed)
    return Row(
        "bad input: import files (hypothesis)",
        ok=i["violations"] == 0 and i["files"] >= size["import_files"] // 2,
        figure=f"{i['files']} files: {i['applied']} applied, {i['refused']} refused, "
        f"{i['crashed']} crashed; {i['violations']} files break a rule",
        goal="no crash; a refused file names each bad line and writes nothing; an applied one "
        "writes what it reports",
        detail=f"seed {seed}; through `ledger import` (the HTTP API has no import endpoint)"
        + (f"; examples: {i['examples']}" if i["examples"] else ""),
        data=i,
    )


def guards_rows(size: dict[str, int], seed: int) -> list[Row]:
    from reliability import guards

    g = guards.run(size)
    a, s = g["auth"], g["ssrf"]
    refused = s["refused_at_creation"] + s["refused_at_delivery"]
    return [
        Row(
            "auth matrix",
            ok=a["wrong"] == 0 and not a["written"] and a["operations"] >= 40,
            figure=f"{a['requests']} refusals on {a['operations']} write operations: "
            f"{a['wrong']} wrong; written: {'YES' if a['written'] else 'nothing'}",
            goal="every POST/PATCH/DELETE without a key or with a reader key: 401/403; "
            "nothing written",
            detail="no key, unknown key, malformed header, empty bearer, reader key, revoked "
            "key; editor key on admin paths; PostgreSQL, real server"
            + (f"; examples: {a['examples']}" if a["examples"] else ""),
            data=a,
        ),
        Row(
            "SSRF refusals",
            ok=refused == s["targets"]
            and s["receiver_requests"] == 0
            and s["all_attempted"]
            and not s["not_refused"],
            figure=f"{refused}/{s['targets']} refused; {s['receiver_requests']} requests "
            "reached the receiver on 127.0.0.1",
            goal="loopback, private, link-local, metadata and names resolving to 127.0.0.1 refused",
            detail="LEDGER_WEBHOOK_ALLOW_PRIVATE unset; subscriptions over HTTP, deliveries by "
            "a `ledger worker`"
            + (f"; not refused: {s['not_refused']}" if s["not_refused"] else ""),
            data=s,
        ),
    ]


def tamper_row(size: dict[str, int], seed: int) -> Row:
    from reliability import tamper

    t = tamper.run(size, seed)
    return Row(
        "tampering",
        ok=t["caught"] == t["tampered"] and t["verified_before"] == t["tampered"],
        figure=f"caught {t['caught']} of {t['tampered']} by `ledger verify`",
        goal=f"{t['tampered']} of {t['tampered']} caught; each store verified before",
        detail=f"seed {seed}; {t['edit']} edits, {t['delete']} deletions, {t['swap']} reorders"
        + (f"; missed: {t['missed']}" if t["missed"] else ""),
        data=t,
    )


CHECKS: dict[str, Callable[[dict[str, int], int], Row | list[Row]]] = {
    "writers": writers_row,
    "catch-up": catch_up_row,
    "crash": crash_row,
    "outage": outage_row,
    "openapi": openapi_row,
    "import": import_row,
    "guards": guards_rows,
    "tamper": tamper_row,
}


def run_check(name: str, size: dict[str, int], seed: int) -> list[Row]:
    started = time.monotonic()
    try:
        got = CHECKS[name](size, seed)
        rows = got if isinstance(got, list) else [got]
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        traceback.print_exc()
        rows = [Row(name, ok=False, figure=f"error: {type(e).__name__}: {e}"[:500], goal="")]
    for row in rows:
        row.seconds = round((time.monotonic() - started) / len(rows), 1)
    return rows


# -- the table ------------------------------------------------------------------------------
def render_text(rows: list[Row], title: str) -> str:
    width = max(len(r.check) for r in rows)
    lines = [title]
    for r in rows:
        lines.append(f"  {r.check:<{width}}  {'PASS' if r.ok else 'FAIL'}  {r.figure}")
        pad = " " * (width + 10)
        lines.append(f"{pad}goal: {r.goal}")
        if r.detail:
            lines.append(f"{pad}({r.detail})")
    passed = sum(r.ok for r in rows)
    lines.append(f"  {passed} of {len(rows)} rows pass")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: list[Row], title: str, meta: dict[str, Any]) -> str:
    out = [f"# {title}", ""]
    out.append(
        f"{meta['finished_at']} · size `{meta['size']}` · seed {meta['seed']} · "
        f"commit `{meta['commit']}` · {meta['cpus']} CPUs · Python {meta['python']} · "
        f"{meta['seconds']:.0f} s"
    )
    out += ["", "| check | result | figure | goal | details |", "|---|---|---|---|---|"]
    for r in rows:
        result = "PASS" if r.ok else "**FAIL**"
        out.append(
            f"| {_cell(r.check)} | {result} | {_cell(r.figure)} | {_cell(r.goal)} | "
            f"{_cell(r.detail)} ({r.seconds:.0f} s) |"
        )
    passed = sum(r.ok for r in rows)
    out += ["", f"{passed} of {len(rows)} rows pass.", ""]
    return "\n".join(out)


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_results(rows: list[Row], meta: dict[str, Any], title: str, report: bool) -> list[Path]:
    RESULTS.mkdir(exist_ok=True)
    markdown = render_markdown(rows, title, meta)
    written = [RESULTS / "latest.md", RESULTS / "latest.json"]
    written[0].write_text(markdown)
    body = {**meta, "ok": all(r.ok for r in rows), "rows": [asdict(r) for r in rows]}
    written[1].write_text(json.dumps(body, indent=2, default=str) + "\n")
    if report:
        REPORT.write_text(markdown)
        written.append(REPORT)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reliability")
    parser.add_argument("--size", choices=list(SIZES), default="full")
    parser.add_argument(
        "--only", default="", help=f"comma-separated checks, of: {', '.join(CHECKS)}"
    )
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        parser.error(f"unknown check(s) {unknown}; of: {', '.join(CHECKS)}")
    from reliability.support import require_postgres

    require_postgres()
    size = SIZES[args.size]
    seed = int(os.environ.get("LEDGER_CRASH_SEED", random.randrange(1_000_000)))
    print(f"reliability ({args.size}): seed {seed} (LEDGER_CRASH_SEED={seed} repeats it)")
    started = time.monotonic()
    rows: list[Row] = []
    for name in names:
        print(f"  running {name} ...", flush=True)
        rows += run_check(name, size, seed)
    meta = {
        "size": args.size,
        "checks": names,
        "seed": seed,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.monotonic() - started, 1),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    title = f"reliability ({args.size})"
    print()
    print(render_text(rows, title))
    complete = args.size == "full" and names == list(CHECKS)
    for path in write_results(rows, meta, title, report=complete):
        print(f"wrote {path.relative_to(HERE.parent)}")
    if not all(r.ok for r in rows):
        sys.exit(1)
