"""The long-tail cut of a multi-label training set (the Distribution-Balanced loss protocol) and the
head / medium / tail grouping.

DB (Wu et al., ECCV 2020, ``tools/create_longtail_dataset.py``; reference-methods.md section 1.5) builds
COCO-MLT / VOC-MLT by drawing per-class target counts from a Pareto distribution (shape 6, max 1,200 for
COCO, 800 for VOC, min 1) and adding / removing images class by class to approach them. The reference
describes it only in outline, so this is our exact, seeded procedure (:func:`pareto_cut`):

1. ``n_k``: positives (``1``) of class ``k`` in the full training labels ``(N, C)``.
2. Targets: ``C`` draws ``s`` from ``numpy.random.default_rng(seed).pareto(alpha) + 1`` (a Pareto with
   ``x_m = 1``), sorted descending, mapped linearly onto ``[min_count, max_count]``
   (``t = min + (s - s_min) / (s_max - s_min) * (max - min)``, rounded); ``max_count`` defaults to
   ``max_k n_k``. The largest target goes to the most frequent class, and so on down (ties by class index);
   each target is capped at the class's ``n_k``.
3. Selection: classes are visited from the smallest target to the largest. For class ``k`` with
   ``c_k`` positives among the rows kept so far and ``c_k < t_k``, ``t_k - c_k`` rows positive for ``k``
   and not yet kept are added: those with the fewest positives in the classes already visited first
   (so that head classes bring few extra tail positives), ties broken by a seeded random key. Rows
   already kept are never removed, so co-occurrence can leave a class above its target.
4. The kept rows (ascending) are the long-tailed training set; rows with no positive are never kept.

:func:`head_medium_tail` wraps :func:`partialml.metrics.head_medium_tail_groups` (head ``>= 100``,
medium 20-99, tail ``< 20`` training positives) with a ``scale`` factor for small data: thresholds
``round(100 * scale)`` and ``round(20 * scale)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from partialml.errors import PartialMLError
from partialml.labels.encoding import validate_labels

#: DB's Pareto shape (``create_longtail_dataset.py``, COCO-MLT and VOC-MLT).
PARETO_ALPHA = 6.0
#: DB's smallest target count.
PARETO_MIN = 1


@dataclass(frozen=True)
class LongTailSpec:
    """A parsed ``--long-tail`` value: ``pareto[:ALPHA][,max=N][,min=N][,seed=N]``."""

    alpha: float = PARETO_ALPHA
    max_count: int | None = None
    min_count: int = PARETO_MIN
    seed: int = 0


def parse_long_tail(text: str) -> LongTailSpec:
    """Parse ``pareto``, ``pareto:6``, ``pareto:4,max=500,min=2,seed=1`` into a :class:`LongTailSpec`.

    Example:
        >>> parse_long_tail("pareto:4,min=2")
        LongTailSpec(alpha=4.0, max_count=None, min_count=2, seed=0)
    """
    expected = "expected pareto[:ALPHA][,max=N][,min=N][,seed=N], e.g. pareto:6"
    head, *options = [part.strip() for part in str(text).split(",")]
    kind, _, alpha_text = head.partition(":")
    if kind != "pareto":
        raise PartialMLError(f"--long-tail: got {text!r}; {expected}")
    values: dict[str, Any] = {}
    try:
        if alpha_text:
            values["alpha"] = float(alpha_text)
        for option in options:
            key, sep, value = option.partition("=")
            names = {"max": "max_count", "min": "min_count", "seed": "seed"}
            if not sep or key not in names:
                raise ValueError(option)
            values[names[key]] = int(value)
    except ValueError:
        raise PartialMLError(f"--long-tail: got {text!r}; {expected}") from None
    spec = LongTailSpec(**values)
    if not (math.isfinite(spec.alpha) and spec.alpha > 0):
        raise PartialMLError(f"--long-tail: ALPHA must be > 0, got {spec.alpha}")
    if spec.min_count < 1 or (spec.max_count is not None and spec.max_count < spec.min_count):
        raise PartialMLError(
            f"--long-tail: need 1 <= min <= max, got min={spec.min_count}, max={spec.max_count}"
        )
    if spec.seed < 0:
        raise PartialMLError(f"--long-tail: seed must be >= 0, got {spec.seed}")
    return spec


def pareto_targets(
    class_counts: Any,
    *,
    alpha: float = PARETO_ALPHA,
    max_count: int | None = None,
    min_count: int = PARETO_MIN,
    seed: int = 0,
) -> np.ndarray:
    """Per-class target counts ``(C,)`` int64 of step 2 of the module docstring (capped at ``n_k``)."""
    counts = np.asarray(class_counts, dtype=np.int64)
    c = counts.size
    top = math.ceil(int(counts.max()) / 4) if max_count is None else int(max_count)
    draws = np.sort(np.random.default_rng(seed).pareto(alpha, size=c) + 1.0)[::-1]
    spread = draws[0] - draws[-1]
    unit = (draws - draws[-1]) / spread if spread > 0 else np.ones(c)
    profile = np.rint(min_count + unit * (top - min_count)).astype(np.int64)
    rank = np.lexsort((np.arange(c), -counts))  # most frequent class first, ties by index
    targets = np.empty(c, dtype=np.int64)
    targets[rank] = profile
    return np.minimum(targets, counts)


def pareto_cut(
    full_labels: Any,
    *,
    alpha: float = PARETO_ALPHA,
    max_count: int | None = None,
    min_count: int = PARETO_MIN,
    seed: int = 0,
) -> np.ndarray:
    """Rows of a long-tailed subset of ``full_labels`` (``(N, C)`` in ``{1, 0, -1}``), ascending int64.

    See the module docstring for the exact procedure; ``alpha`` (6), ``min_count`` (1) follow DB,
    ``max_count`` defaults to a quarter of the largest class count (DB: 1,200 COCO, 800 VOC). Seeded by ``seed``.

    Example:
        >>> y = np.eye(3, dtype=np.int8).repeat([50, 30, 20], axis=0)
        >>> rows = pareto_cut(y, seed=0)
        >>> (y[rows] == 1).sum(0).tolist()
        [13, 9, 1]
    """
    y = validate_labels(full_labels, what="labels to cut") == 1
    n, c = y.shape
    counts = y.sum(axis=0).astype(np.int64)
    if not counts.any():
        raise PartialMLError("--long-tail: the training labels have no positive")
    targets = pareto_targets(counts, alpha=alpha, max_count=max_count, min_count=min_count, seed=seed)
    rng = np.random.default_rng(seed + 1)
    tie = rng.random(n)
    kept = np.zeros(n, dtype=bool)
    current = np.zeros(c, dtype=np.int64)
    visited = np.zeros(c, dtype=bool)
    for k in np.lexsort((np.arange(c), targets)):
        need = int(targets[k] - current[k])
        if need > 0:
            cand = np.flatnonzero(y[:, k] & ~kept)
            extra = y[cand][:, visited].sum(axis=1)
            chosen = cand[np.lexsort((tie[cand], extra))[:need]]
            kept[chosen] = True
            current += y[chosen].sum(axis=0)
        visited[k] = True
    return np.flatnonzero(kept).astype(np.int64)


def long_tail_rows(spec: str, full_labels: Any) -> np.ndarray:
    """Rows kept by the ``--long-tail`` value ``spec`` (:func:`parse_long_tail`, :func:`pareto_cut`)."""
    p = parse_long_tail(spec)
    return pareto_cut(full_labels, alpha=p.alpha, max_count=p.max_count, min_count=p.min_count, seed=p.seed)


def head_medium_tail(train_positive_counts: Any, *, scale: float = 1.0) -> dict[str, np.ndarray]:
    """DB / LTML groups (head ``>= round(100 scale)``, tail ``< round(20 scale)`` training positives).

    ``scale`` (default 1, the papers' thresholds) shrinks both for small data sets.
    """
    from partialml.metrics.groups import HEAD_MIN, TAIL_BELOW, head_medium_tail_groups

    if not (math.isfinite(scale) and scale > 0):
        raise PartialMLError(f"group scale must be > 0, got {scale}")
    return head_medium_tail_groups(
        train_positive_counts, head=round(HEAD_MIN * scale), tail=round(TAIL_BELOW * scale)
    )


def loss_class_counts(observed: Any) -> tuple[np.ndarray, int, int]:
    """Class counts for the long-tail losses (DB, LTML) that need ``0 < n_k < N``.

    Returns ``(counts, N, n_clamped)``: observed positives per class clipped to ``[1, N - 1]`` (a class
    with no observed positive, frequent under single-positive labels and in corel5k, gets one
    pseudo-count, so its prior log-odds is finite), and how many classes were clipped.
    """
    obs = validate_labels(observed, what="observed training labels")
    n = int(obs.shape[0])
    raw = (obs == 1).sum(axis=0).astype(np.int64)
    counts = np.clip(raw, 1, max(n - 1, 1))
    return counts, n, int((counts != raw).sum())


__all__ = [
    "PARETO_ALPHA",
    "PARETO_MIN",
    "LongTailSpec",
    "head_medium_tail",
    "long_tail_rows",
    "loss_class_counts",
    "pareto_cut",
    "pareto_targets",
    "parse_long_tail",
]
