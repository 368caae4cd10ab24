"""F1 family against scikit-learn (macro / micro), top-k hand examples, P@k / R@k by hand and by Cole's rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score

from partialml.errors import PartialMLError
from partialml.metrics import F1_KEYS, f1_scores, precision_at_k, recall_at_k


def sklearn_family(pred: np.ndarray, labels: np.ndarray, zero_division: float) -> dict[str, float]:
    """Reference from scikit-learn: macro P / R over classes on each class's kept rows, micro on kept entries."""
    p, r = [], []
    for c in range(labels.shape[1]):
        keep = labels[:, c] != -1
        y, yhat = labels[keep, c], pred[keep, c].astype(int)
        if not keep.any():  # sklearn refuses empty input; 0/0 precision and recall
            p.append(zero_division)
            r.append(zero_division)
            continue
        p.append(precision_score(y, yhat, labels=[1], average="macro", zero_division=zero_division))
        r.append(recall_score(y, yhat, labels=[1], average="macro", zero_division=zero_division))
    cp, cr = (
        np.nanmean(p) if not np.isnan(p).all() else math.nan,
        np.nanmean(r) if not np.isnan(r).all() else math.nan,
    )
    keep = labels != -1
    if not keep.any():
        cf1 = 2 * cp * cr / (cp + cr) if cp + cr > 0 else 0.0
        return {**dict.fromkeys(("OP", "OR", "OF1"), zero_division), "CP": cp, "CR": cr, "CF1": cf1}
    y, yhat = labels[keep], pred[keep].astype(int)
    kw = {"labels": [1], "average": "micro", "zero_division": zero_division}
    return {
        "CP": cp,
        "CR": cr,
        "CF1": 2 * cp * cr / (cp + cr) if cp + cr > 0 else 0.0,
        "OP": precision_score(y, yhat, **kw),
        "OR": recall_score(y, yhat, **kw),
        "OF1": f1_score(y, yhat, **kw),
    }


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 40),
    c=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    with_ignored=st.booleans(),
    zero_division=st.sampled_from([0.0, 1.0]),
)
def test_f1_family_equals_sklearn(
    n: int, c: int, seed: int, with_ignored: bool, zero_division: float
) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((n, c)), 1)
    labels = rng.integers(-1 if with_ignored else 0, 2, size=(n, c))
    got = f1_scores(scores, labels, threshold=0.5, zero_division=zero_division)
    ref = sklearn_family(scores >= 0.5, labels, zero_division)
    assert list(got) == list(F1_KEYS)
    for key in F1_KEYS:
        assert got[key] == pytest.approx(ref[key], abs=1e-12, nan_ok=True), key


def test_no_ignored_entries_matches_sklearn_multilabel_directly() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((200, 8))
    labels = (rng.random((200, 8)) < 0.3).astype(int)
    pred = (scores >= 0.5).astype(int)
    got = f1_scores(scores, labels)  # default threshold 0.5
    assert got["CP"] == pytest.approx(precision_score(labels, pred, average="macro", zero_division=0))
    assert got["CR"] == pytest.approx(recall_score(labels, pred, average="macro", zero_division=0))
    assert got["OP"] == pytest.approx(precision_score(labels, pred, average="micro", zero_division=0))
    assert got["OR"] == pytest.approx(recall_score(labels, pred, average="micro", zero_division=0))
    assert got["OF1"] == pytest.approx(f1_score(labels, pred, average="micro", zero_division=0))


def test_zero_division_nan_leaves_classes_out() -> None:
    # class 1 never predicted, class 2 without positive.
    scores = np.array([[0.9, 0.1, 0.8], [0.2, 0.3, 0.1], [0.7, 0.2, 0.1]])
    labels = np.array([[1, 1, 0], [0, 0, 0], [0, 1, 0]])
    got = f1_scores(scores, labels, zero_division=float("nan"))
    ref = precision_score(labels, scores >= 0.5, average="macro", zero_division=np.nan)
    assert got["CP"] == pytest.approx(ref)  # mean over classes 0 (1/2) and 2 (0/1) = 1/4
    assert got["CP"] == pytest.approx(0.25)
    assert got["CR"] == pytest.approx((1.0 + 0.0) / 2)  # class 2 left out of CR
    zero = f1_scores(scores, labels)
    assert zero["CP"] == pytest.approx((0.5 + 0 + 0) / 3) and zero["CR"] == pytest.approx(1 / 3)


def test_top_k_hand_example() -> None:
    scores = np.array([[0.9, 0.8, 0.1, 0.7], [0.2, 0.6, 0.6, 0.1]])
    labels = np.array([[1, 0, 1, -1], [0, 1, 0, 1]])
    # top-2: row 0 -> classes 0, 1; row 1 -> classes 1, 2 (tie 0.6: lower index first, then 2).
    got = f1_scores(scores, labels, top_k=2)
    # counts per class (tp, predicted kept, positives): c0 (1,1,1), c1 (1,2,1), c2 (0,1,1), c3 (0,0,1)
    assert got["OP"] == pytest.approx(2 / 4) and got["OR"] == pytest.approx(2 / 4)
    assert got["CP"] == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    assert got["CR"] == pytest.approx((1 + 1 + 0 + 0) / 4)
    assert got["CF1"] == pytest.approx(2 * 0.375 * 0.5 / 0.875)
    # ML-GCN top-k: top 2 AND score >= threshold (0.65): only row 0 classes 0, 1 survive.
    both = f1_scores(scores, labels, top_k=2, threshold=0.65)
    assert both["OP"] == pytest.approx(1 / 2) and both["OR"] == pytest.approx(1 / 4)
    # top_k above C is capped; logits with threshold 0 equal probabilities with threshold 0.5.
    assert f1_scores(scores, labels, top_k=10)["OR"] == pytest.approx(1.0)
    logits = torch.logit(torch.tensor(scores))
    assert f1_scores(logits, labels, threshold=0.0) == pytest.approx(f1_scores(scores, labels))


def test_hand_f1_example() -> None:
    scores = [[0.9, 0.2], [0.6, 0.7], [0.4, 0.1]]
    labels = [[1, 0], [0, 1], [1, -1]]
    got = f1_scores(scores, labels)
    # c0: predicted rows 0,1, positive rows 0,2 -> tp 1, P 1/2, R 1/2; c1: predicted row 1 (positive) -> P 1, R 1.
    assert got == pytest.approx({"CP": 0.75, "CR": 0.75, "CF1": 0.75, "OP": 2 / 3, "OR": 2 / 3, "OF1": 2 / 3})


def cole_precision_at_k(targs: np.ndarray, preds: np.ndarray, k: int, recall: bool) -> float:
    """Cole et al.'s per-row rule (rows without positive count 0), averaged over rows."""
    values = []
    for t, p in zip(targs, preds, strict=True):
        rel = np.flatnonzero(t == 1)
        if len(rel) == 0:
            values.append(0.0)
            continue
        top = np.argsort(p)[::-1][:k]
        hits = len(np.intersect1d(top, rel))
        values.append(hits / (len(rel) if recall else k))
    return float(np.mean(values))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_at_k_equals_cole_rule_without_ties(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.random((300, 20))  # continuous: no ties
    labels = (rng.random((300, 20)) < 0.1).astype(int)
    assert precision_at_k(scores, labels, k, empty_row="zero") == pytest.approx(
        cole_precision_at_k(labels, scores, k, recall=False)
    )
    assert recall_at_k(scores, labels, k, empty_row="zero") == pytest.approx(
        cole_precision_at_k(labels, scores, k, recall=True)
    )


def test_at_k_hand_example_with_ignored_and_empty_row() -> None:
    scores = np.array([[0.9, 0.8, 0.3, 0.1], [0.5, 0.4, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4]])
    labels = np.array([[-1, 1, 0, 1], [0, 1, 1, 0], [0, 0, 0, -1]])
    # row 0: class 0 unknown -> not ranked; top 2 of kept = classes 1, 2 -> 1 hit: P 1/2, R 1/2
    # row 1: top 2 = classes 0, 1 -> 1 hit: P 1/2, R 1/2; row 2: no positive (skip / 0)
    assert precision_at_k(scores, labels, 2) == pytest.approx(0.5)
    assert recall_at_k(scores, labels, 2) == pytest.approx(0.5)
    assert precision_at_k(scores, labels, 2, empty_row="zero") == pytest.approx(1 / 3)
    assert precision_at_k(scores, labels, 1) == pytest.approx((1 + 0) / 2)  # row 1's top class is negative
    assert recall_at_k(scores, labels, 3) == pytest.approx((2 / 2 + 2 / 2) / 2)
    assert math.isnan(precision_at_k(scores[2:], labels[2:], 1))


def test_inputs_not_modified_and_errors() -> None:
    scores = torch.rand(10, 4)
    labels = torch.randint(-1, 2, (10, 4))
    s0, y0 = scores.clone(), labels.clone()
    f1_scores(scores, labels, top_k=2)
    precision_at_k(scores, labels, 2)
    assert torch.equal(scores, s0) and torch.equal(labels, y0)
    with pytest.raises(PartialMLError, match="top_k"):
        f1_scores(scores, labels, top_k=0)
    with pytest.raises(PartialMLError, match="zero_division"):
        f1_scores(scores, labels, zero_division=2.0)
    with pytest.raises(PartialMLError, match="empty_row"):
        precision_at_k(scores, labels, 1, empty_row="drop")  # type: ignore[arg-type]
    with pytest.raises(PartialMLError, match="k must"):
        recall_at_k(scores, labels, 0)
