"""Time ``mean_average_precision`` against scikit-learn's per-class loop (and torchmetrics at COCO size).

Protocol: seeded float32 scores ``U(0, 1)`` and int8 labels (5 % positive, 10 % unknown = -1, the rest
negative) at 40,137 x 80 (COCO val2014) and 100,000 x 1,000. Baseline, in the same process: the loop a
user would write, ``average_precision_score`` of scikit-learn on the kept rows of each class, mean over
classes with a positive. Median of ``repeats`` calls after one warm-up for the COCO shape, one call for
the large one (the baseline takes tens of seconds there); in ``quick`` mode the large baseline is
timed on its first 50 classes and scaled to 1,000 (said in the notes). Also reports the largest
per-class difference to scikit-learn, which must stay below 1e-9.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.metrics import average_precision_score

from benchmarks.timing import median_seconds
from partialml.metrics import average_precision, mean_average_precision

SHAPES = [("coco_val", 40_137, 80), ("large", 100_000, 1_000)]


def _data(n: int, c: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(n, c, generator=g)
    u = torch.rand(n, c, generator=g)
    labels = torch.zeros(n, c, dtype=torch.int8)
    labels[u < 0.05] = 1
    labels[u > 0.9] = -1
    return scores, labels


def _sklearn_per_class(scores: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    out = np.full(classes, np.nan)
    for k in range(classes):
        keep = labels[:, k] != -1
        y = labels[keep, k]
        if (y == 1).any():
            out[k] = average_precision_score(y, scores[keep, k])
    return out


def _once(fn: Callable[[], object]) -> float:
    """Wall time of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _row(metric: str, value: float, unit: str, notes: str, passed: bool | None = None) -> dict[str, Any]:
    return {
        "benchmark": "metrics",
        "metric": metric,
        "value": float(value),
        "unit": unit,
        "goal": "" if passed is None else "< 1e-9",
        "passed": passed,
        "notes": notes,
    }


def _shape_rows(name: str, n: int, c: int, *, quick: bool) -> list[dict[str, Any]]:
    """Rows for one shape: partialml, the scikit-learn loop, the speed-up, the agreement (+ torchmetrics)."""
    scores, labels = _data(n, c)
    s_np, y_np = scores.numpy(), labels.numpy()
    shape = f"{n:,} x {c:,}"
    large = c >= 1_000
    repeats = 1 if quick else 3

    def ours_fn() -> None:
        mean_average_precision(scores, labels)

    ours = _once(ours_fn) if large else median_seconds(ours_fn, repeats=repeats, warmup=1)
    base_classes = 50 if (large and quick) else c
    t0 = time.perf_counter()
    ref = _sklearn_per_class(s_np, y_np, base_classes)
    base = (time.perf_counter() - t0) * (c / base_classes)
    scaled = f", timed on {base_classes} classes and scaled x{c // base_classes}" if base_classes < c else ""
    ap = average_precision(scores, labels).numpy()[:base_classes]
    diff = float(np.nanmax(np.abs(ap - ref)))
    agree = diff < 1e-9 and bool(np.array_equal(np.isnan(ap), np.isnan(ref)))
    rows = [
        _row(f"mAP seconds, {name} {shape}", ours, "s", "partialml, vectorized, float64"),
        _row(
            f"sklearn per-class loop seconds, {name} {shape}", base, "s", f"average_precision_score{scaled}"
        ),
        _row(f"speed-up vs sklearn, {name} {shape}", base / ours, "x", "sklearn time / partialml time"),
        _row(f"max |AP - sklearn AP|, {name}", diff, "", f"over {base_classes} classes", agree),
    ]
    if large:
        return rows
    try:
        from torchmetrics.functional.classification import multilabel_average_precision
    except ImportError:  # optional cross-check
        return rows
    target = labels.long()

    def tm() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            multilabel_average_precision(scores, target, num_labels=c, average=None, ignore_index=-1)

    t_tm = median_seconds(tm, repeats=repeats, warmup=1)
    rows.append(_row(f"torchmetrics seconds, {name} {shape}", t_tm, "s", "multilabel_average_precision"))
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Timing rows for both shapes; see the module docstring for the protocol."""
    rows: list[dict[str, Any]] = []
    for name, n, c in SHAPES:
        rows.extend(_shape_rows(name, n, c, quick=quick))
    return rows


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(f"{r['metric']}: {r['value']:.4g} {r['unit']} {r['notes']}")
