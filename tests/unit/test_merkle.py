"""RFC 9162 Merkle trees: published test vectors and properties over random sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc9162_probes.json").read_text())
#: The reference leaves and roots of RFC 6962/9162 test suites (transparency-dev/merkle).
LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def tree_of(n: int) -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for i in range(n):
        tree.append(merkle.leaf_hash(i.to_bytes(4, "big")))
    return tree


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 writes it, recursively."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_the_reference_roots_of_every_size_from_0_to_8() -> None:
    tree = merkle.MemoryTree()
    assert tree.root().hex() == ROOTS[0]
    for size, leaf in enumerate(LEAVES, start=1):
        tree.append(merkle.leaf_hash(bytes.fromhex(leaf)))
        assert tree.root().hex() == ROOTS[size]
    for size in range(9):
        assert tree.root(size).hex() == ROOTS[size]


@pytest.mark.parametrize("probe", VECTORS["inclusion"], ids=lambda p: p["name"])
def test_inclusion_probes(probe: dict) -> None:  # type: ignore[type-arg]
    ok = merkle.verify_inclusion(
        probe["leaf_index"],
        probe["tree_size"],
        bytes.fromhex(probe["leaf_hash"] or ""),
        [bytes.fromhex(p or "") for p in probe["path"]],
        bytes.fromhex(probe["root"] or ""),
    )
    assert ok is probe["valid"]


@pytest.mark.parametrize("probe", VECTORS["consistency"], ids=lambda p: p["name"])
def test_consistency_probes(probe: dict) -> None:  # type: ignore[type-arg]
    ok = merkle.verify_consistency(
        probe["first"],
        probe["second"],
        bytes.fromhex(probe["first_root"] or ""),
        bytes.fromhex(probe["second_root"] or ""),
        [bytes.fromhex(p or "") for p in probe["path"]],
    )
    assert ok is probe["valid"]


def test_the_happy_path_probes_are_the_proofs_this_code_builds() -> None:
    tree = merkle.MemoryTree()
    for leaf in LEAVES:
        tree.append(merkle.leaf_hash(bytes.fromhex(leaf)))
    for probe in VECTORS["inclusion"]:
        if probe["valid"] and probe["tree_size"] <= 8:
            built = merkle.inclusion_proof(probe["leaf_index"], probe["tree_size"], tree.node)
            assert [p.hex() for p in built] == probe["path"], probe["name"]
    for probe in VECTORS["consistency"]:
        if probe["valid"] and 0 < probe["first"] < probe["second"] <= 8:
            built = merkle.consistency_proof(probe["first"], probe["second"], tree.node)
            assert [p.hex() for p in built] == probe["path"], probe["name"]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_inclusion_proofs_verify_and_fail_when_altered(size: int, data: st.DataObject) -> None:
    tree = tree_of(size)
    assert tree.root() == reference_root([i.to_bytes(4, "big") for i in range(size)])
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaf = tree.node(0, index)
    path = merkle.inclusion_proof(index, size, tree.node)
    assert merkle.verify_inclusion(index, size, leaf, path, tree.root())
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"x"), path, tree.root())
    if path:
        bad = list(path)
        bad[data.draw(st.integers(0, len(bad) - 1))] = b"\x00" * 32
        assert not merkle.verify_inclusion(index, size, leaf, bad, tree.root())
    if size > 1:
        assert not merkle.verify_inclusion((index + 1) % size, size, leaf, path, tree.root())


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_consistency_proofs_verify_and_fail_when_altered(second: int, data: st.DataObject) -> None:
    tree = tree_of(second)
    first = data.draw(st.integers(min_value=1, max_value=second))
    path = merkle.consistency_proof(first, second, tree.node)
    assert merkle.verify_consistency(first, second, tree.root(first), tree.root(), path)
    other = merkle.leaf_hash(b"rewritten")
    assert not merkle.verify_consistency(first, second, other, tree.root(), path)
    if path:
        bad = list(path)
        bad[data.draw(st.integers(0, len(bad) - 1))] = b"\x00" * 32
        assert not merkle.verify_consistency(first, second, tree.root(first), tree.root(), bad)


def test_needed_nodes_are_exactly_what_a_proof_reads() -> None:
    tree = tree_of(1000)
    seen: set[tuple[int, int]] = set()

    def node(level: int, index: int) -> bytes:
        seen.add((level, index))
        return tree.node(level, index)

    merkle.inclusion_proof(517, 1000, node)
    assert seen == merkle.needed(merkle.inclusion_ranges(517, 1000))
    seen.clear()
    merkle.consistency_proof(333, 1000, node)
    assert seen == merkle.needed(merkle.consistency_ranges(333, 1000))
