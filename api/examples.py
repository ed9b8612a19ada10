"""OpenAPI examples, drawn from the founding case (ledger/demo/louisville-2017.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_DEMO = Path(__file__).resolve().parents[1] / "ledger" / "demo" / "louisville-2017.jsonl"
#: The founding-case line each op's example is taken from (the first of that op).
_PREFERRED = {"commitment.create": "commitment/warren-recommendations"}


def _examples() -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if not _DEMO.exists():
        return out
    for line in _DEMO.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        command = json.loads(line)
        op = command["op"]
        preferred = _PREFERRED.get(op)
        if op in out and not (preferred and command.get("id") == preferred):
            continue
        out[op] = {
            "founding-case": {
                "summary": f"From the founding case: {command.get('id', op)}",
                "value": command["data"],
            }
        }
    return out


EXAMPLES = _examples()
