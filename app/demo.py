"""Demo data beyond the three demo users; each later feature adds its part here."""
from __future__ import annotations


def seed() -> None:
    """Add demo data for `make run` (called once, on an empty database)."""
