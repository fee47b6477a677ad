"""Hypothesis profiles for the property, fuzz and state-machine suites.

- ``default`` (``make test``): few examples, derandomized — the same examples on every run, so
  a failure in CI is a failure on a laptop; failures print a ``@reproduce_failure`` blob.
- ``long``: ``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/stateful tests/fuzz``:
  at least 1,000 examples per state-machine test, random seeds.  A failure prints the
  blob and the seed; rerun it with ``--hypothesis-seed=<seed>`` (or paste the blob as a
  decorator) to get the same example again.

Tests scale their own example counts with :func:`examples`: a test that sends one request
per example asks for more than one that builds a whole world per example.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                              HealthCheck.data_too_large],
}
settings.register_profile("default", derandomize=True, database=None, **_COMMON)
settings.register_profile("long", derandomize=False, **_COMMON)
settings.load_profile(PROFILE if PROFILE in ("default", "long") else "default")


def examples(default: int, long: int) -> int:
    """How many examples a test runs in the active profile."""
    return long if PROFILE == "long" else default
