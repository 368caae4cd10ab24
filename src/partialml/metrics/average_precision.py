"""Average precision per class, mean average precision and the mAP report.

Definition (scikit-learn's ``average_precision_score``, the one the Cole / LL / BoostLU / EM / GR-Loss
code uses): for one class, with the kept rows sorted by score and one operating point per *distinct*
score ``t`` (predict positive iff ``score >= t``, so tied scores enter together),

    AP = sum_n (R_n - R_{n-1}) * P_n,    P_n = TP(>= t_n) / (TP(>= t_n) + FP(>= t_n)),  R_n = TP(>= t_n) / P

which equals ``(1 / P) * sum over positives i of precision(>= score_i)``: every positive contributes the
precision of the threshold at its own score, ties included. Rows whose label equals ``ignore_index``
(``-1``, unknown) are left out of that class only (the OpenImages protocol of Durand et al., CVPR 2019,
and of LL, Kim et al., CVPR 2022). A class with no positive among its kept rows has no AP: ``NaN``.

Implementation. One sort per class row, vectorized over classes (classes are processed in chunks of
about :data:`CHUNK_ELEMENTS` entries only to bound memory; a chunk holds at least one whole class, and
the results do not depend on the chunking: tested). The input checks also go by row blocks, so the
working memory beyond the inputs is about 31 bytes per entry of one chunk (measured with tracemalloc:
8 MB for the default chunk), never a copy of the whole ``(N, C)`` matrix. When the scores
are exactly representable in float32 (float32/16, bfloat16, float64 upcasts of those, small integers),
score and label are packed in one ``uint64`` key (order-preserving score bits, then a 2-bit label code)
and sorted with NumPy's SIMD sort; otherwise an ``argsort`` of the float64 scores is used. Both are exact
for ties (ties are found by equality of the score, ``-0.0 == 0.0``); counts are integers and the sums
are float64.

Why not torchmetrics (DESIGN.md: "backed by torchmetrics where it fits"): ``multilabel_average_precision``
(torchmetrics 1.9) agrees with this module on every class that has a positive (tested), but it returns
``0`` (with a warning) for a class without positives where this module returns ``NaN`` and lets the
policy decide, it raises ``IndexError`` when every row of a class is ignored, and it loops over classes
in Python (``benchmarks/metrics.py``, 2-core CPU, COCO val 40,137 x 80: torchmetrics 0.63 s, scikit-learn's
per-class loop 0.68 s, this module 0.15 s; 100,000 x 1,000: 5.1 s against 23 s for scikit-learn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from partialml.errors import PartialMLError

EmptyClassPolicy = Literal["skip", "zero"]
_POLICIES: tuple[str, ...] = ("skip", "zero")

#: Entries (rows x classes) handled at once: the working memory is about 31 bytes per entry (measured with
#: tracemalloc), 8 MB for ``1 << 18``. Larger chunks were not faster (``benchmarks/metrics.py`` shapes,
#: 2-core CPU: 40,137 x 80 in 0.19 s with ``1 << 18`` against 0.23 s with ``1 << 22``, which held 95 MB).
CHUNK_ELEMENTS = 1 << 18

_CODE_IGNORED, _CODE_NEGATIVE, _CODE_POSITIVE = 0, 1, 2


# ---------------------------------------------------------------------------------------------- inputs
def _to_numpy(x: Any, what: str) -> np.ndarray:
    """A CPU NumPy view or copy of ``x`` (tensor on any device, array or nested sequence)."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.dtype == torch.bfloat16:
            t = t.float()  # exact; NumPy has no bfloat16
        return t.cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise PartialMLError(f"{what} must be a numeric (N, C) array or tensor: {exc}") from exc


def check_scores_labels(
    scores: Any, labels: Any, *, ignore_index: int | None = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a ``(scores, labels)`` pair; the inputs are never modified.

    Args:
        scores: ``(N, C)`` real numbers (probabilities or logits), any device; NaN is refused.
        labels: ``(N, C)`` integers in ``{1, 0}`` plus ``ignore_index`` (``-1``: unknown).
        ignore_index: the label value left out per class; ``None``: nothing is ignored.

    Returns:
        ``(scores, labels)`` as CPU NumPy arrays: scores float (float16 is widened to float32, integers
        and booleans to float64), labels ``int8`` with values in ``{1, 0, -1}`` (ignored entries as -1).
        Either may share memory with the input (int8 labels with ``ignore_index=-1`` are only checked):
        callers must not write to them.

    Raises:
        PartialMLError: wrong shapes or dtypes, NaN scores, labels outside ``{1, 0, ignore_index}``.
    """
    if ignore_index is not None and ignore_index in (0, 1):
        raise PartialMLError(f"ignore_index must differ from the label values 1 and 0, got {ignore_index}")
    s = _to_numpy(scores, "scores")
    y = _to_numpy(labels, "labels")
    if s.ndim != 2:
        raise PartialMLError(f"scores must be a 2-d (samples x classes) matrix, got shape {s.shape}")
    if y.shape != s.shape:
        raise PartialMLError(f"labels have shape {y.shape} but scores have shape {s.shape}; expected equal")
    if s.dtype.kind == "f":
        if s.dtype == np.float16:
            s = s.astype(np.float32)
    elif s.dtype.kind in "iub":
        s = s.astype(np.float64)
    else:
        raise PartialMLError(f"scores have dtype {s.dtype}; expected real numbers")
    step = _row_block(s.shape[1])
    if any(np.isnan(s[a : a + step]).any() for a in range(0, s.shape[0], step)):  # no (N, C) temporary
        raise PartialMLError("scores contain NaN; expected real numbers (probabilities or logits)")
    if y.dtype.kind not in "iubf":
        raise PartialMLError(f"labels have dtype {y.dtype}; expected integers 1, 0 or {ignore_index}")
    if y.dtype == np.int8 and ignore_index == -1:  # the package's own encoding: check only, no copy
        # -1 -> 0, 0 -> 1, 1 -> 2 as uint8; anything else > 2
        blocks = (y[a : a + step].view(np.uint8) for a in range(0, y.shape[0], step))
        if all((b + np.uint8(1) <= 2).all() for b in blocks):
            return s, y
    is_pos = y == 1
    is_neg = y == 0
    ok = is_pos | is_neg
    if ignore_index is not None:
        is_ign = y == ignore_index
        ok |= is_ign
    if not ok.all():
        row, col = (int(i) for i in np.argwhere(~ok)[0])
        allowed = "1 or 0" if ignore_index is None else f"1, 0 or {ignore_index} (ignored)"
        raise PartialMLError(f"labels entry ({row}, {col}) is {y[row, col].item()!r}; expected {allowed}")
    out = np.full(y.shape, -1, dtype=np.int8)
    out[is_pos] = 1
    out[is_neg] = 0
    return s, out


def _chunk_width(num_rows: int, num_classes: int) -> int:
    return max(1, min(num_classes, CHUNK_ELEMENTS // max(num_rows, 1)))


def _row_block(num_classes: int) -> int:
    """Rows per block of the input checks: about :data:`CHUNK_ELEMENTS` entries, at least one row."""
    return max(1, CHUNK_ELEMENTS // max(num_classes, 1))


# ----------------------------------------------------------------------------------------------- core
def _float32_keys(s: np.ndarray) -> np.ndarray:
    """Order-preserving ``uint64`` keys of float32 values (``-0.0`` mapped to ``+0.0``), shape kept."""
    bits = (s + np.float32(0.0)).view(np.uint32)  # x + 0.0 turns -0.0 into +0.0, leaves the rest
    negative = bits >> np.uint32(31) != 0
    ordered = np.where(negative, ~bits, bits | np.uint32(0x80000000))
    return ordered.astype(np.uint64)


def _sorted_rows(s: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Sort each row ``(c, N)`` ascending by score; return ``(tie_key, code, ignored_first)`` in that order.

    ``tie_key`` compares equal exactly when the scores are equal. Uses the packed-key sort when every
    score is exactly a float32 (ignored entries then get key 0, below every real score, so they come
    first and form their own tie group: ``ignored_first`` is True), an argsort of the scores otherwise.
    """
    s32 = s if s.dtype == np.float32 else s.astype(np.float32)
    if s32 is s or np.array_equal(s32, s):
        key = _float32_keys(s32) << np.uint64(2)  # >= 0x007FFFFF << 2 > 0 for every real score
        key |= code
        np.multiply(key, code != _CODE_IGNORED, out=key)
        key.sort(axis=1)
        return key >> np.uint64(2), (key & np.uint64(3)).astype(np.uint8), True
    order = np.argsort(s, axis=1)
    tie = np.take_along_axis(s, order, axis=1) + 0.0  # -0.0 == 0.0 already holds for floats
    return tie, np.take_along_axis(code, order, axis=1), False


def _ap_chunk(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AP of each row of ``s`` (c, N) against ``y`` (c, N) int8 in {1, 0, -1}; NaN without positive.

    In ascending order, with ``g(i)`` the first position of the tie group of position ``i``: every
    element from ``g(i)`` on has a score ``>= s_i``, so ``TP(>= s_i) = P - positives before g(i)`` and
    ``TP + FP = kept - kept before g(i)``; only the positives' values are gathered and summed.
    """
    c, n = s.shape
    code = y.view(np.uint8) + np.uint8(1)  # -1 -> 0 ignored, 0 -> 1 negative, 1 -> 2 positive
    tie, code, ignored_first = _sorted_rows(s, code)
    idx_dtype = np.int32 if n < np.iinfo(np.int32).max else np.int64
    pos = code == _CODE_POSITIVE
    start = np.ones((c, n), dtype=bool)
    np.not_equal(tie[:, 1:], tie[:, :-1], out=start[:, 1:])
    group = np.where(start, np.arange(n, dtype=idx_dtype), 0)
    np.maximum.accumulate(group, axis=1, out=group)
    rows, cols = np.nonzero(pos)
    g = group[rows, cols]
    pos_cum = np.cumsum(pos, axis=1, dtype=idx_dtype)  # inclusive counts
    npos = pos_cum[:, -1].astype(np.int64) if n else np.zeros(c, dtype=np.int64)
    tp = (npos[rows] - (pos_cum[rows, g] - pos[rows, g])).astype(np.float64)
    if ignored_first:  # ignored entries all sit before g (their own lowest group): kept >= s_i is n - g
        seen = (n - g).astype(np.float64)
    else:
        kept = code != _CODE_IGNORED
        kept_cum = np.cumsum(kept, axis=1, dtype=idx_dtype)
        seen = (kept_cum[rows, -1] - (kept_cum[rows, g] - kept[rows, g])).astype(np.float64)
    total = np.bincount(rows, weights=tp / seen, minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(npos > 0, total / npos, np.nan)


def average_precision(scores: Any, labels: Any, *, ignore_index: int | None = -1) -> torch.Tensor:
    """Average precision of every class, scikit-learn's definition, ignored rows left out per class.

    Args:
        scores: ``(N, C)`` probabilities or logits (AP only depends on the order, ties included),
            tensor on any device, NumPy array or nested sequence. Not modified.
        labels: ``(N, C)`` integers: ``1`` positive, ``0`` negative, ``ignore_index`` left out.
        ignore_index: label value left out per class; default ``-1`` (unknown); ``None``: none.

    Returns:
        ``(C,)`` float64 CPU tensor in ``[0, 1]``; ``NaN`` for a class with no positive among its kept
        rows (no rows at all included).

    Formula: ``AP_c = (1/P_c) * sum_{i: y_ic = 1} TP_c(>= s_ic) / (TP_c(>= s_ic) + FP_c(>= s_ic))``, equal
    to ``sklearn.metrics.average_precision_score`` on the kept rows of class ``c``.

    Example:
        >>> average_precision([[0.9, 0.2], [0.8, 0.7], [0.1, 0.4]], [[1, 0], [0, 1], [1, -1]]).tolist()
        [0.8333333333333333, 1.0]
    """
    s, y = check_scores_labels(scores, labels, ignore_index=ignore_index)
    n, num_classes = s.shape
    out = np.full(num_classes, np.nan, dtype=np.float64)
    width = _chunk_width(n, num_classes)
    if n > 0:
        for j in range(0, num_classes, width):
            out[j : j + width] = _ap_chunk(
                np.ascontiguousarray(s[:, j : j + width].T), np.ascontiguousarray(y[:, j : j + width].T)
            )
    return torch.from_numpy(out)


# ------------------------------------------------------------------------------------------------ mAP
def _check_policy(empty_class: str) -> None:
    if empty_class not in _POLICIES:
        raise PartialMLError(f"empty_class must be one of {', '.join(_POLICIES)}; got {empty_class!r}")


def _mean_of(per_class: torch.Tensor, empty_class: str) -> float:
    values = per_class.numpy()
    values = np.nan_to_num(values, nan=0.0) if empty_class == "zero" else values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def mean_average_precision(
    scores: Any,
    labels: Any,
    *,
    empty_class: EmptyClassPolicy = "skip",
    ignore_index: int | None = -1,
) -> float:
    """Mean over classes of :func:`average_precision`, as a fraction in ``[0, 1]``.

    Args:
        scores, labels, ignore_index: as in :func:`average_precision`.
        empty_class: what to do with a class that has no positive among its kept rows.
            ``"skip"`` (default, DESIGN.md): leave it out of the mean (its AP is undefined);
            ``"zero"``: count it as AP 0, as ``compute_avg_precision`` of the Cole / LL / BoostLU code
            does (reference-methods.md section 2); this includes classes whose rows are all ignored.

    Returns:
        The mAP as a float; ``NaN`` when no class is left to average (every class empty under
        ``"skip"``, or ``C == 0``). NaN rather than an error, because an epoch's validation split can
        legitimately lack positives and a training run must not stop on it; :func:`map_report` tells how
        many classes were skipped.

    Example:
        >>> mean_average_precision([[0.9, 0.2], [0.8, 0.7]], [[1, 0], [0, 0]])
        1.0
        >>> mean_average_precision([[0.9, 0.2], [0.8, 0.7]], [[1, 0], [0, 0]], empty_class="zero")
        0.5
    """
    _check_policy(empty_class)
    return _mean_of(average_precision(scores, labels, ignore_index=ignore_index), empty_class)


def _plain(value: float, scale: float) -> float | None:
    return None if math.isnan(value) else float(value) * scale


@dataclass(frozen=True)
class MAPReport:
    """mAP with its per-class detail.

    Attributes:
        mAP: the mean, a fraction in ``[0, 1]`` (``NaN`` when no class is left to average).
        per_class: ``(C,)`` float64 AP per class; ``NaN`` for a skipped class (``"skip"``); under
            ``"zero"`` the empty classes hold ``0.0``.
        num_skipped: number of classes left out of the mean (always 0 under ``"zero"``).
        skipped: their class indices, ascending.
        empty_class: the policy used.
        empty: indices of the classes with no positive among their kept rows (under either policy).
    """

    mAP: float
    per_class: torch.Tensor
    num_skipped: int
    skipped: list[int]
    empty_class: EmptyClassPolicy
    empty: list[int] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return int(self.per_class.numel())

    def to_dict(self, *, percent: bool = True, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """Plain JSON-able data: ``{"mAP", "per_class", "num_classes", "num_skipped", "skipped",
        "empty_class", "num_empty"}``.

        ``mAP`` and the per-class values are on the 0-100 scale when ``percent`` (else fractions), and
        ``None`` where undefined (JSON has no NaN). ``per_class`` is a list in class order, or a dict
        keyed by ``class_names`` when given (their count must be ``C``). ``skipped`` lists class indices.
        """
        scale = 100.0 if percent else 1.0
        values = [_plain(v, scale) for v in self.per_class.tolist()]
        per_class: list[float | None] | dict[str, float | None] = values
        if class_names is not None:
            names = list(class_names)
            if len(names) != len(values):
                raise PartialMLError(
                    f"class_names has {len(names)} names but the report has {len(values)} classes"
                )
            per_class = dict(zip(names, values, strict=True))
        return {
            "mAP": _plain(self.mAP, scale),
            "per_class": per_class,
            "num_classes": self.num_classes,
            "num_skipped": int(self.num_skipped),
            "skipped": [int(i) for i in self.skipped],
            "empty_class": self.empty_class,
            "num_empty": len(self.empty),
        }


def map_report(
    scores: Any,
    labels: Any,
    *,
    empty_class: EmptyClassPolicy = "skip",
    ignore_index: int | None = -1,
) -> MAPReport:
    """The :class:`MAPReport` of ``scores`` against ``labels``; options as in
    :func:`mean_average_precision` (``report.mAP`` equals it).

    Example:
        >>> r = map_report([[0.9, 0.2], [0.8, 0.7]], [[1, 0], [0, 0]])
        >>> r.mAP, r.skipped, r.to_dict()["mAP"]
        (1.0, [1], 100.0)
    """
    _check_policy(empty_class)
    ap = average_precision(scores, labels, ignore_index=ignore_index)
    empty = torch.nonzero(torch.isnan(ap)).flatten().tolist()
    if empty_class == "zero":
        per_class = torch.nan_to_num(ap, nan=0.0)
        skipped: list[int] = []
    else:
        per_class, skipped = ap, list(empty)
    return MAPReport(
        mAP=_mean_of(ap, empty_class),
        per_class=per_class,
        num_skipped=len(skipped),
        skipped=skipped,
        empty_class=empty_class,
        empty=empty,
    )


__all__ = [
    "CHUNK_ELEMENTS",
    "EmptyClassPolicy",
    "MAPReport",
    "average_precision",
    "check_scores_labels",
    "map_report",
    "mean_average_precision",
]
