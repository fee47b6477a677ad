"""The Merkle sum tree of a proof-of-reserves snapshot: hashing, building, inclusion proofs.

Pure functions, no database: the service (:mod:`app.reserves.snapshots`) feeds it the stored
leaves.  The exact byte layout is the public contract in ``docs/proof-of-reserves.md``; the
standalone verifier (``app/static/reserves/verify_reserves_proof.py``) reimplements it without
importing this module, so a mistake here cannot hide behind a shared one.

Why a *sum* tree: every node commits to both children's hashes **and** sums, and its own sum is
theirs added up.  A platform that wanted to under-report its liabilities would have to change some
sum on the way to the root, which changes a hash that a user's proof checks, or give a subtree a
negative sum, which a verifier refuses (balances are never negative).

Layout: leaves are hashed in their stored order (``position``); a level with an odd number of
nodes (more than one) is padded on the right with the *empty* node (a fixed hash, sum 0), so at
every level the node at index ``i`` has its sibling at ``i ^ 1`` and a proof's sides are the bits
of the leaf's index.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

LEAF_TAG = b"pokerpay-por-leaf-v1\x00"
NODE_TAG = b"pokerpay-por-node-v1\x00"
EMPTY_TAG = b"pokerpay-por-empty-v1\x00"
#: sums and balances are unsigned 64-bit big-endian integers in the hashes
MAX_AMOUNT = 2**64 - 1
SALT_BYTES = 32


def _u64(value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"an amount in the tree must be an integer in 0..2**64-1, not {value!r}")
    return value.to_bytes(8, "big")


def leaf_hash(salt: bytes, user_id: int, balance: int) -> bytes:
    """SHA-256(LEAF_TAG ‖ salt (32 bytes) ‖ u64be(user_id) ‖ u64be(balance))."""
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise ValueError("a leaf's salt is 32 bytes")
    return hashlib.sha256(LEAF_TAG + salt + _u64(user_id) + _u64(balance)).digest()


EMPTY_HASH = hashlib.sha256(EMPTY_TAG).digest()


@dataclass(frozen=True)
class Node:
    hash: bytes
    sum: int


EMPTY = Node(EMPTY_HASH, 0)


def parent(left: Node, right: Node) -> Node:
    """SHA-256(NODE_TAG ‖ left hash ‖ u64be(left sum) ‖ right hash ‖ u64be(right sum)), sum = left + right."""
    total = left.sum + right.sum
    _u64(total)
    digest = hashlib.sha256(NODE_TAG + left.hash + _u64(left.sum) + right.hash + _u64(right.sum)).digest()
    return Node(digest, total)


@dataclass(frozen=True)
class Leaf:
    salt: bytes
    user_id: int
    balance: int

    def node(self) -> Node:
        if self.balance < 0:
            raise ValueError("a liability leaf is never negative")
        return Node(leaf_hash(self.salt, self.user_id, self.balance), self.balance)


def levels(leaves: list[Leaf]) -> list[list[Node]]:
    """Every level of the tree, leaves first, the root's level (one node) last; odd levels padded."""
    if not leaves:
        raise ValueError("a tree needs at least one leaf")
    level = [leaf.node() for leaf in leaves]
    built = []
    while True:
        if len(level) > 1 and len(level) % 2:
            level = [*level, EMPTY]
        built.append(level)
        if len(level) == 1:
            return built
        level = [parent(level[i], level[i + 1]) for i in range(0, len(level), 2)]


def root(leaves: list[Leaf]) -> Node:
    return levels(leaves)[-1][0]


@dataclass(frozen=True)
class Step:
    """One step up from a node: its sibling, and on which side the sibling sits."""

    side: str  # "left" | "right"
    hash: bytes
    sum: int


def path(built: list[list[Node]], index: int) -> list[Step]:
    """The siblings from leaf ``index`` up to the root of the tree ``built`` (see :func:`levels`)."""
    if not 0 <= index < len(built[0]):
        raise IndexError("no such leaf")
    steps = []
    for level in built[:-1]:
        sibling = level[index ^ 1]
        steps.append(Step("left" if index & 1 else "right", sibling.hash, sibling.sum))
        index >>= 1
    return steps


def climb(start: Node, steps: list[Step]) -> Node:
    """The root that ``steps`` lead to from ``start`` (the check a verifier makes)."""
    node = start
    for step in steps:
        sibling = Node(step.hash, step.sum)
        node = parent(sibling, node) if step.side == "left" else parent(node, sibling)
    return node
