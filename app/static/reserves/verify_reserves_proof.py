#!/usr/bin/env python3
"""Check a PokerPay proof-of-reserves inclusion proof, with nothing but the Python standard library.

Usage:
    python3 verify_reserves_proof.py my-proof.json [--public-key HEX]

It checks, and says which check failed if one does:

1. your leaf: SHA-256 of the leaf tag, your salt, your user id and your balance;
2. the path: each step's side agrees with your leaf's position, there are as many steps as the
   tree of ``leaf_count`` leaves is deep, and no sibling sum is negative or too large;
3. climbing the path gives exactly the published root hash and total liabilities;
4. the platform's Ed25519 signature over the snapshot (time, root, total, leaf count, room
   balance, publisher) verifies under the public key.  Pass ``--public-key`` with the key shown
   on the public reserves page; without it the key inside the file is used and the script says
   so, because a key that travels with the proof proves only that someone holding it signed.

The byte layout is documented in docs/proof-of-reserves.md of the PokerPay repository; this file
implements it independently of the PokerPay code so that anyone can read and rerun it.
Exit status: 0 when every check passes, 1 when one fails, 2 when the file cannot be read.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys

FORMAT = "pokerpay-proof-of-reserves-v1"
LEAF_TAG = b"pokerpay-por-leaf-v1\x00"
NODE_TAG = b"pokerpay-por-node-v1\x00"
EMPTY_TAG = b"pokerpay-por-empty-v1\x00"
SNAPSHOT_TAG = "pokerpay-proof-of-reserves-snapshot-v1"
MAX_AMOUNT = 2**64 - 1


class Invalid(Exception):
    """The proof does not verify; the message says why."""


# -- the tree ----------------------------------------------------------------------------------

def u64(value, what: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise Invalid(f"{what} must be an integer from 0 to 2**64-1, not {value!r}")
    return value.to_bytes(8, "big")


def hex_bytes(value, length: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise Invalid(f"{what} must be {length} bytes in hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Invalid(f"{what} is not hex") from None


def depth_of(leaf_count: int) -> int:
    """Levels above the leaves: each level of more than one node is padded to even and halved."""
    depth, size = 0, leaf_count
    while size > 1:
        size = (size + 1) // 2
        depth += 1
    return depth


def climb(proof: dict) -> tuple[bytes, int]:
    leaf, snapshot = proof["leaf"], proof["snapshot"]
    salt = hex_bytes(leaf.get("salt"), 32, "leaf salt")
    user_id = leaf.get("user_id")
    balance = leaf.get("balance")
    digest = hashlib.sha256(LEAF_TAG + salt + u64(user_id, "user id") + u64(balance, "balance")).digest()
    total = balance
    index, count = leaf.get("index"), snapshot.get("leaf_count")
    u64(count, "leaf count")
    u64(index, "leaf index")
    if not index < count:
        raise Invalid(f"leaf index {index} is outside a tree of {count} leaves")
    steps = proof.get("path")
    if not isinstance(steps, list) or len(steps) != depth_of(count):
        raise Invalid(f"a tree of {count} leaves needs {depth_of(count)} path steps")
    for level, step in enumerate(steps):
        if not isinstance(step, dict):
            raise Invalid(f"path step {level} is not an object")
        expected = "left" if (index >> level) & 1 else "right"
        if step.get("side") != expected:
            raise Invalid(f"path step {level}: the sibling must be on the {expected} for leaf {index}")
        sibling = hex_bytes(step.get("hash"), 32, f"path step {level} hash")
        sibling_sum = step.get("sum")
        u64(sibling_sum, f"path step {level} sum")  # refuses a negative sum that would hide a liability
        if expected == "left":
            body = sibling + u64(sibling_sum, "sum") + digest + u64(total, "sum")
        else:
            body = digest + u64(total, "sum") + sibling + u64(sibling_sum, "sum")
        total += sibling_sum
        u64(total, f"the sum at level {level + 1}")
        digest = hashlib.sha256(NODE_TAG + body).digest()
    return digest, total


# -- Ed25519 (RFC 8032, section 6: the reference verification, unchanged in substance) -----------

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    d = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(data: bytes):
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % Q
    return _equal(_mul(s, BASE), _add(r, _mul(h, a)))


def signed_message(snapshot: dict, root: dict) -> bytes:
    """The exact text the platform signs (docs/proof-of-reserves.md)."""
    lines = [
        SNAPSHOT_TAG,
        f"taken_at={snapshot['taken_at']}",
        f"root={root['hash']}",
        f"total={root['sum']}",
        f"leaf_count={snapshot['leaf_count']}",
        f"room_balance={snapshot['room_balance']}",
        f"published_by={snapshot['published_by']}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


# -- the whole check ---------------------------------------------------------------------------

def verify(proof: dict, public_key_hex: str | None = None) -> list[str]:
    """Raise :class:`Invalid` on the first failed check; return what was checked, in words."""
    if not isinstance(proof, dict) or proof.get("format") != FORMAT:
        raise Invalid(f"not a {FORMAT} file")
    for part in ("snapshot", "leaf", "root"):
        if not isinstance(proof.get(part), dict):
            raise Invalid(f"the proof has no {part!r} object")
    snapshot, root = proof["snapshot"], proof["root"]
    root_hash = hex_bytes(root.get("hash"), 32, "root hash")
    u64(root.get("sum"), "total liabilities")
    for field in ("room_balance", "published_by"):
        u64(snapshot.get(field), field)
    if not isinstance(snapshot.get("taken_at"), str):
        raise Invalid("the snapshot has no time")
    digest, total = climb(proof)
    if digest != root_hash:
        raise Invalid("the path does not lead to the published root hash")
    if total != root["sum"]:
        raise Invalid("the path's sums do not add up to the published total liabilities")
    public = hex_bytes(public_key_hex or snapshot.get("public_key"), 32, "public key")
    signature = hex_bytes(snapshot.get("signature"), 64, "signature")
    if not ed25519_verify(public, signed_message(snapshot, root), signature):
        raise Invalid("the platform's signature over the snapshot does not verify")
    leaf = proof["leaf"]
    done = [
        f"leaf: user {leaf['user_id']}, balance {leaf['balance']} cents, position {leaf['index']} "
        f"of {snapshot['leaf_count']}",
        f"root: {root['hash']}, total liabilities {root['sum']} cents",
        f"signature: Ed25519, public key {public.hex()}",
    ]
    if not public_key_hex:
        done.append("note: the key came from the file itself; compare it with the key on the public reserves page "
                    "(or pass --public-key)")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a PokerPay proof-of-reserves inclusion proof.")
    parser.add_argument("proof", help="the JSON file downloaded from your PokerPay wallet")
    parser.add_argument("--public-key", help="the platform's Ed25519 public key (hex) from the public reserves page")
    args = parser.parse_args(argv)
    try:
        with open(args.proof, encoding="utf-8") as f:
            proof = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.proof}: {exc}", file=sys.stderr)
        return 2
    try:
        checked = verify(proof, args.public_key)
    except (Invalid, KeyError, TypeError) as exc:
        print(f"FAILED: {exc}")
        return 1
    print("OK: your balance is included in the published total")
    for line in checked:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
