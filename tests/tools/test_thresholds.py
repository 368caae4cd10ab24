"""Per-class thresholds: hand example, brute force, F1 never below the 0.5 cut, the run / CLI path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from partialml.tools.thresholds import f1_at, run_thresholds, tune_thresholds


def test_hand_example_and_fallback() -> None:
    scores = np.array([[0.9, 0.8], [0.4, 0.7], [0.3, 0.2], [0.1, 0.6]])
    labels = np.array([[1, 0], [1, -1], [0, 0], [0, 0]])
    t = tune_thresholds(scores, labels)
    # class 0: cut at 0.4 predicts the two positives, F1 = 1; class 1 has no known positive: 0.5
    assert t.tolist() == [0.4, 0.5]
    assert f1_at(scores, labels, t).tolist() == [1.0, 0.0]


def test_f1_at_matches_scikit_learn_on_known_entries() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((50, 3))
    labels = rng.integers(-1, 2, size=(50, 3))
    got = f1_at(scores, labels, np.array([0.3, 0.5, 0.7]))
    for c, t in enumerate([0.3, 0.5, 0.7]):
        kept = labels[:, c] != -1
        want = f1_score(labels[kept, c], (scores[kept, c] >= t).astype(int), zero_division=0)
        assert got[c] == pytest.approx(want)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=30).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.6, 0.9, 1.0]), min_size=n * 2, max_size=n * 2),
            st.lists(st.sampled_from([-1, 0, 1]), min_size=n * 2, max_size=n * 2),
        )
    )
)
def test_tuned_f1_is_the_best_cut_and_never_below_the_default(data: tuple[list[float], list[int]]) -> None:
    s = np.array(data[0]).reshape(-1, 2)
    y = np.array(data[1]).reshape(-1, 2)
    t = tune_thresholds(s, y)
    tuned, default = f1_at(s, y, t), f1_at(s, y, 0.5)
    assert (tuned >= default - 1e-12).all()
    for c in range(2):
        if not (y[:, c] == 1).any():
            assert t[c] == 0.5
            continue
        brute = max(f1_at(s[:, [c]], y[:, [c]], v)[0] for v in [*np.unique(s[:, c]), 2.0])
        assert tuned[c] == pytest.approx(brute)


def test_run_thresholds_improve_validation_f1_and_are_stored(trained: Path) -> None:
    result = run_thresholds(trained, device="cpu")
    assert (result.f1_tuned >= result.f1_default - 1e-12).all()
    assert result.f1_tuned.mean() > result.f1_default.mean()  # single-positive AN scores are low: 0.5 misses
    stored = json.loads((trained / "thresholds.json").read_text())
    assert stored["thresholds"] == pytest.approx(result.thresholds.tolist())
    assert stored["val_labels"] == "clean" and stored["num_val"] == result.num_val > 0


def test_cli_predict_thresholds_tuned(trained: Path, data_dir: Path, tmp_path: Path, cli) -> None:
    scores_csv, labels_csv = tmp_path / "p.csv", tmp_path / "l.csv"
    base = ["predict", "--run", str(trained), "--data", str(data_dir), "--device", "cpu"]
    assert cli([*base, "--output", str(scores_csv)])[0] == 0
    code, _, err = cli([*base, "--output", str(labels_csv), "--thresholds", "tuned"])
    assert code == 0, err
    t = np.array(json.loads((trained / "thresholds.json").read_text())["thresholds"])
    probs = np.array([[float(v) for v in r[1:]] for r in list(csv.reader(scores_csv.open()))[1:]])
    got = np.array([[int(v) for v in r[1:]] for r in list(csv.reader(labels_csv.open()))[1:]])
    decided = np.abs(probs - t) > 1e-5  # the CSV rounds scores to 6 digits
    assert (got[decided] == (probs >= t)[decided]).all()
    code, _, err = cli([*base, "--thresholds", "tuned", "--threshold", "0.3"])
    assert code == 2 and err.count("\n") == 1
    code, _, err = cli([*base, "--thresholds", "best"])
    assert code == 2 and "--thresholds" in err


def test_run_without_validation_cannot_tune(make_run, data_dir: Path, cli) -> None:
    run = make_run("--loss", "an", "--val-fraction", "0")
    code, _, err = cli(["predict", "--run", str(run), "--data", str(data_dir), "--thresholds", "tuned"])
    assert code == 2 and err.count("\n") == 1 and "validation" in err
