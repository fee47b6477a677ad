"""The platform's Ed25519 signature over a proof-of-reserves snapshot.

What it proves: whoever holds ``RESERVES_SIGNING_KEY`` (the platform) stated this root, total,
leaf count and room balance at this time, so the platform cannot later disown a snapshot or show
someone a different one under the same key without the two signed statements contradicting each
other.  What it does not prove: that the room balance is real (the room does not sign it), that
every user is in the tree, or that the tree is the only one shown (docs/proof-of-reserves.md).

The signed message is plain text, one ``name=value`` a line, so that the standalone verifier
(and anyone else) can rebuild it byte for byte.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.errors import ValidationFailed

TAG = "pokerpay-proof-of-reserves-snapshot-v1"


def message(*, taken_at: str, root_hash: str, total: int, leaf_count: int, room_balance: int,
            published_by: int) -> bytes:
    """The exact bytes that are signed (docs/proof-of-reserves.md, "The signature")."""
    lines = [TAG, f"taken_at={taken_at}", f"root={root_hash}", f"total={int(total)}",
             f"leaf_count={int(leaf_count)}", f"room_balance={int(room_balance)}",
             f"published_by={int(published_by)}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _private_key(config: Mapping) -> Ed25519PrivateKey:
    configured = (config.get("RESERVES_SIGNING_KEY") or "").strip()
    if configured:
        try:
            seed = bytes.fromhex(configured)
        except ValueError:
            seed = b""
        if len(seed) != 32:
            raise ValidationFailed("RESERVES_SIGNING_KEY must be 64 hex digits (an Ed25519 seed of 32 bytes)")
        return Ed25519PrivateKey.from_private_bytes(seed)
    if config.get("RESERVES_SIGNING_KEY_REQUIRED"):
        raise ValidationFailed("RESERVES_SIGNING_KEY is not set: production does not sign with a derived key")
    # Development and tests: a stable key derived from SECRET_KEY, so `make run` needs no setup.
    seed = hashlib.sha256(("pokerpay-reserves-signing:" + (config.get("SECRET_KEY") or "")).encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_hex(config: Mapping) -> str:
    """The key a verifier checks snapshots with (shown on the public reserves page)."""
    return _private_key(config).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign(config: Mapping, data: bytes) -> str:
    return _private_key(config).sign(data).hex()


def verifies(public_hex: str, data: bytes, signature_hex: str) -> bool:
    """Whether ``signature_hex`` is the signature of ``data`` under ``public_hex`` (used by the page's badge)."""
    from cryptography.exceptions import InvalidSignature

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(signature_hex), data)
    except (InvalidSignature, ValueError):
        return False
    return True
