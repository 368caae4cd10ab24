"""AP / mAP: scikit-learn per class (ties, ignored rows, empty classes), torchmetrics, hand examples."""

from __future__ import annotations

import json
import math
import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from partialml.errors import PartialMLError
from partialml.metrics import MAPReport, average_precision, map_report, mean_average_precision

AP_MODULE = sys.modules["partialml.metrics.average_precision"]


def sklearn_ap(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Reference: scikit-learn on the kept rows of each class; NaN where no positive is kept."""
    out = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        keep = labels[:, c] != -1
        y = labels[keep, c]
        if (y == 1).any():
            out[c] = average_precision_score(y, scores[keep, c])
    return out


@st.composite
def tied_problem(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 60))
    c = draw(st.integers(1, 6))
    levels = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(n, c)) / levels  # few distinct values: many ties
    if draw(st.booleans()):
        scores = scores.astype(np.float32)
    labels = rng.integers(-1, 2, size=(n, c)).astype(np.int64)
    if draw(st.booleans()):
        labels[:, 0] = rng.choice([0, -1], size=n)  # a class without positive
    if c > 1 and draw(st.booleans()):
        labels[:, -1] = -1  # a class whose rows are all ignored
    return scores, labels


@settings(max_examples=120, deadline=None)
@given(tied_problem())
def test_equals_sklearn_per_class_with_ties_and_ignored(problem: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = problem
    got = average_precision(scores, labels).numpy()
    ref = sklearn_ap(scores.astype(np.float64), labels)
    assert got.dtype == np.float64 and got.shape == (scores.shape[1],)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], atol=1e-6, rtol=0)


def test_float64_path_not_float32_representable_with_ties() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 7, size=(300, 5)) / 7.0 + 1e-12  # not float32-exact: argsort path
    labels = rng.integers(-1, 2, size=(300, 5))
    np.testing.assert_allclose(
        average_precision(scores, labels).numpy(), sklearn_ap(scores, labels), atol=1e-12
    )


def test_chunking_over_classes_gives_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    scores = np.round(rng.random((200, 13)), 2)
    labels = rng.integers(-1, 2, size=(200, 13))
    whole = average_precision(scores, labels).numpy()
    monkeypatch.setattr(AP_MODULE, "CHUNK_ELEMENTS", 450)  # two classes per chunk, last one partial
    chunked = average_precision(scores, labels).numpy()
    np.testing.assert_array_equal(whole, chunked)
    np.testing.assert_allclose(whole, sklearn_ap(scores, labels), atol=1e-12)


def test_matches_torchmetrics_on_classes_with_positives() -> None:
    tm = pytest.importorskip("torchmetrics.functional.classification")
    g = torch.Generator().manual_seed(3)
    scores = torch.round(torch.rand(400, 6, generator=g) * 10) / 10
    labels = torch.randint(-1, 2, (400, 6), generator=g)
    labels[:, 2] = torch.where(labels[:, 2] == 1, 0, labels[:, 2])  # class 2: no positive
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = tm.multilabel_average_precision(scores, labels, num_labels=6, average=None, ignore_index=-1)
    got = average_precision(scores, labels)
    has_pos = torch.tensor([True, True, False, True, True, True])
    torch.testing.assert_close(got[has_pos], ref.double()[has_pos], atol=1e-6, rtol=0)
    assert math.isnan(got[2].item())  # torchmetrics returns 0 here: the difference we document
    assert ref[2].item() == 0.0


def test_invariant_to_monotone_transform() -> None:
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(500, 7, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(-1, 2, (500, 7), generator=g)
    a = average_precision(logits, labels)
    b = average_precision(torch.sigmoid(logits), labels)
    c = average_precision(2 * logits - 5, labels)
    torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    torch.testing.assert_close(a, c, atol=1e-12, rtol=0)


# Hand example, 4 x 3. Class 0 keeps rows 0-2: 0.9 (+), 0.8 (-), 0.3 (+): AP = (1 + 2/3) / 2 = 5/6.
# Class 1 keeps rows 0, 1, 3: 0.6 (+) tied with 0.6 (-), then 0.1 (-): AP = 1/2 (the tie counts together).
# Class 2: no positive: NaN. mAP skip = (5/6 + 1/2) / 2 = 2/3; zero = (5/6 + 1/2 + 0) / 3 = 4/9.
HAND_SCORES = [[0.9, 0.1, 0.5], [0.8, 0.6, 0.4], [0.3, 0.7, 0.2], [0.2, 0.6, 0.1]]
HAND_LABELS = [[1, 0, 0], [0, 1, -1], [1, -1, 0], [-1, 0, 0]]


def test_hand_example_and_empty_class_policies() -> None:
    ap = average_precision(HAND_SCORES, HAND_LABELS)
    assert ap[0].item() == pytest.approx(5 / 6, abs=1e-15)
    assert ap[1].item() == pytest.approx(1 / 2, abs=1e-15)
    assert math.isnan(ap[2].item())
    assert mean_average_precision(HAND_SCORES, HAND_LABELS) == pytest.approx(2 / 3, abs=1e-15)
    assert mean_average_precision(HAND_SCORES, HAND_LABELS, empty_class="zero") == pytest.approx(
        4 / 9, abs=1e-15
    )


def test_map_report_and_to_dict() -> None:
    r = map_report(HAND_SCORES, HAND_LABELS)
    assert isinstance(r, MAPReport)
    assert r.mAP == pytest.approx(2 / 3) and r.num_skipped == 1 and r.skipped == [2]
    assert r.empty_class == "skip" and math.isnan(r.per_class[2].item())
    d = r.to_dict(class_names=["a", "b", "c"])
    json.dumps(d, allow_nan=False)  # plain JSON: no NaN
    assert d["mAP"] == pytest.approx(200 / 3)
    assert d["per_class"] == {"a": pytest.approx(500 / 6), "b": pytest.approx(50.0), "c": None}
    assert r.to_dict(percent=False)["per_class"][:2] == [pytest.approx(5 / 6), pytest.approx(0.5)]
    z = map_report(HAND_SCORES, HAND_LABELS, empty_class="zero")
    assert z.mAP == pytest.approx(4 / 9) and z.num_skipped == 0 and z.skipped == []
    assert z.per_class[2].item() == 0.0 and z.empty == [2]
    with pytest.raises(PartialMLError, match="class_names"):
        r.to_dict(class_names=["a"])


def test_all_classes_empty_gives_nan_under_skip() -> None:
    scores = [[0.1, 0.2], [0.3, 0.4]]
    labels = [[0, -1], [0, -1]]
    assert math.isnan(mean_average_precision(scores, labels))
    assert mean_average_precision(scores, labels, empty_class="zero") == 0.0
    assert map_report(scores, labels).to_dict()["mAP"] is None


def test_inputs_not_modified_and_any_dtype() -> None:
    g = torch.Generator().manual_seed(5)
    scores = torch.rand(50, 4, generator=g)
    labels = torch.randint(-1, 2, (50, 4), generator=g, dtype=torch.int8)
    s0, y0 = scores.clone(), labels.clone()
    ref = average_precision(scores.double(), labels)
    for s in (scores, scores.numpy(), scores.half(), scores.bfloat16()):
        out = average_precision(s, labels)
        assert out.dtype == torch.float64 and out.device.type == "cpu"
        if s is scores or isinstance(s, np.ndarray):
            torch.testing.assert_close(out, ref, equal_nan=True)
    assert torch.equal(scores, s0) and torch.equal(labels, y0)
    ints = average_precision(np.array([[3, 1], [1, 2], [2, 2]]), np.array([[1, 0], [0, 1], [0, 0]]))
    np.testing.assert_allclose(ints.numpy(), [1.0, 0.5])


def test_ignore_index_none_and_other_values() -> None:
    labels = np.array([[1, 0], [0, 1], [1, 0]])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.3]])
    np.testing.assert_allclose(average_precision(scores, labels, ignore_index=None).numpy(), [1.0, 1.0])
    lab255 = np.where(np.array([[0, 0], [0, 0], [1, 0]]) == 1, 255, labels)
    np.testing.assert_allclose(average_precision(scores, lab255, ignore_index=255).numpy(), [1.0, 1.0])


@pytest.mark.parametrize(
    ("scores", "labels", "pattern"),
    [
        ([[0.1, 0.2]], [[1, 0], [0, 1]], "shape"),
        ([0.1, 0.2], [1, 0], "2-d"),
        ([[float("nan"), 0.2]], [[1, 0]], "NaN"),
        ([[0.1, 0.2]], [[2, 0]], r"entry \(0, 0\)"),
        ([["a", "b"]], [[1, 0]], "dtype"),
    ],
)
def test_bad_inputs_raise_one_line_errors(scores: object, labels: object, pattern: str) -> None:
    with pytest.raises(PartialMLError, match=pattern) as info:
        average_precision(scores, labels)
    assert "\n" not in str(info.value)


def test_bad_policy_and_ignore_index() -> None:
    with pytest.raises(PartialMLError, match="empty_class"):
        mean_average_precision([[0.1]], [[1]], empty_class="drop")  # type: ignore[arg-type]
    with pytest.raises(PartialMLError, match="ignore_index"):
        average_precision([[0.1]], [[1]], ignore_index=0)


def test_no_rows_and_large_ranks_exact() -> None:
    assert torch.isnan(average_precision(np.zeros((0, 3)), np.zeros((0, 3), dtype=int))).all()
    # Many rows, few positives: float64 accumulation, exact against sklearn.
    rng = np.random.default_rng(6)
    scores = rng.random((20000, 3)).astype(np.float32)
    labels = (rng.random((20000, 3)) < 0.01).astype(np.int64)
    np.testing.assert_allclose(
        average_precision(scores, labels).numpy(), sklearn_ap(scores.astype(float), labels), atol=1e-9
    )
