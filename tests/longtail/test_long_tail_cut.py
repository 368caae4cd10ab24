"""The Pareto long-tail cut, its parser, the head/medium/tail groups, loss class counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partialml.errors import PartialMLError
from partialml.labels.long_tail import (
    head_medium_tail,
    loss_class_counts,
    pareto_cut,
    pareto_targets,
    parse_long_tail,
)


def _data(seed: int = 0, n: int = 2000, c: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < 0.15).astype(np.int8)
    y[np.arange(n), rng.integers(0, c, n)] = 1
    return y


def test_cut_is_seeded_long_tailed_and_subset() -> None:
    y = _data()
    rows = pareto_cut(y, seed=0)
    assert np.array_equal(rows, pareto_cut(y, seed=0))
    assert not np.array_equal(rows, pareto_cut(y, seed=1))
    assert (np.diff(rows) > 0).all() and rows.min() >= 0 and rows.max() < len(y)
    before = (y == 1).sum(0)
    after = np.sort((y[rows] == 1).sum(0))[::-1]
    # imbalance ratio grows by a large factor: a long tail was made
    assert after[0] / max(after[-1], 1) > 5 * before.max() / before.min()
    assert after[-1] >= 1


def test_targets_profile() -> None:
    t = pareto_targets([100, 80, 60, 40], max_count=50, min_count=2, seed=0)
    assert t.max() == 50 and t.min() == 2 and t[0] == 50  # the largest target to the largest class
    assert (t <= [100, 80, 60, 40]).all()


def test_disjoint_classes_reach_targets_exactly() -> None:
    y = np.eye(4, dtype=np.int8).repeat([60, 50, 40, 30], axis=0)
    rows = pareto_cut(y, max_count=40, seed=3)
    t = pareto_targets((y == 1).sum(0), max_count=40, seed=3)
    assert ((y[rows] == 1).sum(0) == t).all()  # no co-occurrence: targets met exactly


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 8))
def test_every_class_with_positives_keeps_at_least_min(seed: int, c: int) -> None:
    y = _data(seed, n=200, c=c)
    rows = pareto_cut(y, seed=seed, min_count=1)
    assert ((y[rows] == 1).sum(0) >= 1).all()


def test_parse() -> None:
    assert parse_long_tail("pareto").alpha == 6.0
    spec = parse_long_tail("pareto:3,max=500,min=2,seed=4")
    assert (spec.alpha, spec.max_count, spec.min_count, spec.seed) == (3.0, 500, 2, 4)
    for bad in ("zipf", "pareto:x", "pareto:0", "pareto,min=0", "pareto,foo=1"):
        with pytest.raises(PartialMLError, match="--long-tail"):
            parse_long_tail(bad)


def test_groups_and_scale() -> None:
    g = head_medium_tail([150, 100, 99, 20, 19, 0])
    assert g["head"].tolist() == [0, 1] and g["medium"].tolist() == [2, 3] and g["tail"].tolist() == [4, 5]
    g = head_medium_tail([150, 50, 10, 9], scale=0.5)  # thresholds 50 and 10
    assert g["head"].tolist() == [0, 1] and g["medium"].tolist() == [2] and g["tail"].tolist() == [3]


def test_loss_class_counts_clips() -> None:
    obs = np.array([[1, -1, 1], [1, -1, -1], [1, 0, -1]], dtype=np.int8)
    counts, n, clipped = loss_class_counts(obs)
    assert counts.tolist() == [2, 1, 1] and n == 3 and clipped == 2
