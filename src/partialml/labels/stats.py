"""Label statistics and class groups, from a label matrix or a :class:`~partialml.labels.store.LabelStore`.

Counts are over observed labels (with the store's corrections); pass full labels to get true counts.
Class groups for long-tailed reports:

* :func:`head_medium_tail`: the DistributionBalancedLoss split (Wu et al., ECCV 2020; also LTML, Guo &
  Wang 2021): head ``>= 100`` training positives, medium ``20 .. 99``, tail ``< 20``.
* :func:`frequency_groups`: equal-size groups by frequency, ``G1`` the rarest, as the five OpenImages
  groups of Durand et al. (CVPR 2019) used by LL (Kim et al., CVPR 2022).

Both return plain dicts of sorted int64 index arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from partialml.errors import PartialMLError
from partialml.labels.encoding import NEGATIVE, POSITIVE, UNKNOWN, LabelsLike, validate_labels
from partialml.labels.store import LabelStore

MatrixOrStore = LabelStore | LabelsLike


def _counts_vector(counts: Any) -> np.ndarray:
    arr = counts.detach().cpu().numpy() if isinstance(counts, torch.Tensor) else np.asarray(counts)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iuf"):
        raise PartialMLError(f"class counts must be a 1-d numeric array, got shape {arr.shape}")
    if arr.size and (not np.isfinite(arr).all() or (arr < 0).any()):
        raise PartialMLError("class counts must be finite and non-negative")
    return arr


def label_counts(labels: MatrixOrStore) -> dict[str, np.ndarray]:
    """Per-class counts ``{"positives", "negatives", "unknown"}``, each ``(C,)`` int64."""
    if isinstance(labels, LabelStore):
        return {
            "positives": labels.positives_per_class().numpy(),
            "negatives": labels.negatives_per_class().numpy(),
            "unknown": labels.unknown_per_class().numpy(),
        }
    arr = validate_labels(labels)
    return {
        "positives": np.count_nonzero(arr == POSITIVE, axis=0).astype(np.int64),
        "negatives": np.count_nonzero(arr == NEGATIVE, axis=0).astype(np.int64),
        "unknown": np.count_nonzero(arr == UNKNOWN, axis=0).astype(np.int64),
    }


def positives_per_class(labels: MatrixOrStore) -> np.ndarray:
    """``(C,)`` int64: positives per class."""
    return label_counts(labels)["positives"]


def positives_per_sample(labels: MatrixOrStore) -> np.ndarray:
    """``(N,)`` int64: positives per sample."""
    if isinstance(labels, LabelStore):
        return labels.positives_per_sample().numpy()
    return np.count_nonzero(validate_labels(labels) == POSITIVE, axis=1).astype(np.int64)


def cardinality(labels: MatrixOrStore) -> float:
    """Label cardinality: mean positives per sample, ``sum(y == 1) / N`` (0 for no sample)."""
    per_sample = positives_per_sample(labels)
    return float(per_sample.sum()) / max(per_sample.size, 1)


def density(labels: MatrixOrStore) -> float:
    """Label density: cardinality divided by ``C`` (the share of entries that are positive)."""
    num_classes = labels.num_classes if isinstance(labels, LabelStore) else validate_labels(labels).shape[1]
    return cardinality(labels) / max(num_classes, 1)


def label_statistics(labels: MatrixOrStore) -> dict[str, float | int]:
    """Plain numbers: samples, classes, positives, negatives, unknown, cardinality, density, annotated
    fraction (share of entries that are not ``-1``), classes and samples without a positive."""
    counts = label_counts(labels)
    per_sample = positives_per_sample(labels)
    n, c = per_sample.size, counts["positives"].size
    pos, neg, unk = (int(counts[k].sum()) for k in ("positives", "negatives", "unknown"))
    return {
        "num_samples": n,
        "num_classes": c,
        "positives": pos,
        "negatives": neg,
        "unknown": unk,
        "cardinality": pos / max(n, 1),
        "density": pos / max(n * c, 1),
        "annotated_fraction": (pos + neg) / max(n * c, 1),
        "classes_without_positive": int((counts["positives"] == 0).sum()),
        "samples_without_positive": int((per_sample == 0).sum()),
    }


def head_medium_tail(counts: Any, *, head: int = 100, tail: int = 20) -> dict[str, np.ndarray]:
    """Split classes by training positives: ``head`` (``>= head``), ``medium`` (``tail .. head-1``),
    ``tail`` (``< tail``). Defaults 100 and 20: DistributionBalancedLoss (Wu et al., ECCV 2020).

    Args:
        counts: ``(C,)`` training positives per class (e.g. ``store.positives_per_class(full=True)``).

    Returns:
        ``{"head", "medium", "tail"}`` -> sorted int64 class indices.

    Example:
        >>> {k: v.tolist() for k, v in head_medium_tail([100, 99, 20, 19]).items()}
        {'head': [0], 'medium': [1, 2], 'tail': [3]}
    """
    arr = _counts_vector(counts)
    if not 0 <= tail <= head:
        raise PartialMLError(
            f"head/medium/tail thresholds need 0 <= tail <= head, got head={head}, tail={tail}"
        )
    return {
        "head": np.flatnonzero(arr >= head).astype(np.int64),
        "medium": np.flatnonzero((arr >= tail) & (arr < head)).astype(np.int64),
        "tail": np.flatnonzero(arr < tail).astype(np.int64),
    }


def frequency_groups(counts: Any, *, n_groups: int = 5) -> dict[str, np.ndarray]:
    """Split classes into ``n_groups`` groups of (nearly) equal size by frequency, ``G1`` the rarest.

    Classes are sorted by ``counts`` ascending (ties by class index) and cut into consecutive groups
    with ``np.array_split`` (the first groups get the extra class when ``C`` is not a multiple). Five
    groups as in the OpenImages analysis of Durand et al. (CVPR 2019) and LL (Kim et al., CVPR 2022).

    Returns:
        ``{"G1", ..., "G{n_groups}"}`` -> sorted int64 class indices.
    """
    arr = _counts_vector(counts)
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 1:
        raise PartialMLError(f"n_groups must be a positive integer, got {n_groups!r}")
    order = np.argsort(arr, kind="stable")
    return {
        f"G{g + 1}": np.sort(part).astype(np.int64) for g, part in enumerate(np.array_split(order, n_groups))
    }
