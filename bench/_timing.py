"""Timing helpers shared by the benchmarks: medians of warmed-up, repeated runs.

Imported as ``_timing`` because the benchmarks run as scripts (``python bench/x.py``),
which puts this directory first on ``sys.path``.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable


def walls(commands: dict[str, list[str]], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median wall time of each command, runs interleaved round-robin.

    Each command runs once first to warm the page cache and .pyc files. Interleaving makes
    the ratios fair on a busy machine: a slow patch hits every command alike instead of
    whichever happened to run then. ``env`` None inherits this process's environment.
    """
    for command in commands.values():
        subprocess.run(command, check=True, capture_output=True, env=env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def per_call(function: Callable[[], object], runs: int) -> float:
    """Median seconds per call of ``function``, after one warm-up call (imports, caches)."""
    function()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
