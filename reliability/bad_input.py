"""Bad input, generated: no answer is a server error, none breaks the schema, and a refused
request writes nothing.

- `openapi`: schemathesis over every operation of the OpenAPI, with the setup and the checks
  of tests/api/test_schemathesis.py (imported, not copied), through an ASGI wrapper that
  reads the log positions (the public log, the admin log) and the webhook deliveries before
  and after each request: any answer of 400 or more that moved one of them is counted.
- `import_files`: hypothesis-generated command files through the real `ledger import`: valid
  lines, lines that must be refused (not JSON, not an object, an unknown op, a reference to
  a record that does not exist, bytes that are not UTF-8) and valid lines with one field
  mutated. The command may apply a file or refuse it, never crash; a refused file names each
  line that must be refused and writes nothing; an applied file writes exactly the events
  it reports. (The HTTP API has no import endpoint.)
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from reliability.support import cli

# -- schemathesis over the OpenAPI ----------------------------------------------------------


def _fixture_body(fixture: Any) -> Callable[..., Any]:
    """The function under a pytest fixture, to run its setup outside pytest."""
    body: Callable[..., Any] = fixture._get_wrapped_function()
    return body


class WriteGuard:
    """An ASGI wrapper that counts, per answer, what it wrote: a refused request (status
    400 or more) that moved a log or the deliveries is a violation."""

    def __init__(self, app: Any, services: Any) -> None:
        self.app = app
        self.services = services
        self.statuses: Counter[int] = Counter()
        self.written_by_refused: list[str] = []
        self.server_errors: list[str] = []
        #: The documented 503 of a read whose `min_position` the views have not reached.
        self.waits = 0

    def marks(self) -> tuple[int, int, int]:
        ledger, admin = self.services.ledger, self.services.admin
        with self.services.followers.views["outbox"].read() as sql:
            row = sql.one("SELECT COUNT(*) AS n FROM w_deliveries")
        return (
            ledger.last_position(),
            int(admin.recorder.max_notification_id() or 0),
            int(row["n"]) if row else 0,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        before = self.marks()
        answer: dict[str, Any] = {"status": 0, "body": b"", "retry_after": False}

        async def tap(message: Any) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                names = {bytes(k).lower() for k, _ in message.get("headers", [])}
                answer["retry_after"] = b"retry-after" in names
            elif message["type"] == "http.response.body" and answer["status"] >= 500:
                answer["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, tap)
        status = answer["status"]
        self.statuses[status] += 1
        label = f"{scope['method']} {scope['path']} -> {status}"
        if status >= 400 and self.marks() != before:
            self.written_by_refused.append(f"{label}: {before} -> {self.marks()}")
        if status == 503 and answer["retry_after"] and b"/views-behind" in answer["body"]:
            self.waits += 1
        elif status >= 500:
            self.server_errors.append(f"{label}: {answer['body'][:300]!r}")


def documented_wait(failure: str) -> bool:
    """Whether a schemathesis failure report holds nothing but the documented 503 of a read
    that waited for the views (API.md: `min_position` "waits (bounded) ... else 503 with
    Retry-After"), which the server-error check of tests/api/test_schemathesis.py means to
    let through."""
    checks = re.findall(r"^\s*- (ST\d+ .+)$", failure, flags=re.MULTILINE)
    statuses = re.findall(r"^\s*\[(\d{3})\]", failure, flags=re.MULTILINE)
    return (
        bool(checks)
        and all(c.strip() == "ST101 Server error" for c in checks)
        and set(statuses) == {"503"}
        and failure.count("/views-behind") >= len(statuses)
    )


def openapi(size: dict[str, int]) -> dict[str, Any]:
    import schemathesis

    from api.app import create_app
    from tests.api import test_schemathesis as fuzzing
    from tests.conftest import clock

    fuzzed = contextmanager(_fixture_body(fuzzing.fuzzed))
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        with fuzzed(url, _fixture_body(clock)()) as (services, keys):
            guard = WriteGuard(create_app(services), services)
            schema = schemathesis.openapi.from_asgi("/openapi.json", guard)
            operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
            chosen = operations[:: size["fuzz_every"]]
            for operation in chosen:
                admin = operation.path.startswith(fuzzing.ADMIN_PATHS)
                key = keys["admin"] if admin else keys["editor"]
                head = services.ledger.last_position()
                failures.update(fuzzing.fuzz(operation, schema, key, head, calls, statuses))
    violations = {k: v for k, v in failures.items() if not documented_wait(v)}
    return {
        "operations": len(calls),
        "of_operations": len(operations),
        "requests": sum(calls.values()),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": len(guard.server_errors),
        "failed_checks": len(violations),
        "documented_waits": guard.waits,
        "waits_failed_by_check": len(failures) - len(violations),
        "written_by_refused": len(guard.written_by_refused),
        "examples": [*guard.server_errors[:3], *guard.written_by_refused[:3]]
        + [f"{k}: {v[:800]}" for k, v in list(violations.items())[:3]],
    }


# -- generated import files through `ledger import` -----------------------------------------

_NAME = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _valid(draw: Any) -> dict[str, Any]:
    """A command the seeded store accepts (ids are fresh for each drawing)."""
    name = draw(_NAME)
    kind = draw(st.sampled_from(["source", "actor", "claim", "evidence", "commitment"]))
    if kind == "source":
        data = {"url": f"https://example.org/{name}", "title": draw(st.text(min_size=1))}
        return {"op": "source.create", "id": f"source/{name}", "data": data}
    if kind == "actor":
        data = {"name": draw(st.text(min_size=1)), "kind": "person"}
        return {"op": "actor.create", "id": f"actor/{name}", "data": data}
    if kind == "claim":
        data = {
            "made_by": "actor/a",
            "text": draw(st.text(min_size=1)),
            "made_at": draw(st.dates()).isoformat(),
            "sources": ["source/s"],
        }
        return {"op": "claim.create", "id": f"claim/{name}", "data": data}
    if kind == "evidence":
        data = {"stance": "context", "sources": ["source/s"], "note": draw(st.text())}
        return {"op": "claim.evidence", "id": "claim/k", "data": data}
    data = {
        "kind": "promise",
        "made_by": "actor/a",
        "text": draw(st.text(min_size=1)),
        "made_at": "2018-01-01",
        "due": {"on": draw(st.dates()).isoformat()},
        "sources": ["source/s"],
    }
    return {"op": "commitment.create", "id": f"commitment/{name}", "data": data}


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return bool(text.strip())
    return False


@st.composite
def _line(draw: Any) -> tuple[bytes, bool]:
    """One line of a file, and whether the import must refuse it."""
    choice = draw(st.sampled_from(["valid", "valid", "mutated", "bad", "blank"]))
    if choice == "blank":
        return b"", False
    if choice == "valid":
        return json.dumps(draw(_valid())).encode(), False
    if choice == "mutated":
        command = draw(_valid())
        data = command["data"]
        how = draw(st.sampled_from(["replace", "drop", "add", "top"]))
        field = draw(st.sampled_from(sorted(data)))
        if how == "replace":
            data[field] = draw(_JSON)
        elif how == "drop":
            del data[field]
        elif how == "add":
            data[draw(st.text(min_size=1, max_size=10))] = draw(_JSON)
        else:
            command[draw(st.sampled_from(["op", "id", "data", "key", "extra"]))] = draw(_JSON)
        return json.dumps(command).encode(), False
    bad = draw(st.sampled_from(["text", "not_object", "unknown_op", "dangling", "bytes"]))
    if bad == "text":
        text = draw(st.text(min_size=1, max_size=40).filter(_not_json))
        return text.replace("\n", " ").replace("\r", " ").encode(), bool(text.strip())
    if bad == "not_object":
        value = draw(st.lists(_JSON, max_size=3) | st.integers() | st.text(max_size=10))
        return json.dumps(value).encode(), True
    if bad == "unknown_op":
        op = draw(st.text(min_size=1, max_size=20).filter(lambda s: "." not in s))
        return json.dumps({"op": op, "id": "claim/k", "data": {}}).encode(), True
    if bad == "dangling":
        command = draw(_valid().filter(lambda c: c["op"] in ("claim.create", "commitment.create")))
        command["data"]["made_by"] = f"actor/never-{draw(_NAME)}"
        return json.dumps(command).encode(), True
    garbage = draw(st.binary(min_size=1, max_size=20))
    return b"\xff\xfe" + garbage.replace(b"\n", b" "), True


_APPLIED = re.compile(r"applied (\d+) command\(s\) \((\d+) events\)")
_GOOD = json.dumps(
    {"op": "source.create", "id": "source/fixed", "data": {"url": "https://e.org/f", "title": "F"}}
).encode()
#: One file for each kind of line that must be refused, whatever hypothesis draws.
EXPLICIT = [
    [(_GOOD, False), (b"\xff\xfe{}", True)],
    [(_GOOD, False), (b'{"op": "source.create", "id": ', True)],
    [(_GOOD, False), (b"[1, 2]", True)],
    [(_GOOD, False), (b'{"op": "claim.invent", "id": "claim/k", "data": {}}', True)],
    [
        (_GOOD, False),
        (
            b'{"op": "claim.create", "id": "claim/x", "data": {"made_by": "actor/nobody", '
            b'"text": "t", "made_at": "2018-01-01", "sources": ["source/s"]}}',
            True,
        ),
    ],
]


def _crash_message(said: str) -> str:
    """The exception a traceback ends with, unwrapped."""
    lines = said.strip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", lines[i]):
            return " ".join(line.strip() for line in lines[i:])
    return said.strip()[-300:]


def import_files(size: dict[str, int], seed: int) -> dict[str, Any]:
    from ledger.app import Ledger
    from ledger.config import Settings
    from tests.contract.helpers import run

    outcomes: Counter[str] = Counter()
    violations: list[str] = []
    #: The first file breaking each rule, by rule.
    first: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        url = f"sqlite:///{tmp}/ledger.db"
        env = {**_env(), "LEDGER_DATABASE_URL": url}
        ledger = Ledger(Settings(database_url=url))
        run(ledger, "source.create", "source/s", url="https://e.org/s", title="S")
        run(ledger, "actor.create", "actor/a", name="A", kind="person")
        run(
            ledger,
            "claim.create",
            "claim/k",
            made_by="actor/a",
            text="k",
            made_at="2018-01-01",
            sources=["source/s"],
        )
        counter = iter(range(10**9))
        kept: list[tuple[str, bytes]] = []

        @hypothesis_seed(seed)
        @settings(
            max_examples=size["import_files"],
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(lines=st.lists(_line(), min_size=1, max_size=8))
        def check(lines: list[tuple[bytes, bool]]) -> None:
            path = tmp / f"f{next(counter)}.jsonl"
            path.write_bytes(b"\n".join(text for text, _ in lines) + b"\n")
            must_refuse = [n for n, (_, bad) in enumerate(lines, start=1) if bad]
            texts = [text for text, _ in lines]
            before = ledger.last_position()
            done = cli(env, "import", str(path), check=False)
            after = ledger.last_position()
            said = done.stderr
            wrong = []
            if done.returncode not in (0, 1) or "Traceback" in said:
                outcomes["crashed"] += 1
                wrong.append(f"crashed (exit {done.returncode}): {_crash_message(said)}")
            elif done.returncode == 1:
                outcomes["refused"] += 1
                if after != before:
                    wrong.append(f"refused, yet the log moved {before} -> {after}")
                # A line repeating an earlier one is the same command, reported once.
                repeats = {n for n in must_refuse if lines[n - 1][0] in texts[: n - 1]}
                missed = [n for n in must_refuse if f"line {n}:" not in said and n not in repeats]
                if missed:
                    wrong.append(f"lines {missed} not named in: {said[-400:]}")
            else:
                outcomes["applied"] += 1
                if must_refuse:
                    wrong.append(f"applied, but lines {must_refuse} must be refused")
                found = _APPLIED.search(said)
                events = int(found.group(2)) if found else -1
                if after - before != events:
                    wrong.append(f"reported {events} events, the log moved {after - before}")
            if wrong:
                violations.append(f"{path.name}: {'; '.join(wrong)}")
                rule = re.sub(r"\[[^]]*\]|-?\d+", "#", wrong[0].split(":")[0])
                first.setdefault(rule, violations[-1])
                kept.append((path.name, path.read_bytes()))

        for lines in EXPLICIT:
            check = example(lines=lines)(check)
        check()
        ledger.close()
    return {
        "seed": seed,
        "files": sum(outcomes.values()),
        **{k: outcomes[k] for k in ("applied", "refused", "crashed")},
        "violations": len(violations),
        "examples": list(first.values()),
        "files_breaking_rules": {n: body.decode(errors="replace") for n, body in kept[:10]},
    }


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
