"""Class groups for long-tail breakdowns of per-class AP, and the mean AP of each group.

* :func:`head_medium_tail_groups`: the Distribution-Balanced loss / LTML protocol (Wu et al., ECCV 2020;
  Guo & Wang, 2021, COCO-MLT / VOC-MLT): head = at least ``head`` (100) training positives, medium =
  ``tail`` (20) to ``head - 1``, tail = fewer than ``tail``.
* :func:`frequency_quantile_groups`: the OpenImages protocol of Durand et al. (CVPR 2019), used by LL
  (Kim et al., CVPR 2022): classes sorted by annotation frequency and cut into ``n_groups`` (5) groups
  of equal size by rank, ``G1`` the rarest.
* :func:`group_mean_ap`: mean of the per-class AP over each group, classes whose AP is NaN (no
  positive) left out.

Self-contained: these take count arrays (``(C,)`` non-negative numbers, tensor or array), not datasets.
Groups are ``dict[str, numpy int64 array]`` of class indices, ascending within a group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from partialml.errors import PartialMLError

#: DB / LTML thresholds on training positives (reference-methods.md section 1.5).
HEAD_MIN = 100
TAIL_BELOW = 20


def _vector(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PartialMLError(f"{what} must be a 1-d array of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise PartialMLError(f"{what} must be 1-d (one value per class), got shape {arr.shape}")
    return arr


def _counts(counts: Any) -> np.ndarray:
    c = _vector(counts, "counts")
    if np.isnan(c).any() or (c < 0).any():
        raise PartialMLError("counts must be non-negative numbers (positives per class)")
    return c


def head_medium_tail_groups(
    train_positive_counts: Any, *, head: int = HEAD_MIN, tail: int = TAIL_BELOW
) -> dict[str, np.ndarray]:
    """Split classes by their number of training positives.

    Args:
        train_positive_counts: ``(C,)`` training positives per class.
        head: minimum count of a head class (default 100, DB / LTML).
        tail: a class with fewer than ``tail`` positives is tail (default 20); medium is
            ``tail <= count < head``. Requires ``0 <= tail <= head``.

    Returns:
        ``{"head", "medium", "tail"}`` -> ascending class indices (int64); every class in exactly one.

    Example:
        >>> {k: v.tolist() for k, v in head_medium_tail_groups([150, 20, 19, 100, 0]).items()}
        {'head': [0, 3], 'medium': [1], 'tail': [2, 4]}
    """
    if not 0 <= tail <= head:
        raise PartialMLError(f"expected 0 <= tail <= head, got tail={tail}, head={head}")
    c = _counts(train_positive_counts)
    return {
        "head": np.flatnonzero(c >= head).astype(np.int64),
        "medium": np.flatnonzero((c >= tail) & (c < head)).astype(np.int64),
        "tail": np.flatnonzero(c < tail).astype(np.int64),
    }


def frequency_quantile_groups(counts: Any, *, n_groups: int = 5) -> dict[str, np.ndarray]:
    """Cut classes, ranked by count (ascending, ties by class index), into ``n_groups`` equal groups.

    Args:
        counts: ``(C,)`` annotations (or positives) per class.
        n_groups: number of groups (default 5: G1..G5, Durand et al. 2019); sizes differ by at most one,
            the first groups taking the extra classes (``numpy.array_split``).

    Returns:
        ``{"G1", ..., "Gn"}`` -> ascending class indices (int64); ``G1`` holds the rarest classes.

    Example:
        >>> {k: v.tolist() for k, v in frequency_quantile_groups([5, 1, 9, 3], n_groups=2).items()}
        {'G1': [1, 3], 'G2': [0, 2]}
    """
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 1:
        raise PartialMLError(f"n_groups must be a positive integer, got {n_groups!r}")
    c = _counts(counts)
    if n_groups > c.size:
        raise PartialMLError(f"n_groups={n_groups} exceeds the number of classes ({c.size})")
    order = np.argsort(c, kind="stable")
    return {
        f"G{i + 1}": np.sort(part).astype(np.int64) for i, part in enumerate(np.array_split(order, n_groups))
    }


def group_mean_ap(per_class_ap: Any, groups: Mapping[str, Any]) -> dict[str, float]:
    """Mean AP of each group, NaN classes (no positive) left out; NaN for a group with nothing left.

    Args:
        per_class_ap: ``(C,)`` AP per class (e.g. :func:`~partialml.metrics.average_precision`), any
            scale (fractions or percents: the mean keeps it).
        groups: name -> class indices (integer array) or ``(C,)`` boolean mask.

    Returns:
        name -> mean AP of the group, in the order of ``groups``.

    Example:
        >>> group_mean_ap([0.5, float("nan"), 1.0], {"a": [0, 1], "b": [2], "c": []})
        {'a': 0.5, 'b': 1.0, 'c': nan}
    """
    ap = _vector(per_class_ap, "per_class_ap")
    out: dict[str, float] = {}
    for name, members in groups.items():
        idx = members.detach().cpu().numpy() if isinstance(members, torch.Tensor) else np.asarray(members)
        if idx.dtype == bool:
            if idx.shape != ap.shape:
                raise PartialMLError(f"group {name!r}: mask of shape {idx.shape}, expected {ap.shape}")
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = idx.astype(np.int64)
        elif idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise PartialMLError(f"group {name!r}: expected a 1-d array of class indices or a boolean mask")
        if idx.size and (idx.min() < 0 or idx.max() >= ap.size):
            raise PartialMLError(f"group {name!r}: class index out of range 0..{ap.size - 1}")
        values = ap[idx]
        values = values[~np.isnan(values)]
        out[name] = float(values.mean()) if values.size else math.nan
    return out


__all__ = ["HEAD_MIN", "TAIL_BELOW", "frequency_quantile_groups", "group_mean_ap", "head_medium_tail_groups"]
