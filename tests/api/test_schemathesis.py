"""Property-based fuzzing of the whole OpenAPI with schemathesis: every operation, with
generated valid and invalid requests and the spec's own examples, on the founding case.
No answer may be a server error or break the schema (SQLite only: this is about the HTTP
layer, and it takes a while)."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.services import Services
from api.settings import ApiSettings
from ledger.clock import ManualClock
from ledger.config import Settings
from projections.runner import Runner
from tests.api.support import bearer, import_demo, wait_caught_up

#: Generated requests per operation and mode; with about 100 operations that is far more
#: than the 200 requests the run must make at least.
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
#: A record of the founding case of each kind, by the slug its path takes.
REAL_IDS = {
    "actors": "bryan-warren",
    "sources": "kycir-louisville-sanctuary-push-2017-09-15",
    "commitments": "warren-recommendations",
    "claims": "conrad-19-of-23",
    "demands": "no-287g-agreement",
    "incidents": "perez-perez-door-knock",
    "actions": "metro-council-meeting-2017-09-14",
    "inquiries": "kycir-lmpd-followup",
}
#: Where an editor key is not enough.
ADMIN_PATHS = ("/v1/keys", "/v1/webhooks", "/v1/deliveries")


def not_a_server_error_but_waiting(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except the documented 503 of a read whose `min_position` the views have not
    reached in time (API.md: "waits (bounded) ... else 503 with Retry-After")."""
    if (
        response.status_code == 503
        # Header names may come lower-cased.
        and "retry-after" in {name.lower() for name in response.headers}
        and response.json()["type"].endswith("/views-behind")
    ):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error_but_waiting,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    status_code_conformance,
    missing_required_header,
]


@pytest.fixture
def fuzzed(sqlite_url: str, clock: ManualClock) -> Iterator[tuple[Services, dict[str, str]]]:
    services = Services.open(
        Settings(database_url=sqlite_url),
        api=ApiSettings(write_rate=1e6, write_burst=10**6, wait_seconds=0.2),
        clock=clock,
    )
    # The views follow, but no webhook sender runs: fuzzed subscriptions must not send.
    services.runner = Runner(services.followers, poll=0.05, clock=clock).start()
    try:
        import_demo(services)
        wait_caught_up(services)
        issue = services.admin.create_key
        keys = {
            "editor": issue(name="fuzz-editor", scope="editor", recorded_by="cli:test").key,
            "admin": issue(name="fuzz-admin", scope="admin", recorded_by="cli:test").key,
        }
        yield services, keys
    finally:
        services.close()


def describe(error: BaseException) -> str:
    """An error and, for a group of distinct failures, each of its members."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, BaseExceptionGroup) and not str(error).startswith("Schemathesis"):
        text += "".join(f"\n  - {describe(member)}" for member in error.exceptions)
    return text


def fuzz(
    operation: Any, schema: Any, key: str, head: int, log: Counter[str], statuses: Counter[int]
) -> dict[str, str]:
    """Run one operation's examples and generated cases; returns its failures by phase."""
    label = f"{operation.method.upper()} {operation.path}"
    # The stream never ends by itself: schemathesis keeps what arrived before the timeout.
    timeout = 1.5 if operation.path.endswith("/stream") else 30

    def check(case: Any) -> None:
        # A position beyond the head makes every read wait and answer 503 (as it should:
        # tested apart); fuzz what lies behind the wait instead.
        wanted = (case.query or {}).get("min_position")
        if isinstance(wanted, int | float) and not isinstance(wanted, bool) and wanted > head:
            case.query["min_position"] = head
        # Half the generated ids name a record of the founding case, so that reads and
        # changes of real records get fuzzed too, not only their 404s.
        plural = operation.path.split("/")[2] if operation.path.startswith("/v1/") else ""
        given_id = (case.path_parameters or {}).get("id")
        if plural in REAL_IDS and isinstance(given_id, str) and zlib.crc32(given_id.encode()) % 2:
            case.path_parameters["id"] = REAL_IDS[plural]
        response = case.call(headers=bearer(key), timeout=timeout)
        log[label] += 1
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    phases = [
        *(("example", s, 1) for s in schema.get_strategies_from_examples(operation)),
        *(
            (mode.value, operation.as_strategy(generation_mode=mode), n)
            for mode, n in EXAMPLES.items()
        ),
    ]
    failures = {}
    for name, strategy, budget in phases:
        run = settings(
            max_examples=budget,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )(given(case=strategy)(check))
        try:
            run()
        except Unsatisfiable:
            assert name == GenerationMode.NEGATIVE.value, label  # nothing to get wrong
        except (Exception, BaseExceptionGroup) as e:  # report every failure, not the first
            failures[f"{label} ({name})"] = describe(e)[:6000]
    return failures


def test_no_operation_answers_a_server_error_or_breaks_the_schema(
    fuzzed: tuple[Services, dict[str, str]],
) -> None:
    services, keys = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services))
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        admin = operation.path.startswith(ADMIN_PATHS)
        key = keys["admin"] if admin else keys["editor"]
        head = services.ledger.last_position()
        failures.update(fuzz(operation, schema, key, head, calls, statuses))

    total = sum(calls.values())
    print(f"schemathesis: {total} requests over {len(calls)} operations; statuses {statuses}")
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert len(calls) == len(operations)
    assert total >= 200
