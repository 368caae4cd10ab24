"""Small timing helpers shared by the benchmarks: warm-up, repeats, median."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], *, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls (CPU: no sync needed)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def interleaved_ratio(
    candidate: Callable[[], object], baseline: Callable[[], object], *, rounds: int = 5, repeats: int = 10
) -> tuple[float, float, float]:
    """Median time of ``candidate`` and ``baseline``, measured in alternating rounds so that drift in the
    machine's speed hits both alike; returns ``(candidate_s, baseline_s, ratio)``."""
    cand, base = [], []
    for _ in range(rounds):
        cand.append(median_seconds(candidate, repeats=repeats, warmup=1))
        base.append(median_seconds(baseline, repeats=repeats, warmup=1))
    c, b = statistics.median(cand), statistics.median(base)
    return c, b, c / b
