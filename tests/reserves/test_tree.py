"""The Merkle sum tree and its proofs, checked by the standalone verifier script (no database).

Proofs are built by PokerPay's own code (app.reserves.merkle, reserves_signing) and checked
by the independent script the public page serves: once as a separate process, as a user runs it,
and, for the many-proof sweeps, loaded from its file (still not importing PokerPay).
"""
from __future__ import annotations

import copy
import hashlib
import secrets
import subprocess
import sys

import pytest

from app.reserves import merkle, signing
from tests.reserves.verifier import SCRIPT, load, run

CONFIG = {"SECRET_KEY": "tree-tests", "RESERVES_SIGNING_KEY": secrets.token_hex(32)}
verifier = load()


def tree_of(balances: list[int]) -> tuple[list[merkle.Leaf], list[list[merkle.Node]]]:
    leaves = [merkle.Leaf(secrets.token_bytes(32), 1000 + i, cents) for i, cents in enumerate(balances)]
    return leaves, merkle.levels(leaves)


def proof_of(leaves, built, index: int, *, room_balance: int = 10**9) -> dict:
    """The proof JSON exactly as app.reserves.snapshots.proof shapes it, signed with the test key."""
    top = built[-1][0]
    snapshot = {"id": 1, "taken_at": "2026-12-07T14:00:00.000000Z", "leaf_count": len(leaves),
                "room_balance": room_balance, "published_by": 7, "public_key": signing.public_key_hex(CONFIG)}
    message = signing.message(taken_at=snapshot["taken_at"], root_hash=top.hash.hex(), total=top.sum,
                                       leaf_count=len(leaves), room_balance=room_balance, published_by=7)
    snapshot["signature"] = signing.sign(CONFIG, message)
    leaf = leaves[index]
    return {
        "format": "pokerpay-proof-of-reserves-v1",
        "snapshot": snapshot,
        "leaf": {"index": index, "salt": leaf.salt.hex(), "user_id": leaf.user_id, "balance": leaf.balance},
        "path": [{"side": s.side, "hash": s.hash.hex(), "sum": s.sum} for s in merkle.path(built, index)],
        "root": {"hash": top.hash.hex(), "sum": top.sum},
    }


def verifies(proof: dict) -> bool:
    try:
        verifier.verify(proof, signing.public_key_hex(CONFIG))
    except (verifier.Invalid, KeyError, TypeError):
        return False
    return True


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13, 100])
def test_every_leaf_of_trees_of_many_sizes_verifies(count):
    """With 1, 2, 3, odd and many leaves: does every leaf's proof climb to the root and the total?"""
    leaves, built = tree_of([secrets.randbelow(10**8) for _ in range(count)])
    assert built[-1][0].sum == sum(leaf.balance for leaf in leaves)
    assert all(len(level) in (1,) or len(level) % 2 == 0 for level in built)
    for index in range(count):
        assert verifies(proof_of(leaves, built, index)), index
        assert len(proof_of(leaves, built, index)["path"]) == verifier.depth_of(count)


def test_a_one_leaf_tree_is_its_leaf():
    """One user: the root is the leaf itself and the path is empty."""
    leaves, built = tree_of([4_200])
    proof = proof_of(leaves, built, 0)
    assert proof["path"] == [] and proof["root"]["sum"] == 4_200
    assert proof["root"]["hash"] == merkle.leaf_hash(leaves[0].salt, leaves[0].user_id, 4_200).hex()
    assert verifies(proof)


def test_a_proof_verifies_in_a_process_of_its_own_and_a_tampered_one_does_not(tmp_path):
    """The script as a user runs it (python -I, no PokerPay): exit 0 and OK; a changed balance exits 1."""
    leaves, built = tree_of([10_00, 25_50, 0, 7_77, 1])
    proof = proof_of(leaves, built, 3)
    status, output = run(proof, tmp_path, public_key=signing.public_key_hex(CONFIG))
    assert status == 0, output
    assert output.startswith("OK") and "balance 777 cents" in output
    status, output = run(proof, tmp_path)  # the key inside the file: still checked, but the script says so
    assert status == 0 and "compare it with the key on the public reserves page" in output
    proof["leaf"]["balance"] += 1
    status, output = run(proof, tmp_path, public_key=signing.public_key_hex(CONFIG))
    assert status == 1 and output.startswith("FAILED"), output
    assert run({"format": "something else"}, tmp_path)[0] == 1
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    broken = subprocess.run([sys.executable, "-I", str(SCRIPT), str(tmp_path / "broken.json")],
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2


def _tampered(proof: dict) -> list[tuple[str, dict]]:
    """Every single change a dishonest platform (or a typo) could make, each on a fresh copy."""
    changes = []

    def change(name, edit):
        copied = copy.deepcopy(proof)
        edit(copied)
        changes.append((name, copied))

    change("balance up", lambda p: p["leaf"].update(balance=p["leaf"]["balance"] + 1))
    change("balance down", lambda p: p["leaf"].update(balance=max(p["leaf"]["balance"] - 1, 0) if p["leaf"]["balance"]
                                                     else 1))
    change("user id", lambda p: p["leaf"].update(user_id=p["leaf"]["user_id"] + 1))
    change("salt", lambda p: p["leaf"].update(salt=("0" if p["leaf"]["salt"][0] != "0" else "1") + p["leaf"]["salt"][1:]))
    change("index", lambda p: p["leaf"].update(index=p["leaf"]["index"] + 1))
    change("leaf count", lambda p: p["snapshot"].update(leaf_count=p["snapshot"]["leaf_count"] * 2 + 1))
    change("root hash", lambda p: p["root"].update(hash="ff" * 32))
    change("root sum", lambda p: p["root"].update(sum=p["root"]["sum"] - 1 if p["root"]["sum"] else 1))
    change("room balance", lambda p: p["snapshot"].update(room_balance=p["snapshot"]["room_balance"] + 1))
    change("publisher", lambda p: p["snapshot"].update(published_by=8))
    change("time", lambda p: p["snapshot"].update(taken_at="2026-12-07T15:00:00.000000Z"))
    change("signature", lambda p: p["snapshot"].update(signature="00" * 64))
    for level in range(len(proof["path"])):
        def bump_sum(p, level=level):
            p["path"][level]["sum"] += 1

        def bump_hash(p, level=level):
            h = p["path"][level]["hash"]
            p["path"][level]["hash"] = ("0" if h[0] != "0" else "1") + h[1:]

        def flip(p, level=level):
            p["path"][level]["side"] = "left" if p["path"][level]["side"] == "right" else "right"

        def drop(p, level=level):
            del p["path"][level]

        change(f"sibling sum {level}", bump_sum)
        change(f"sibling hash {level}", bump_hash)
        change(f"path side {level}", flip)
        change(f"path step {level} removed", drop)
    return changes


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64])
def test_changing_any_balance_sum_sibling_hash_or_the_path_breaks_the_proof(count):
    """Each single change to a proof (its leaf, a sibling's hash or sum, a side, a step, the root) fails."""
    leaves, built = tree_of([secrets.randbelow(10**6) for _ in range(count)])
    for index in {0, count // 2, count - 1}:
        proof = proof_of(leaves, built, index)
        assert verifies(proof)
        for name, changed in _tampered(proof):
            assert not verifies(changed), f"{count} leaves, leaf {index}: '{name}' still verifies"


def test_a_negative_sibling_sum_is_refused_even_when_the_hashes_are_made_to_match():
    """A platform that hides a liability with a negative subtree: the hashes agree, the verifier still refuses.

    The forged tree is built by hand from the documented hashing (u64 cannot hold -1, so the forger
    wraps it around 2**64); the script refuses any sum outside 0..2**64-1 and any overflow.
    """
    salt = secrets.token_bytes(32)
    mine = merkle.leaf_hash(salt, 1, 500)
    hidden = secrets.token_bytes(32)
    body = merkle.NODE_TAG + mine + (500).to_bytes(8, "big") + hidden + (2**64 - 400).to_bytes(8, "big")
    forged_root = hashlib.sha256(body).digest()
    proof = {
        "format": "pokerpay-proof-of-reserves-v1",
        "snapshot": {"id": 1, "taken_at": "t", "leaf_count": 2, "room_balance": 100, "published_by": 7,
                     "public_key": signing.public_key_hex(CONFIG), "signature": "00" * 64},
        "leaf": {"index": 0, "salt": salt.hex(), "user_id": 1, "balance": 500},
        "path": [{"side": "right", "hash": hidden.hex(), "sum": -400}],
        "root": {"hash": forged_root.hex(), "sum": 100},
    }
    with pytest.raises(verifier.Invalid, match="sum"):
        verifier.verify(proof, signing.public_key_hex(CONFIG))
    proof["path"][0]["sum"] = 2**64 - 400  # the wrapped spelling: the running total overflows
    with pytest.raises(verifier.Invalid, match="sum"):
        verifier.verify(proof, signing.public_key_hex(CONFIG))


def test_no_negative_or_fractional_leaf_enters_a_tree():
    """The tree refuses a negative balance (it could cancel another user's) and anything but an integer."""
    with pytest.raises(ValueError):
        merkle.levels([merkle.Leaf(secrets.token_bytes(32), 1, -1)])
    with pytest.raises(ValueError):
        merkle.levels([merkle.Leaf(secrets.token_bytes(32), 1, 1.5)])
    with pytest.raises(ValueError):
        merkle.levels([])


def test_the_scripts_ed25519_agrees_with_the_cryptography_package():
    """The script's pure-Python Ed25519 accepts what `cryptography` signs and refuses a changed message or key."""
    for _ in range(5):
        config = {"RESERVES_SIGNING_KEY": secrets.token_hex(32)}
        message = secrets.token_bytes(secrets.randbelow(200))
        public = bytes.fromhex(signing.public_key_hex(config))
        signature = bytes.fromhex(signing.sign(config, message))
        assert verifier.ed25519_verify(public, message, signature)
        assert not verifier.ed25519_verify(public, message + b"x", signature)
        other = bytes.fromhex(signing.public_key_hex({"RESERVES_SIGNING_KEY": secrets.token_hex(32)}))
        assert not verifier.ed25519_verify(other, message, signature)


def test_the_documented_hashing_is_the_code_s():
    """The byte layout docs/proof-of-reserves.md gives (tags, u64be) is what the code hashes, leaf and empty node."""
    salt = bytes(range(32))
    leaf = merkle.leaf_hash(salt, 42, 12_345)
    assert leaf.hex() == verifier_leaf(salt, 42, 12_345)
    assert merkle.EMPTY_HASH.hex() == hashlib.sha256(b"pokerpay-por-empty-v1\x00").hexdigest()


def verifier_leaf(salt: bytes, user_id: int, balance: int) -> str:
    return hashlib.sha256(verifier.LEAF_TAG + salt + user_id.to_bytes(8, "big") + balance.to_bytes(8, "big")).hexdigest()
