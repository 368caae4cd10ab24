"""Class groups (head / medium / tail, frequency quantiles) and their NaN-skipping mean AP, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from partialml.errors import PartialMLError
from partialml.metrics import frequency_quantile_groups, group_mean_ap, head_medium_tail_groups


def as_lists(groups: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {k: v.tolist() for k, v in groups.items()}


def test_head_medium_tail_boundaries() -> None:
    counts = [100, 99, 20, 19, 0, 1128, 6]
    assert as_lists(head_medium_tail_groups(counts)) == {"head": [0, 5], "medium": [1, 2], "tail": [3, 4, 6]}
    assert as_lists(head_medium_tail_groups(torch.tensor(counts), head=50, tail=10)) == {
        "head": [0, 1, 5],
        "medium": [2, 3],
        "tail": [4, 6],
    }
    with pytest.raises(PartialMLError, match="tail <= head"):
        head_medium_tail_groups(counts, head=10, tail=20)
    with pytest.raises(PartialMLError, match="non-negative"):
        head_medium_tail_groups([3, -1])


def test_frequency_quantile_groups_hand_example() -> None:
    counts = np.array([50, 3, 7, 1, 9, 2, 8, 100, 4, 6, 5])  # 11 classes -> sizes 3, 2, 2, 2, 2
    groups = frequency_quantile_groups(counts)
    # ranks ascending: 3(1) 5(2) 1(3) | 8(4) 10(5) | 9(6) 2(7) | 6(8) 4(9) | 0(50) 7(100)
    assert as_lists(groups) == {"G1": [1, 3, 5], "G2": [8, 10], "G3": [2, 9], "G4": [4, 6], "G5": [0, 7]}
    ties = frequency_quantile_groups([1, 1, 1, 1], n_groups=2)  # ties: by class index
    assert as_lists(ties) == {"G1": [0, 1], "G2": [2, 3]}
    with pytest.raises(PartialMLError, match="exceeds"):
        frequency_quantile_groups([1, 2], n_groups=3)
    with pytest.raises(PartialMLError, match="n_groups"):
        frequency_quantile_groups([1, 2], n_groups=0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=40), st.integers(1, 8))
def test_quantile_groups_partition_and_order(counts: list[int], n_groups: int) -> None:
    n_groups = min(n_groups, len(counts))
    groups = frequency_quantile_groups(counts, n_groups=n_groups)
    members = np.concatenate(list(groups.values()))
    assert sorted(members.tolist()) == list(range(len(counts)))
    sizes = [len(v) for v in groups.values()]
    assert max(sizes) - min(sizes) <= 1
    c = np.asarray(counts)
    for lo, hi in zip(list(groups.values())[:-1], list(groups.values())[1:], strict=True):
        assert c[lo].max() <= c[hi].min()  # G1 rarest


def test_group_mean_ap_skips_nan() -> None:
    ap = torch.tensor([0.2, float("nan"), 0.6, 1.0, float("nan")], dtype=torch.float64)
    groups = {"a": np.array([0, 1, 2]), "b": [3], "c": [1, 4], "d": np.array([], dtype=int)}
    out = group_mean_ap(ap, groups)
    assert list(out) == ["a", "b", "c", "d"]
    assert out["a"] == pytest.approx(0.4) and out["b"] == 1.0
    assert math.isnan(out["c"]) and math.isnan(out["d"])
    mask = np.array([True, False, False, True, False])
    assert group_mean_ap(ap, {"m": mask}) == {"m": pytest.approx(0.6)}
    hmt = head_medium_tail_groups([150, 30, 5, 120, 2])
    assert group_mean_ap(ap, hmt) == {
        "head": pytest.approx(0.6),
        "medium": pytest.approx(float("nan"), nan_ok=True),
        "tail": pytest.approx(0.6),
    }
    with pytest.raises(PartialMLError, match="out of range"):
        group_mean_ap(ap, {"x": [5]})
    with pytest.raises(PartialMLError, match="mask"):
        group_mean_ap(ap, {"x": np.array([True])})
