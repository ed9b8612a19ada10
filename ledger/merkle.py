"""Merkle tree hashing, proofs and their verification, as RFC 9162 section 2.1 defines them.

Small pure functions. Proof construction takes a `node(level, index)` lookup of the hashes of
complete, aligned subtrees (the tree a follower stores), and `needed_*` say which nodes a proof
will ask for, so a caller can fetch them in one query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Hash = bytes
NodeLookup = Callable[[int, int], Hash]


def leaf_hash(data: bytes) -> Hash:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: Hash, right: Hash) -> Hash:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as complete aligned subtrees, left to right, as (level, index).

    Ranges met in RFC 9162's recursions start at a multiple of their left part's size, so
    their left parts are always complete subtrees."""
    out = []
    while start < end:
        n = end - start
        size = 1 << (n.bit_length() - 1) if n & (n - 1) else n
        # The largest aligned power-of-two block at `start` that fits.
        while start % size:
            size >>= 1
        level = size.bit_length() - 1
        out.append((level, start >> level))
        start += size
    return out


def range_hash(start: int, end: int, node: NodeLookup) -> Hash:
    """MTH(D[start:end]) from stored complete subtrees."""
    if start >= end:
        return EMPTY_ROOT
    parts = [node(level, index) for level, index in subtrees(start, end)]
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def root_hash(size: int, node: NodeLookup) -> Hash:
    return range_hash(0, size, node)


def _path_ranges(m: int, start: int, end: int) -> list[tuple[int, int]]:
    """The ranges whose hashes make PATH(m, D[start:end]), bottom up."""
    out: list[tuple[int, int]] = []
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m = start + k, m - k
    return list(reversed(out))


def _proof_ranges(m: int, start: int, end: int) -> list[tuple[int, int]]:
    """The ranges whose hashes make PROOF(m, D[start:end]) (RFC 9162 2.1.4.1), bottom up."""
    out: list[tuple[int, int]] = []
    complete = True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append((start, end))
            break
        k = _split(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m = start + k, m - k
            complete = False
    return list(reversed(out))


def needed(ranges: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    return {node for a, b in ranges for node in subtrees(a, b)}


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    return _path_ranges(index, 0, size)


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to {second}")
    if first == second:
        return []
    return _proof_ranges(first, 0, second)


def inclusion_proof(index: int, size: int, node: NodeLookup) -> list[Hash]:
    return [range_hash(a, b, node) for a, b in inclusion_ranges(index, size)]


def consistency_proof(first: int, second: int, node: NodeLookup) -> list[Hash]:
    return [range_hash(a, b, node) for a, b in consistency_ranges(first, second)]


def _hashes(*values: bytes) -> bool:
    return all(len(v) == 32 for v in values)


def verify_inclusion(index: int, size: int, leaf: Hash, path: Sequence[Hash], root: Hash) -> bool:
    """RFC 9162 2.1.3.2."""
    if index < 0 or index >= size or not _hashes(leaf, *path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: Hash, second_root: Hash, path: Sequence[Hash]
) -> bool:
    """RFC 9162 2.1.4.2. A tree of size 0 is consistent with nothing (it has no root to
    compare)."""
    if first <= 0 or first > second:
        return False
    if first == second:
        return len(path) == 0 and first_root == second_root
    proof = list(path)
    if first & (first - 1) == 0:
        proof = [first_root, *proof]
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class MemoryTree:
    """A tree kept in memory: appends leaves and stores every complete subtree's hash."""

    def __init__(self) -> None:
        self.levels: list[list[Hash]] = [[]]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: Hash) -> list[tuple[int, int, Hash]]:
        """Add a leaf hash; returns the (level, index, hash) nodes it completes."""
        made = [(0, self.size, leaf)]
        self.levels[0].append(leaf)
        level, index = 0, self.size - 1
        while index & 1:
            left = self.levels[level][index - 1]
            right = self.levels[level][index]
            level, index = level + 1, index >> 1
            if len(self.levels) == level:
                self.levels.append([])
            parent = node_hash(left, right)
            self.levels[level].append(parent)
            made.append((level, index, parent))
        return made

    def node(self, level: int, index: int) -> Hash:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> Hash:
        return root_hash(self.size if size is None else size, self.node)
