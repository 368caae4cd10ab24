"""Thresholded multi-label metrics: the F1 family (CP, CR, CF1, OP, OR, OF1) and precision / recall at k.

F1 family (ML-GCN, Chen et al., CVPR 2019; ASL, Ben-Baruch et al., 2020; the ``AveragePrecisionMeter``
of the ML-GCN code). With ``TP_c`` the predicted positives of class ``c`` that are positive, ``NP_c`` the
predicted positives and ``NG_c`` the positives, all counted over the rows *kept* for class ``c`` (label
``!= ignore_index``):

    CP = mean_c TP_c / NP_c,   CR = mean_c TP_c / NG_c,   CF1 = 2 CP CR / (CP + CR)       (per class)
    OP = sum TP / sum NP,      OR = sum TP / sum NG,      OF1 = 2 OP OR / (OP + OR)       (overall)

CF1 is the harmonic mean of the *averaged* precision and recall, as in that literature; it is not
scikit-learn's ``f1_score(average="macro")`` (mean of the per-class F1). CP and CR are scikit-learn's
``precision_score`` / ``recall_score`` with ``average="macro"``, OP / OR / OF1 those with
``average="micro"`` on the kept entries (tested).

Predictions. ``threshold``: predicted positive iff ``score >= threshold`` (ML-GCN tests ``logit >= 0``,
i.e. probability ``>= 0.5``). ``top_k``: the ``k`` highest scores of each row are predicted positive
(ties broken toward the lower class index); with both, a class must be among the top ``k`` *and* reach
the threshold, which is ML-GCN's "top-3" protocol (``overall_topk``: top 3 with ``logit >= 0``). The
ranking sees every class of a row (a prediction does not know which labels are unknown); ignored
entries are only left out of the counts.

Zero-division policy (``zero_division``, as scikit-learn's option of that name; default ``0.0``): a ratio
``0 / 0`` (a class never predicted, a class without positive) takes the value ``zero_division``;
an F1 whose precision and recall are both ``0`` is ``0``. ``0.0`` matches ML-GCN for precision (it sets ``NP_c = 1`` when ``NP_c = 0``) and
scikit-learn's ``zero_division=0``; ML-GCN itself divides by zero in CR. ``float("nan")`` leaves the
undefined classes out of the class averages (scikit-learn's ``zero_division=np.nan``).

Precision / recall at k (logged by Cole et al., CVPR 2021, at k = 1, 3, 5; their
``compute_precision_at_k`` / ``compute_recall_at_k``): per row, the ``k`` highest-scoring classes among
the row's kept classes; ``P@k = hits / k``, ``R@k = hits / positives of the row``, averaged over rows.
Cole's code counts a row without positive as 0; here such rows are left out by default
(``empty_row="skip"``, the same choice as mAP's ``empty_class``), ``empty_row="zero"`` reproduces Cole.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from partialml.errors import PartialMLError
from partialml.metrics.average_precision import check_scores_labels

EmptyRowPolicy = Literal["skip", "zero"]
F1_KEYS: tuple[str, ...] = ("CP", "CR", "CF1", "OP", "OR", "OF1")

#: Threshold used when neither ``threshold`` nor ``top_k`` is given: probabilities (ML-GCN: logit >= 0).
DEFAULT_THRESHOLD = 0.5


def _check_k(k: Any, num_classes: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise PartialMLError(f"{what} must be a positive integer, got {k!r}")
    return min(int(k), num_classes)


def _top_k_mask(s: np.ndarray, k: int) -> np.ndarray:
    """``(N, C)`` bool: the ``k`` highest entries of each row, ties toward the lower class index."""
    mask = np.zeros(s.shape, dtype=bool)
    if s.size == 0 or k == 0:
        return mask
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, zero_division, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _mean(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


def _harmonic(p: float, r: float) -> float:
    """``2 p r / (p + r)``; ``0`` when ``p = r = 0`` (both defined: F1 = 0, as scikit-learn's)."""
    if math.isnan(p) or math.isnan(r):
        return math.nan
    return 2.0 * p * r / (p + r) if p + r > 0 else 0.0


def _check_zero_division(zero_division: float) -> float:
    z = float(zero_division)
    if not (math.isnan(z) or 0.0 <= z <= 1.0):
        raise PartialMLError(f"zero_division must be in [0, 1] or nan, got {zero_division!r}")
    return z


def f1_scores(
    scores: Any,
    labels: Any,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    ignore_index: int | None = -1,
    zero_division: float = 0.0,
) -> dict[str, float]:
    """CP, CR, CF1, OP, OR, OF1 of thresholded or top-k predictions (fractions in ``[0, 1]``).

    Args:
        scores: ``(N, C)`` probabilities or logits, any device; not modified.
        labels: ``(N, C)`` integers: ``1`` positive, ``0`` negative, ``ignore_index`` left out.
        threshold: predicted positive iff ``score >= threshold``. Default: ``0.5`` (probabilities) when
            ``top_k`` is not given, no threshold when it is; pass ``0.0`` for logits.
        top_k: predict the ``k`` highest scores of each row (``k`` capped at ``C``); combined with
            ``threshold`` when both are given (ML-GCN's top-3 protocol).
        ignore_index: label value left out per class (``None``: nothing ignored).
        zero_division: value of an undefined ratio ``0/0``, in ``[0, 1]`` or ``nan`` (then the class
            is left out of CP / CR and a NaN overall ratio propagates). Default ``0.0`` (see module doc).

    Returns:
        ``{"CP", "CR", "CF1", "OP", "OR", "OF1"}`` as floats; NaN where nothing is defined.

    Example:
        >>> f1_scores([[0.9, 0.2], [0.6, 0.7]], [[1, 0], [0, 1]])["OP"]
        0.6666666666666666
    """
    s, y = check_scores_labels(scores, labels, ignore_index=ignore_index)
    z = _check_zero_division(zero_division)
    if top_k is None:
        pred = s >= (DEFAULT_THRESHOLD if threshold is None else float(threshold))
    else:
        pred = _top_k_mask(s, _check_k(top_k, s.shape[1], "top_k"))
        if threshold is not None:
            pred &= s >= float(threshold)
    kept = y != -1
    positive = y == 1
    tp = (pred & positive).sum(axis=0, dtype=np.int64)
    n_pred = (pred & kept).sum(axis=0, dtype=np.int64)
    n_pos = positive.sum(axis=0, dtype=np.int64)
    cp = _mean(_ratio(tp, n_pred, z))
    cr = _mean(_ratio(tp, n_pos, z))
    op = float(_ratio(tp.sum(), n_pred.sum(), z))
    o_r = float(_ratio(tp.sum(), n_pos.sum(), z))
    return {
        "CP": cp,
        "CR": cr,
        "CF1": _harmonic(cp, cr),
        "OP": op,
        "OR": o_r,
        "OF1": _harmonic(op, o_r),
    }


def _at_k(
    scores: Any, labels: Any, k: int, *, ignore_index: int | None, empty_row: str, recall: bool
) -> float:
    if empty_row not in ("skip", "zero"):
        raise PartialMLError(f"empty_row must be one of skip, zero; got {empty_row!r}")
    s, y = check_scores_labels(scores, labels, ignore_index=ignore_index)
    kk = _check_k(k, max(s.shape[1], 1), "k")
    kept = y != -1
    ranked = np.where(kept, s.astype(np.float64), -np.inf)  # unknown classes never enter the ranking
    top = _top_k_mask(ranked, kk) & kept
    hits = (top & (y == 1)).sum(axis=1, dtype=np.int64).astype(np.float64)
    n_pos = (y == 1).sum(axis=1, dtype=np.int64)
    per_row = hits / np.maximum(n_pos, 1) if recall else hits / int(k)
    has_pos = n_pos > 0
    per_row = per_row[has_pos] if empty_row == "skip" else np.where(has_pos, per_row, 0.0)
    return float(per_row.mean()) if per_row.size else math.nan


def precision_at_k(
    scores: Any,
    labels: Any,
    k: int,
    *,
    ignore_index: int | None = -1,
    empty_row: EmptyRowPolicy = "skip",
) -> float:
    """Mean over rows of ``hits / k``, hits = positives among the row's ``k`` highest-scoring kept classes.

    Args:
        scores, labels, ignore_index: as in :func:`f1_scores`; a row's ignored classes are not ranked.
        k: positive integer (Cole et al. log 1, 3, 5). The denominator stays ``k`` even when a row has
            fewer kept classes or positives (Cole's definition).
        empty_row: ``"skip"`` (default) leaves rows without observed positive out of the mean;
            ``"zero"`` counts them as 0 (Cole's code).

    Returns:
        A fraction in ``[0, 1]``; NaN when no row is left.

    Example:
        >>> precision_at_k([[0.9, 0.2, 0.5], [0.1, 0.7, 0.3]], [[1, 0, 1], [1, 0, 0]], 2)
        0.5
    """
    return _at_k(scores, labels, k, ignore_index=ignore_index, empty_row=empty_row, recall=False)


def recall_at_k(
    scores: Any,
    labels: Any,
    k: int,
    *,
    ignore_index: int | None = -1,
    empty_row: EmptyRowPolicy = "skip",
) -> float:
    """Mean over rows of ``hits / positives`` with the hits of :func:`precision_at_k`.

    Rows without observed positive: left out (``"skip"``, default) or counted as 0 (``"zero"``, Cole).

    Example:
        >>> recall_at_k([[0.9, 0.2, 0.5], [0.1, 0.7, 0.3]], [[1, 0, 1], [1, 0, 0]], 2)
        0.5
    """
    return _at_k(scores, labels, k, ignore_index=ignore_index, empty_row=empty_row, recall=True)


__all__ = ["DEFAULT_THRESHOLD", "F1_KEYS", "EmptyRowPolicy", "f1_scores", "precision_at_k", "recall_at_k"]
