"""Small timing helpers shared by the benchmarks: warm-up, repeats, median, interleaved ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


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


def _block_seconds(fn: Callable[[], object], calls: int) -> float:
    """Mean wall time of ``fn()`` over ``calls`` back-to-back calls (one timer read per block, so the
    timer's own cost does not enter a microsecond-scale call)."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


@dataclass(frozen=True)
class RatioStats:
    """Per-round ratios ``candidate / baseline`` of :func:`interleaved_ratios`.

    ``median`` is the reported ratio; ``low`` / ``high`` the smallest and largest round (the spread);
    ``candidate_s`` / ``baseline_s`` the median per-call seconds over rounds.
    """

    median: float
    low: float
    high: float
    candidate_s: float
    baseline_s: float
    rounds: int

    def describe(self) -> str:
        return (
            f"median of {self.rounds} interleaved rounds, range {self.low:.2f}-{self.high:.2f}; "
            f"BCE {self.baseline_s * 1e6:.0f} us/call"
        )


def interleaved_ratios(
    candidate: Callable[[], object],
    baseline: Callable[[], object],
    *,
    rounds: int = 15,
    min_block_s: float = 0.02,
    warmup: int = 5,
) -> RatioStats:
    """Ratio of ``candidate`` to ``baseline`` time, from rounds that each time one block of baseline calls,
    one block of candidate calls and one more block of baseline calls (B-C-B: drift within a round
    cancels); the round's ratio is ``C / mean(B, B)``. A block repeats its function until it lasts
    ``min_block_s`` (calibrated once on the baseline after ``warmup`` calls of each). Returns the median
    and the range of the per-round ratios: the median is robust to rounds hit by another process."""
    for _ in range(warmup):
        candidate()
        baseline()
    one = max(_block_seconds(baseline, 3), 1e-7)
    calls = max(1, int(min_block_s / one))
    ratios, cand, base = [], [], []
    for _ in range(rounds):
        b1 = _block_seconds(baseline, calls)
        c = _block_seconds(candidate, calls)
        b2 = _block_seconds(baseline, calls)
        b = 0.5 * (b1 + b2)
        ratios.append(c / b)
        cand.append(c)
        base.append(b)
    return RatioStats(
        median=statistics.median(ratios),
        low=min(ratios),
        high=max(ratios),
        candidate_s=statistics.median(cand),
        baseline_s=statistics.median(base),
        rounds=rounds,
    )


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
