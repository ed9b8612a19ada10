"""The `ledger` command, run as a user runs it: a real process with its environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LEDGER = str(Path(sys.executable).parent / "ledger")

GOOD = [
    {
        "op": "source.create",
        "id": "source/a",
        "data": {"url": "https://example.org/a", "title": "A"},
    },
    {"op": "actor.create", "id": "actor/mayor", "data": {"name": "Greg Fischer", "kind": "person"}},
    {"op": "actor.create", "id": "actor/chief", "data": {"name": "Steve Conrad", "kind": "person"}},
    {
        "op": "commitment.create",
        "id": "commitment/meet-ice",
        "data": {
            "kind": "directive",
            "made_by": "actor/mayor",
            "assignee": "actor/chief",
            "text": "meet with ICE",
            "made_at": "2017-09-08",
            "sources": ["source/a"],
        },
    },
    {
        "op": "commitment.status",
        "id": "commitment/meet-ice",
        "data": {
            "status": "in_progress",
            "occurred_at": "2017-09-15",
            "reason": "still reviewing",
            "sources": ["source/a"],
        },
    },
]


def ledger(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [LEDGER, *args], env=env, capture_output=True, text=True, input=stdin, timeout=120
    )


def write_lines(path: Path, objects: list[object], extra: list[str] = ()) -> Path:  # type: ignore[assignment]
    path.write_text("\n".join([*(json.dumps(o) for o in objects), *extra]) + "\n")
    return path


def test_import_applies_a_file_once_and_a_rerun_applies_nothing(
    store_url: str, tmp_path: Path
) -> None:
    file = write_lines(tmp_path / "good.jsonl", GOOD)
    first = ledger(store_url, "import", str(file))
    assert first.returncode == 0, first.stderr
    assert "applied 5 command(s) (5 events)" in first.stderr
    again = ledger(store_url, "import", str(file))
    assert again.returncode == 0, again.stderr
    assert "applied 0 command(s) (0 events); 5 already applied" in again.stderr
    exported = ledger(store_url, "export").stdout.splitlines()
    assert [json.loads(line)["type"] for line in exported] == [
        "source.registered",
        "actor.registered",
        "actor.registered",
        "commitment.made",
        "commitment.status_changed",
    ]


def test_a_bad_line_is_named_and_nothing_is_applied(store_url: str, tmp_path: Path) -> None:
    bad_ref = {**GOOD[3], "id": "commitment/other", "data": {**GOOD[3]["data"], "assignee": None}}
    forbidden = {
        "op": "commitment.status",
        "id": "commitment/meet-ice",
        "data": {**GOOD[4]["data"], "status": "open"},
    }
    file = write_lines(tmp_path / "bad.jsonl", [*GOOD, bad_ref, forbidden])
    result = ledger(store_url, "import", str(file))
    assert result.returncode == 1
    assert "line 6: assignee: a directive needs an assignee" in result.stderr
    assert "line 7:" in result.stderr and "nothing was applied" in result.stderr
    assert ledger(store_url, "export").stdout == ""

    unparsable = write_lines(tmp_path / "worse.jsonl", GOOD[:2], ["{not json", '{"op": "x"}'])
    result = ledger(store_url, "import", str(unparsable))
    assert result.returncode == 1
    assert "line 3: not JSON" in result.stderr
    assert "line 4: op: unknown op 'x'" in result.stderr
    assert ledger(store_url, "export").stdout == ""

    garbled = tmp_path / "garbled.jsonl"
    lines = [json.dumps(o).encode() for o in GOOD[:2]]
    garbled.write_bytes(b"\n".join([*lines, b'{"op": "source.create\xff"}', lines[0]]) + b"\n")
    result = ledger(store_url, "import", str(garbled))
    assert result.returncode == 1, result.stderr
    assert "line 3: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr
    assert ledger(store_url, "export").stdout == ""


def test_export_and_restore_through_the_cli_between_sqlite_and_postgres(
    sqlite_url: str, pg_url: str, tmp_path: Path
) -> None:
    file = write_lines(tmp_path / "good.jsonl", GOOD)
    assert ledger(sqlite_url, "import", str(file)).returncode == 0
    dump = tmp_path / "export.jsonl"
    assert ledger(sqlite_url, "export", "--output", str(dump)).returncode == 0
    restored = ledger(pg_url, "restore", str(dump))
    assert restored.returncode == 0, restored.stderr
    assert ledger(pg_url, "export").stdout == dump.read_text()
    refused = ledger(pg_url, "restore", str(dump))
    assert refused.returncode == 1 and "empty store" in refused.stderr


def test_keys_create_prints_the_key_alone_on_its_last_line(sqlite_url: str) -> None:
    created = ledger(sqlite_url, "keys", "create", "--name", "newsroom", "--scope", "editor")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("lk_") and len(key) > 40
    listed = ledger(sqlite_url, "keys", "list")
    assert "newsroom" in listed.stdout and "editor" in listed.stdout
    assert key not in listed.stdout
    assert ledger(sqlite_url, "keys", "revoke", "newsroom").returncode == 0
    assert ledger(sqlite_url, "keys", "revoke", "newsroom").returncode == 1
    bad_scope = ledger(sqlite_url, "keys", "create", "--name", "x", "--scope", "root")
    assert bad_scope.returncode == 2
    audit = [json.loads(line) for line in ledger(sqlite_url, "keys", "audit").stdout.splitlines()]
    assert [a["type"] for a in audit] == ["ApiKey.Issued", "ApiKey.Revoked"]
    assert ledger(sqlite_url, "export").stdout == ""


def test_history_lists_a_records_events_oldest_first(sqlite_url: str, tmp_path: Path) -> None:
    assert (
        ledger(sqlite_url, "import", str(write_lines(tmp_path / "g.jsonl", GOOD))).returncode == 0
    )
    result = ledger(sqlite_url, "history", "commitments", "meet-ice", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["version"], e["type"]) for e in events] == [
        (1, "commitment.made"),
        (2, "commitment.status_changed"),
    ]
    assert events[0]["recorded_by"].startswith("cli:")
    missing = ledger(sqlite_url, "history", "commitment", "nothing-here")
    assert missing.returncode == 1 and "no commitment" in missing.stderr


@pytest.mark.parametrize("url", ["mysql://x", "sqlite://"])
def test_a_bad_database_url_is_a_clear_configuration_error(url: str) -> None:
    result = ledger(url, "export")
    assert result.returncode == 2
    assert "LEDGER_DATABASE_URL" in result.stderr
