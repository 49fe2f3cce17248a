"""Property-based fuzzing of every parser that reads outside input.

`fuzz(n)` is the one settings profile: no deadline (the machine is shared and busy), and
derandomized under CI (`CI=true`) so a CI run is repeatable; locally every run explores anew.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def fuzz(examples: int) -> settings:
    """Hypothesis settings for one fuzz test: `examples` cases, no deadline, CI-repeatable."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=IN_CI,
        database=None if IN_CI else settings.default.database,
        # tmp_path is shared by the examples of one test: each example overwrites its files.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
