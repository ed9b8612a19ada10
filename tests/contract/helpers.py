"""Small builders for contract tests: a few records, written through the service."""

from __future__ import annotations

from typing import Any

from ledger.app import Ledger, Written
from ledger.commands import parse_command

WHO = "cli:test"


def run(
    ledger: Ledger,
    op: str,
    record_id: str | None = None,
    principal: str = WHO,
    key: str | None = None,
    expected_version: int | None = None,
    **data: Any,
) -> Written:
    command: dict[str, Any] = {"op": op, "data": data}
    if record_id is not None:
        command["id"] = record_id
    if key is not None:
        command["key"] = key
    if expected_version is not None:
        command["expected_version"] = expected_version
    return ledger.execute(parse_command(command), principal=principal)


def seed(ledger: Ledger) -> None:
    """An article, three actors, a directive with a fuzzy deadline, a claim and a demand."""
    run(ledger, "source.create", "source/article", url="https://example.org/a", title="Article")
    run(ledger, "actor.create", "actor/mayor", name="Greg Fischer", kind="person", title="Mayor")
    run(ledger, "actor.create", "actor/chief", name="Steve Conrad", kind="person")
    run(ledger, "actor.create", "actor/residents", name="Residents", kind="organization")
    run(
        ledger,
        "commitment.create",
        "commitment/meet-ice",
        kind="directive",
        made_by="actor/mayor",
        assignee="actor/chief",
        text="meet with ICE and clarify its role",
        made_at="2017-09-08",
        precision="week",
        due={
            "on": "2017-09-22",
            "text": "by the end of next week",
            "precision": "week",
            "basis": "said Friday 2017-09-15; end of next week = Friday 2017-09-22",
        },
        topics=["lmpd-ice-cooperation"],
        sources=["source/article"],
    )
    run(
        ledger,
        "claim.create",
        "claim/19-of-23",
        made_by="actor/chief",
        text="officers acted properly in 19 of the 23 calls",
        made_at="2017-09-08",
        sources=["source/article"],
    )
    run(
        ledger,
        "demand.create",
        "demand/no-287g",
        demanded_by="actor/residents",
        addressed_to="actor/mayor",
        text="a written commitment not to sign a 287(g) agreement",
        made_at="2017-09-14",
        sources=["source/article"],
    )
