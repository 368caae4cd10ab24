"""Scoring passes and mAP reports for the ``features`` setting.

* :func:`predict_scores`: sigmoid probabilities ``(n, C)`` float32 (CPU) of a model on rows of a
  feature matrix, in eval mode and without gradients, in batches of whole row blocks.
* :func:`split_report`: the mAP report of scores against labels (``-1`` entries left out per class),
  as plain data with mAP and per-class AP on the 0-100 scale, per-class AP keyed by class name, the
  number of classes skipped for having no positive and the ``empty_class`` policy.
* :func:`report_test_split`: :func:`split_report` of a test split as ``metrics.json`` and ``partialml evaluate``
  write it: which labels it was scored with, and the head / medium / tail means (``group_mAP``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from partialml.engine.loaders import FeatureBatches, FeatureMatrix


@torch.no_grad()
def predict_scores(
    model: nn.Module,
    features: FeatureMatrix | np.ndarray,
    rows: np.ndarray | Tensor | None = None,
    *,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> Tensor:
    """Probabilities ``sigmoid(model(x))`` of ``features[rows]`` (all rows when ``None``), ``(n, C)``.

    The model is put in eval mode for the pass and back in its previous mode afterwards. The result is
    a float32 CPU tensor in the order of ``rows``.
    """
    n_total = int(features.shape[0])
    row_idx = np.arange(n_total) if rows is None else rows
    batches = FeatureBatches(
        features, row_idx, batch_size=batch_size, shuffle=False, device=device, num_workers=num_workers
    )
    was_training = model.training
    model.eval()
    out: Tensor | None = None
    try:
        for x, pos in batches:
            probs = torch.sigmoid(model(x).float()).cpu()
            if out is None:  # one (n, C) float32 result, filled in place: no list of parts, no concatenation
                out = torch.empty(len(row_idx), probs.shape[1], dtype=torch.float32)
            out[pos] = probs  # memmap reads may reorder rows within a batch
    finally:
        model.train(was_training)
    if out is None:
        return torch.zeros(0, _out_features(model))
    return out


def _out_features(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else 0


def split_report(
    scores: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    *,
    class_names: Sequence[str],
    empty_class: Literal["skip", "zero"] = "skip",
) -> dict[str, Any]:
    """mAP report of ``(n, C)`` scores against ``(n, C)`` labels in ``{1, 0, -1}`` (``-1`` ignored).

    Returns ``{"mAP": float (0-100), "per_class": {name: AP (0-100) or None}, "num_skipped": int,
    "empty_class": policy, "num_samples": n, ...}`` (plus whatever else the metric's report holds).
    """
    from partialml.metrics import map_report

    report = map_report(
        torch.as_tensor(scores), torch.as_tensor(labels), empty_class=empty_class, ignore_index=-1
    )
    out = dict(report.to_dict(percent=True, class_names=list(class_names)))
    out["mAP"] = _finite_or_none(report.mAP * 100.0)
    out["num_skipped"] = int(report.num_skipped)
    out["empty_class"] = empty_class
    out["num_samples"] = int(torch.as_tensor(labels).shape[0])
    return out


def validation_labels_kind(val_labels: str, partial: str) -> str:
    """The ``labels`` of a validation report: ``--val-labels`` (``clean`` / ``partial``), except
    ``given`` under ``--partial given``, where the data's own partial labels are the only labels (both
    choices score their annotated entries; there are no clean labels to report)."""
    return "given" if partial == "given" else val_labels


def training_positives(store: Any) -> np.ndarray:
    """``(C,)`` positives per class of a run's training split, the counts its head / medium / tail groups
    come from: the full labels when the LabelStore holds them, else the observed labels as given (LL-Cp's
    corrections left out, so the groups do not move during training)."""
    counts = store.positives_per_class(full=store.has_full, corrections=False)
    return np.asarray(counts, dtype=np.int64)


def report_test_split(
    scores: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    *,
    class_names: Sequence[str],
    empty_class: Literal["skip", "zero"] = "skip",
    train_positives: np.ndarray,
    group_scale: float = 1.0,
) -> dict[str, Any]:
    """The report of a test split: :func:`split_report` plus ``labels`` (``"full"``, or ``"partial"`` with
    ``unknown_as: "ignored"`` when the test labels hold unknowns), ``group_mAP`` (head / medium / tail
    mean AP, 0-100, ``None`` for an empty group) and ``group_sizes``, the groups from ``train_positives``
    (:func:`training_positives`) with thresholds 100 / 20 times ``group_scale``."""
    from partialml.labels.long_tail import head_medium_tail
    from partialml.metrics.groups import group_mean_ap

    out = split_report(scores, labels, class_names=class_names, empty_class=empty_class)
    if bool((torch.as_tensor(labels) < 0).any()):
        out["labels"], out["unknown_as"] = "partial", "ignored"
    else:
        out["labels"] = "full"
    groups = head_medium_tail(train_positives, scale=group_scale)
    per_class = out.get("per_class") or {}
    ap = [math.nan if per_class.get(n) is None else float(per_class[n]) for n in class_names]
    means = group_mean_ap(ap, groups)
    out["group_mAP"] = {k: (v if math.isfinite(v) else None) for k, v in means.items()}
    out["group_sizes"] = {k: len(v) for k, v in groups.items()}
    return out


def map_percent(
    scores: Tensor | np.ndarray, labels: Tensor | np.ndarray, *, empty_class: Literal["skip", "zero"] = "skip"
) -> float:
    """mAP on the 0-100 scale (``nan`` when every class is skipped)."""
    from partialml.metrics import map_report

    report = map_report(
        torch.as_tensor(scores), torch.as_tensor(labels), empty_class=empty_class, ignore_index=-1
    )
    return float(report.mAP) * 100.0


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


__all__ = ["map_percent", "predict_scores", "report_test_split", "split_report", "training_positives"]
