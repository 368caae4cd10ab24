"""``partialml.sklearn.PartialLabelClassifier``: scikit-learn's common checks, Pipeline, GridSearchCV,
seeds, validation of y, and mAP over known entries against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import average_precision_score, make_scorer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from partialml.errors import PartialMLError
from partialml.sklearn import EXPECTED_FAILED_CHECKS, PartialLabelClassifier, known_map_score

FAST = {"epochs": 3, "batch_size": 32, "lr": 0.01}


@parametrize_with_checks(
    [PartialLabelClassifier(loss="an", **FAST)],  # type: ignore[arg-type]
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_common_checks(estimator, check) -> None:
    check(estimator)


def problem(seed: int = 0, n: int = 160, d: int = 6, c: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, full labels, single-positive observed labels)``: labels linear in X, X on a wild scale."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(d, c))
    full = (x @ w > 0).astype(np.int8)
    full[np.arange(n), np.argmax(x @ w, axis=1)] = 1
    observed = np.full_like(full, -1)
    for i in range(n):
        observed[i, rng.choice(np.nonzero(full[i])[0])] = 1
    return (x * 50.0 + 7.0).astype(np.float32), full, observed


def test_fit_predict_shapes_attributes_and_quality() -> None:
    x, full, observed = problem()
    clf = PartialLabelClassifier(loss="ll-r", epochs=10, batch_size=16, lr=0.01)
    assert clf.fit(x, observed) is clf
    assert clf.n_features_in_ == 6 and clf.classes_.tolist() == [0, 1, 2]
    proba = clf.predict_proba(x)
    assert proba.shape == (160, 3) and ((proba > 0) & (proba < 1)).all()
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-clf.decision_function(x))), rtol=1e-12)
    assert set(np.unique(clf.predict(x))) <= {0, 1}
    assert clf.score(x, full) > 0.85


def test_score_is_map_over_known_entries_as_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(-1, 2, size=(40, 3))
    s = rng.random((40, 3))
    want = np.mean([average_precision_score(y[y[:, c] >= 0, c], s[y[:, c] >= 0, c]) for c in range(3)])
    assert known_map_score(y, s) == pytest.approx(want)


def test_same_seed_same_model_other_seed_other_model_and_no_global_effect() -> None:
    import torch

    x, _, observed = problem()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = PartialLabelClassifier(loss="an", seed=5, **FAST).fit(x, observed).predict_proba(x)
    assert torch.rand(1) == before  # the fit left the global torch generator where it was
    b = PartialLabelClassifier(loss="an", seed=5, **FAST).fit(x, observed).predict_proba(x)
    c = PartialLabelClassifier(loss="an", seed=6, **FAST).fit(x, observed).predict_proba(x)
    assert (a == b).all() and not np.allclose(a, c)


def test_bad_y_and_options_raise_one_line() -> None:
    x, full, observed = problem()
    bad = observed.copy()
    bad[0, 0] = 2
    with pytest.raises(PartialMLError, match="expected 1, 0 or -1"):
        PartialLabelClassifier(**FAST).fit(x, bad)
    with pytest.raises(PartialMLError, match="multi-label"):
        PartialLabelClassifier(**FAST).fit(x, full[:, 0])
    with pytest.raises(PartialMLError, match="val_fraction"):
        PartialLabelClassifier(threshold="tuned", **FAST).fit(x, observed)
    with pytest.raises(PartialMLError, match="no option"):
        PartialLabelClassifier(loss="an", loss_args={"nope": 1}, **FAST).fit(x, observed)


def test_tuned_thresholds_come_from_the_validation_split() -> None:
    x, _, observed = problem()
    clf = PartialLabelClassifier(loss="an", val_fraction=0.25, threshold="tuned", **FAST).fit(x, observed)
    assert clf.thresholds_.shape == (3,) and not np.allclose(clf.thresholds_, 0.5)
    assert (clf.predict(x) == (clf.predict_proba(x) >= clf.thresholds_)).all()


def test_pipeline_and_grid_search_with_a_known_entries_map_scorer() -> None:
    x, full, observed = problem()
    pipe = make_pipeline(
        StandardScaler(), PartialLabelClassifier(loss="an", standardize=False, epochs=10, batch_size=16)
    )
    pipe.fit(x, observed)
    assert pipe.predict_proba(x).shape == (160, 3)
    scorer = make_scorer(known_map_score, response_method="predict_proba")
    search = GridSearchCV(
        pipe,
        {"partiallabelclassifier__loss": ["an", "ll-r"], "partiallabelclassifier__lr": [1e-4, 1e-2]},
        scoring=scorer,
        cv=KFold(3, shuffle=True, random_state=0),
    )
    # Single-positive labels have no known negative: the known-entries mAP would be 1 everywhere. The
    # search scores partial labels with both kinds known (half the entries hidden).
    partial = np.where(np.random.default_rng(2).random(full.shape) < 0.5, full, -1).astype(np.int8)
    assert known_map_score(observed, np.random.default_rng(3).random(full.shape)) == 1.0
    search.fit(x, partial)
    assert search.best_params_["partiallabelclassifier__lr"] == 1e-2  # 10 epochs at 1e-4 barely move
    again = clone(search).fit(x, partial)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], again.cv_results_["mean_test_score"])
    assert search.score(x, full) > 0.8
    params = search.best_estimator_.get_params()
    assert params["partiallabelclassifier__loss"] in ("an", "ll-r")
