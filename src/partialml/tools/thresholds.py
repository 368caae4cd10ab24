"""Per-class decision thresholds tuned on validation data (``partialml predict --thresholds tuned``).

For each class ``c``, over the validation entries whose label is known (``!= -1``), the threshold
``t_c`` maximizes

    F1_c(t) = 2 TP(t) / (2 TP(t) + FP(t) + FN(t)),   predicted positive iff ``score >= t``,

over the candidate cuts ``t`` = each distinct score of the class (every distinct prediction set is
reached by one of them; ties in F1 go to the highest threshold, the most conservative cut). A class
without a known positive keeps ``fallback`` (0.5, the usual probability cut; ML-GCN's ``logit >= 0``).
Since the cut at 0.5 is one of the candidates (or predicts the same set), the tuned F1 of every class on
the validation data is at least its F1 at 0.5.

:func:`run_thresholds` tunes them for a run of any setting (features, or an image model: the validation
images read with the run's test-time transforms; :func:`partialml.engine.inference.prepare_run`): its
validation split, scored by the run's checkpoint, against the labels of the run's validation protocol
(``val_labels`` clean or partial, unknown entries as the run treated them), and stores them in
``DIR/thresholds.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from partialml.errors import PartialMLError

#: Threshold of classes without a known positive in the validation data (and the untuned default).
DEFAULT_THRESHOLD = 0.5
THRESHOLDS_FILE = "thresholds.json"


def f1_at(scores: np.ndarray, labels: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """Per-class F1 ``(C,)`` of ``scores >= thresholds`` against ``labels`` (``-1`` entries ignored).

    A class with no positive and no predicted positive gets F1 0 (``zero_division=0``).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    kept = y != -1
    pred = (s >= np.asarray(thresholds, dtype=np.float64)) & kept
    pos = (y == 1) & kept
    tp = (pred & pos).sum(axis=0)
    denom = pred.sum(axis=0) + pos.sum(axis=0)
    out = np.zeros(s.shape[1], dtype=np.float64)
    np.divide(2.0 * tp, denom, out=out, where=denom > 0)
    return out


def tune_thresholds(
    scores: np.ndarray, labels: np.ndarray, *, fallback: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """The F1-maximizing threshold of each class: ``(N, C)`` scores, labels in ``{1, 0, -1}`` -> ``(C,)``.

    Example:
        >>> tune_thresholds(np.array([[0.9], [0.4], [0.3], [0.1]]), np.array([[1], [1], [0], [0]]))
        array([0.4])
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 2 or s.shape != y.shape:
        raise PartialMLError(f"scores {s.shape} and labels {y.shape} must be (N, C) of the same shape")
    out = np.full(s.shape[1], float(fallback), dtype=np.float64)
    for c in range(s.shape[1]):
        kept = y[:, c] != -1
        sc, yc = s[kept, c], y[kept, c] == 1
        n_pos = int(yc.sum())
        if n_pos == 0:
            continue
        order = np.argsort(-sc, kind="stable")
        sc, yc = sc[order], yc[order]
        # Cut after the last entry of each run of equal scores: predicting the first k entries.
        last_of_run = np.r_[sc[1:] != sc[:-1], True]
        tp = np.cumsum(yc)[last_of_run]
        predicted = (np.nonzero(last_of_run)[0] + 1).astype(np.float64)
        f1 = 2.0 * tp / (predicted + n_pos)
        best = int(np.argmax(f1))  # first maximum: the highest threshold among ties
        out[c] = float(sc[last_of_run][best])
    return out


@dataclass
class ThresholdSet:
    """Tuned thresholds of a run: ``thresholds`` ``(C,)``, per-class validation F1 at them and at 0.5."""

    class_names: list[str]
    thresholds: np.ndarray
    f1_tuned: np.ndarray
    f1_default: np.ndarray
    checkpoint: str
    val_labels: str
    num_val: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "criterion": "per-class F1 on the run's validation split",
            "val_labels": self.val_labels,
            "num_val": self.num_val,
            "fallback": DEFAULT_THRESHOLD,
            "class_names": list(self.class_names),
            "thresholds": [float(v) for v in self.thresholds],
            "val_f1_tuned": [float(v) for v in self.f1_tuned],
            "val_f1_at_0.5": [float(v) for v in self.f1_default],
        }


def run_thresholds(
    run: str | Path, *, checkpoint: str = "best", device: str = "auto", write: bool = True
) -> ThresholdSet:
    """Tune per-class thresholds on ``run``'s validation split and store them in ``thresholds.json``.

    Raises:
        PartialMLError: the run has no validation split (``val_fraction`` 0).
    """
    from partialml.engine.inference import load_run_model, prepare_run, write_text

    loaded = load_run_model(run, checkpoint=checkpoint, device=device)  # type: ignore[arg-type]
    own = prepare_run(loaded)  # features or images, prepared as the run's training did
    prepared = own.prepared
    if len(prepared.val_rows) == 0:
        raise PartialMLError(
            "--thresholds tuned: the run has no validation split (val_fraction 0); use --threshold T",
            path=loaded.run_dir.path,
        )
    scores = own.scores("val")
    labels = prepared.val_labels
    tuned = tune_thresholds(scores, labels)
    result = ThresholdSet(
        class_names=loaded.class_names,
        thresholds=tuned,
        f1_tuned=f1_at(scores, labels, tuned),
        f1_default=f1_at(scores, labels, DEFAULT_THRESHOLD),
        checkpoint=checkpoint,
        val_labels=loaded.config.val_labels,
        num_val=len(prepared.val_rows),
    )
    if write:
        write_text(loaded.run_dir.path / THRESHOLDS_FILE, json.dumps(result.to_dict(), indent=2) + "\n")
    return result


__all__ = [
    "DEFAULT_THRESHOLD",
    "THRESHOLDS_FILE",
    "ThresholdSet",
    "f1_at",
    "run_thresholds",
    "tune_thresholds",
]
