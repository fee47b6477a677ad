"""Proof of reserves: every user's liabilities as the leaves of a Merkle sum tree (:mod:`~app.reserves.merkle`),
signed snapshots of it next to the platform's room balance (:mod:`~app.reserves.snapshots`,
:mod:`~app.reserves.signing`) and `flask reserves publish` (:mod:`~app.reserves.cli`).  The hashing is in
docs/proof-of-reserves.md; the standalone verifier is app/static/reserves/verify_reserves_proof.py.
"""
