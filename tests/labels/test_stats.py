"""Label statistics and class groups: hand-computed values; matrix and store give the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from partialml.errors import PartialMLError
from partialml.labels import (
    LabelStore,
    cardinality,
    density,
    frequency_groups,
    head_medium_tail,
    label_counts,
    label_statistics,
    positives_per_class,
    positives_per_sample,
)
from partialml.labels.store import Layout

LABELS = np.array([[1, 0, -1, 1], [-1, -1, -1, 1], [0, 0, 0, 0]], dtype=np.int8)


def test_counts_by_hand() -> None:
    counts = label_counts(LABELS)
    assert counts["positives"].tolist() == [1, 0, 0, 2]
    assert counts["negatives"].tolist() == [1, 2, 1, 1]
    assert counts["unknown"].tolist() == [1, 1, 2, 0]
    assert positives_per_sample(LABELS).tolist() == [2, 1, 0]
    assert cardinality(LABELS) == pytest.approx(1.0)
    assert density(LABELS) == pytest.approx(0.25)
    stats = label_statistics(LABELS)
    assert stats == {
        "num_samples": 3,
        "num_classes": 4,
        "positives": 3,
        "negatives": 5,
        "unknown": 4,
        "cardinality": 1.0,
        "density": 0.25,
        "annotated_fraction": pytest.approx(8 / 12),
        "classes_without_positive": 2,
        "samples_without_positive": 1,
    }


@settings(max_examples=40, deadline=None)
@given(
    labels=st.tuples(st.integers(1, 10), st.integers(1, 6)).flatmap(
        lambda s: arrays(np.int8, s, elements=st.sampled_from([-1, 0, 1]))
    ),
    layout=st.sampled_from(["dense", "csr"]),
)
def test_store_and_matrix_agree(labels: np.ndarray, layout: Layout) -> None:
    store = LabelStore.from_dense(labels, layout=layout)
    assert label_statistics(store) == label_statistics(labels)
    for key, value in label_counts(store).items():
        np.testing.assert_array_equal(value, label_counts(torch.from_numpy(labels))[key])
    np.testing.assert_array_equal(positives_per_class(store), (labels == 1).sum(0))
    assert density(store) == pytest.approx(density(labels))


def test_head_medium_tail_boundaries() -> None:
    groups = head_medium_tail(np.array([100, 99, 20, 19, 0, 1128, 6]))
    assert groups["head"].tolist() == [0, 5]
    assert groups["medium"].tolist() == [1, 2]
    assert groups["tail"].tolist() == [3, 4, 6]
    assert all(v.dtype == np.int64 for v in groups.values())
    custom = head_medium_tail(torch.tensor([10, 5, 4]), head=10, tail=5)
    assert {k: v.tolist() for k, v in custom.items()} == {"head": [0], "medium": [1], "tail": [2]}
    with pytest.raises(PartialMLError, match="tail <= head"):
        head_medium_tail([1, 2], head=5, tail=10)
    with pytest.raises(PartialMLError, match="non-negative"):
        head_medium_tail([1, -2])


def test_frequency_groups() -> None:
    counts = np.array([50, 3, 3, 900, 7, 12, 1, 40, 8, 100, 2])
    groups = frequency_groups(counts)
    assert list(groups) == ["G1", "G2", "G3", "G4", "G5"]
    # ascending by count, ties by index (each group then sorted): 6(1) 10(2) 1(3) 2(3) 4(7) 8(8) 5(12) 7(40) 0(50) 9(100) 3(900)
    assert {k: v.tolist() for k, v in groups.items()} == {
        "G1": [1, 6, 10],
        "G2": [2, 4],
        "G3": [5, 8],
        "G4": [0, 7],
        "G5": [3, 9],
    }
    sizes = [v.size for v in frequency_groups(np.arange(5000)[::-1], n_groups=5).values()]
    assert sizes == [1000] * 5
    assert frequency_groups(np.arange(5000)[::-1])["G1"].tolist() == list(range(4000, 5000))
    with pytest.raises(PartialMLError, match="n_groups"):
        frequency_groups(counts, n_groups=0)
