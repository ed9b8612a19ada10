"""`make bench`: run every benchmark (or the ones named) and write the report: each figure
beside its goal (bench/report.py), in bench/REPORT.md for a complete run at full size (else
bench/results/REPORT.md), and the raw figures in bench/results/latest.json."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from typing import Any

from bench import (
    api_bench,
    import_log,
    integrity_bench,
    pages_bench,
    report,
    views_bench,
    webhooks_bench,
)

BENCHMARKS = {
    "import": import_log.main,
    "views": views_bench.main,
    "integrity": integrity_bench.main,
    "api": api_bench.main,
    "webhooks": webhooks_bench.main,
    "pages": pages_bench.main,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], default=[])
    parser.add_argument("--events", type=int, default=None, help="override the size")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in names:
        started = time.monotonic()
        try:
            results[name] = BENCHMARKS[name](args.events)
        except Exception as e:  # the others still run and are reported
            traceback.print_exc()
            results[name] = {"error": f"{type(e).__name__}: {e}"}
        seconds[name] = time.monotonic() - started
    complete = args.events is None and set(names) == set(BENCHMARKS)
    meta = report.metadata(args.events, seconds)
    written = report.write(results, meta, complete=complete)
    print("\n" + written[0].read_text())
    for path in written:
        print(f"wrote {path}")
    if any(set(r) == {"error"} for r in results.values() if isinstance(r, dict)):
        sys.exit(1)


if __name__ == "__main__":
    main()
