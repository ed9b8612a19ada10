"""Tamper evidence on both stores: proofs verify, checkpoints verify with an independent
Ed25519 implementation, and `verify` catches edits, deletions, reorders and truncation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import nacl.exceptions
import nacl.signing
import orjson
import psycopg
import pytest

from ledger import merkle
from ledger.app import Ledger, describe, describe_stored
from ledger.clock import ManualClock
from ledger.commands import slug_id
from ledger.config import Settings
from ledger.integrity import parse_checkpoint, parse_vkey
from projections.runner import Followers
from projections.verify import verify_local
from projections.watcher import DeadlineWatcher
from tests.contract.helpers import run, seed
from tests.contract.views_support import import_founding_case


@pytest.fixture
def logged(ledger: Ledger) -> Iterator[tuple[Ledger, Followers]]:
    seed(ledger)
    for i in range(12):
        run(
            ledger,
            "claim.evidence",
            "claim/19-of-23",
            stance="context",
            sources=["source/article"],
            note=f"note {i}",
        )
    followers = Followers(ledger)
    followers.catch_up()
    yield ledger, followers
    followers.close()


def _checkpoint(followers: Followers) -> Any:
    latest = followers.integrity.latest_checkpoint()
    assert latest is not None
    name, key = parse_vkey(followers.signer.vkey)
    return parse_checkpoint(latest["note"], name, key)


def test_every_leaf_has_an_inclusion_proof_against_the_signed_root(
    logged: tuple[Ledger, Followers],
) -> None:
    ledger, followers = logged
    checkpoint = _checkpoint(followers)
    assert checkpoint.size == ledger.last_position() == 19
    for index in range(checkpoint.size):
        proof = followers.integrity.inclusion(index, checkpoint.size)
        assert proof["root_hash"] == checkpoint.root.hex()
        assert merkle.verify_inclusion(
            index,
            checkpoint.size,
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(p) for p in proof["path"]],
            checkpoint.root,
        )


def test_a_later_tree_is_consistent_with_an_earlier_checkpoint(
    logged: tuple[Ledger, Followers],
) -> None:
    ledger, followers = logged
    old = _checkpoint(followers)
    for i in range(7):
        run(
            ledger,
            "claim.evidence",
            "claim/19-of-23",
            stance="supports",
            sources=["source/article"],
            note=f"later {i}",
        )
    followers.catch_up()
    new = parse_checkpoint(followers.integrity.checkpoint_now(), *parse_vkey(followers.signer.vkey))
    assert new.size == old.size + 7
    proof = followers.integrity.consistency(old.size, new.size)
    assert proof["first_root"] == old.root.hex() and proof["second_root"] == new.root.hex()
    path = [bytes.fromhex(p) for p in proof["path"]]
    assert merkle.verify_consistency(old.size, new.size, old.root, new.root, path)
    assert not merkle.verify_consistency(old.size, new.size, b"\x00" * 32, new.root, path)


def test_a_checkpoint_verifies_with_an_independent_ed25519_implementation(
    logged: tuple[Ledger, Followers],
) -> None:
    _, followers = logged
    note = followers.integrity.latest_checkpoint()["note"]
    body, _, signature_line = note.partition("\n\n")
    name, encoded = signature_line.strip().removeprefix("\u2014 ").rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    vkey_name, _, key_b64 = followers.signer.vkey.split("+", 2)
    public = base64.b64decode(key_b64)
    assert name == vkey_name and public[0] == 1
    verifier = nacl.signing.VerifyKey(public[1:])
    verifier.verify((body + "\n").encode(), raw[4:])
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verifier.verify((body.replace("\n19\n", "\n20\n") + "\n").encode(), raw[4:])


class Tamper:
    """Direct edits of the stored events, past the application, as an attacker would."""

    def __init__(self, ledger: Ledger) -> None:
        self.store = ledger.settings.store

    def _sql(self, query: str, *params: Any) -> list[Any]:
        if self.store.is_sqlite:
            import sqlite3

            with sqlite3.connect(self.store.sqlite_path) as conn:
                rows = conn.execute(query.replace("%s", "?"), params).fetchall()
                conn.commit()
                return rows
        table = f'"{self.store.pg_schema}".ledger_events'
        query = query.replace("stored_events", table).replace("rowid", "notification_id")
        with psycopg.connect(
            f"host={self.store.pg_host} port={self.store.pg_port} "
            f"user={self.store.pg_user} dbname={self.store.pg_dbname}",
            autocommit=True,
        ) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def payload(self, position: int) -> bytes:
        return bytes(self._sql("SELECT state FROM stored_events WHERE rowid = %s", position)[0][0])

    def set_payload(self, position: int, state: bytes) -> None:
        self._sql("UPDATE stored_events SET state = %s WHERE rowid = %s", state, position)

    def delete(self, position: int) -> None:
        self._sql("DELETE FROM stored_events WHERE rowid = %s", position)

    def swap(self, a: int, b: int) -> None:
        first, second = self.payload(a), self.payload(b)
        self.set_payload(a, second)
        self.set_payload(b, first)

    def truncate(self, after: int) -> None:
        self._sql("DELETE FROM stored_events WHERE rowid > %s", after)


def test_an_untouched_log_verifies(logged: tuple[Ledger, Followers]) -> None:
    ledger, followers = logged
    verdict = verify_local(ledger, followers)
    assert verdict.ok, verdict.message


def test_an_edited_payload_byte_is_caught_at_its_position(
    logged: tuple[Ledger, Followers],
) -> None:
    ledger, followers = logged
    tamper = Tamper(ledger)
    state = tamper.payload(9)
    i = state.index(b'"note":"') + 8
    tamper.set_payload(9, state[:i] + b"N" + state[i + 1 :])
    verdict = verify_local(ledger, followers)
    assert not verdict.ok and verdict.bad_position == 9, verdict.message


def test_a_deleted_event_is_caught_at_its_position(logged: tuple[Ledger, Followers]) -> None:
    ledger, followers = logged
    Tamper(ledger).delete(12)
    verdict = verify_local(ledger, followers)
    assert not verdict.ok and verdict.bad_position == 12, verdict.message


def test_two_swapped_events_are_caught_at_the_first(logged: tuple[Ledger, Followers]) -> None:
    ledger, followers = logged
    Tamper(ledger).swap(10, 15)
    verdict = verify_local(ledger, followers)
    assert not verdict.ok and verdict.bad_position == 10, verdict.message


def test_a_truncated_log_is_caught(logged: tuple[Ledger, Followers]) -> None:
    ledger, followers = logged
    Tamper(ledger).truncate(14)
    verdict = verify_local(ledger, followers)
    assert not verdict.ok and verdict.bad_position == 15, verdict.message


def test_events_carry_their_leaf(logged: tuple[Ledger, Followers]) -> None:
    _, followers = logged
    leaves = followers.integrity.leaves([1, 2, 19])
    assert [leaves[p][0] for p in (1, 2, 19)] == [0, 1, 18]
    proof = followers.integrity.inclusion(18, 19)
    assert proof["leaf_hash"] == leaves[19][1]


def test_a_new_signing_key_keeps_old_checkpoints_verifiable(
    settings: Settings, logged: tuple[Ledger, Followers], tmp_path: Any
) -> None:
    ledger, followers = logged
    old_note = followers.integrity.latest_checkpoint()["note"]
    old_vkey = followers.signer.vkey
    rotated = Settings(
        database_url=settings.database_url, signing_key_file=str(tmp_path / "new.key")
    )
    renewed = Followers(Ledger(rotated))
    try:
        run(
            ledger, "claim.evidence", "claim/19-of-23", stance="context", sources=["source/article"]
        )
        renewed.catch_up()
        new_note = renewed.integrity.checkpoint_now()
        keys = renewed.integrity.keys()
        assert [k["valid_to"] is None for k in keys] == [False, True]
        assert {k["vkey"] for k in keys} == {old_vkey, renewed.signer.vkey}
        parse_checkpoint(old_note, *parse_vkey(old_vkey))
        parse_checkpoint(new_note, *parse_vkey(renewed.signer.vkey))
        with pytest.raises(ValueError):
            parse_checkpoint(new_note, *parse_vkey(old_vkey))
    finally:
        renewed.ledger.close()
        renewed.close()


def test_a_redaction_erases_stored_text_and_every_proof_still_verifies(
    logged: tuple[Ledger, Followers],
) -> None:
    ledger, followers = logged
    old = _checkpoint(followers)
    run(ledger, "claim.redaction", "claim/19-of-23", fields=["text"], reason="legal request")
    followers.catch_up()
    tamper = Tamper(ledger)
    created = tamper.payload(6)  # the claim's creation event
    assert b"officers acted properly" not in created
    assert b'"_redacted_"' in created
    history = ledger.masked(ledger.history("claim", slug_id("claim/19-of-23")))
    assert all("officers acted properly" not in str(e["data"]) for e in history)
    verdict = verify_local(ledger, followers)
    assert verdict.ok, verdict.message
    new = parse_checkpoint(followers.integrity.checkpoint_now(), *parse_vkey(followers.signer.vkey))
    proof = followers.integrity.consistency(old.size, new.size)
    assert merkle.verify_consistency(
        old.size, new.size, old.root, new.root, [bytes.fromhex(p) for p in proof["path"]]
    )
    leaf = followers.integrity.inclusion(5, new.size)
    assert merkle.verify_inclusion(
        5,
        new.size,
        bytes.fromhex(leaf["leaf_hash"]),
        [bytes.fromhex(p) for p in leaf["path"]],
        new.root,
    )


def test_an_unannounced_erasure_fails_verification(logged: tuple[Ledger, Followers]) -> None:
    from ledger.integrity import erase_fields

    ledger, followers = logged
    tamper = Tamper(ledger)
    erased = erase_fields(tamper.payload(6), ["text"])
    assert erased is not None
    tamper.set_payload(6, erased)
    verdict = verify_local(ledger, followers)
    assert not verdict.ok and verdict.bad_position == 6, verdict.message
    assert "without a redaction" in verdict.message


def test_a_stored_event_read_without_decoding_is_described_as_its_decoded_event(
    ledger: Ledger, clock: ManualClock
) -> None:
    """`ledger verify` reads every stored event without decoding it: each must give the
    same public form (and so the same leaf) as the decoded event, for every kind of event:
    records made and changed, corrections, redactions, retractions and the watcher's notices."""
    import_founding_case(ledger)
    claim = "claim/conrad-19-of-23"
    run(ledger, "claim.correction", claim, field="text", value="19 of 23", reason="shorter")
    run(ledger, "claim.redaction", claim, fields=["text"], reason="legal request")
    run(ledger, "claim.retraction", claim, reason="entered twice")
    followers = Followers(ledger, clock=clock)
    try:
        followers.catch_up()
        clock.set(datetime(2018, 6, 1, tzinfo=UTC))
        assert DeadlineWatcher(ledger, followers.queries, clock).run_once() > 0
        stored = ledger.store.select_notifications(start=0, limit=10_000)
        kinds = set()
        for n in stored:
            described = describe_stored(n, orjson.loads(n.state))
            assert described == describe(ledger.mapper.to_domain_event(n), n.id)
            kinds.add(described["type"])
        assert {
            "commitment.deadline_passed",
            "claim.corrected",
            "claim.redacted",
            "claim.retracted",
            "commitment.status_changed",
        } <= kinds, sorted(kinds)
    finally:
        followers.close()
