"""`make bench`: run every benchmark (or the ones named) and write bench/results/*.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import api_bench, import_log, integrity_bench, views_bench

BENCHMARKS = {
    "import": import_log.main,
    "views": views_bench.main,
    "integrity": integrity_bench.main,
    "api": api_bench.main,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], default=[])
    parser.add_argument("--events", type=int, default=None, help="override the size")
    args = parser.parse_args()
    results = {}
    for name in args.names or list(BENCHMARKS):
        results[name] = BENCHMARKS[name](args.events)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out / 'latest.json'}")


if __name__ == "__main__":
    main()
