"""Table 1 shares, categories, curves and the loss recorder against hand counts and direct computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from partialml.analysis.memorization import (
    CATEGORIES,
    LossRecorder,
    categorize_entries,
    loss_curves,
    memorization_table,
    sample_entries,
)
from partialml.errors import PartialMLError

TP, TN, FN, ON = (CATEGORIES.index(n) for n in CATEGORIES)


def test_categories_by_hand() -> None:
    observed = np.array([[1, -1, -1, 0], [-1, 1, -1, -1]], np.int8)
    full = np.array([[1, 1, 0, 0], [0, 1, 1, -1]], np.int8)
    codes = categorize_entries(observed, full)
    assert codes.tolist() == [[TP, FN, TN, ON], [TN, TP, FN, -1]]


def test_table1_matches_hand_counts() -> None:
    # 3 epochs x 7 entries; peak epoch per entry written in the comment
    history = np.array(
        [
            [5.0, 1.0, 2.0, 0.3, 4.0, 1.0, 9.0],
            [4.0, 3.0, 2.0, 0.2, 1.0, 2.0, 0.0],
            [1.0, 2.0, 1.0, 0.9, 0.5, 3.0, 0.0],
        ]
    )  # peaks: 0, 1, 0 (tie 0/1 -> 0), 2, 0, 2, 0
    cats = np.array([FN, FN, FN, TN, TN, TP, -1])
    table = memorization_table(history, cats)
    assert set(table) == {"true_positive", "true_negative", "false_negative"}  # no observed negative
    assert table["false_negative"] == {
        "count": 3, "warmup": 2, "later": 1, "share_warmup": 2 / 3, "share_later": 1 / 3,
    }  # fmt: skip
    assert (table["true_negative"]["warmup"], table["true_negative"]["later"]) == (1, 1)
    assert table["true_positive"]["share_warmup"] == 0.0


def test_table1_rejects_bad_shapes() -> None:
    with pytest.raises(PartialMLError):
        memorization_table(np.zeros((2, 3)), np.zeros(4, np.int8))


def test_curves_are_group_means() -> None:
    history = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 0.0]])
    rows = loss_curves(history, np.array([TP, TN, FN]))
    assert rows[0] == pytest.approx(
        {"epoch": 0, "clean": 2.0, "true_positive": 1.0, "true_negative": 3.0, "false_negative": 5.0,
         "observed_negative": None}
    )  # fmt: skip
    assert rows[1]["clean"] == 3.0 and rows[1]["false_negative"] == 0.0


def test_sample_entries_all_or_seeded_sample() -> None:
    assert sample_entries(3, 2, max_entries=10, seed=0).tolist() == list(range(6))
    a = sample_entries(100, 50, max_entries=300, seed=1)
    assert a.size == 300 and np.all(np.diff(a) > 0) and a.max() < 5000
    assert np.array_equal(a, sample_entries(100, 50, max_entries=300, seed=1))
    assert not np.array_equal(a, sample_entries(100, 50, max_entries=300, seed=2))


@pytest.mark.parametrize("sampled", [False, True])
def test_recorder_stores_the_an_loss_of_each_entry(sampled: bool) -> None:
    g = torch.Generator().manual_seed(0)
    n, c = 10, 3
    observed = torch.full((n, c), -1, dtype=torch.int8)
    observed[torch.arange(n), torch.arange(n) % c] = 1
    entries = sample_entries(n, c, max_entries=7 if sampled else 100, seed=3)
    rec = LossRecorder(observed.numpy(), num_epochs=2, entries=entries)
    logits_all = torch.randn(n, c, generator=g)
    for epoch in range(2):
        for positions in (torch.tensor([7, 2, 5]), torch.tensor([0, 1, 3, 4, 6, 8, 9])):
            rec(epoch, 0, positions, logits_all[positions] * (epoch + 1), observed[positions], None)
    for epoch in range(2):
        expected = F.binary_cross_entropy_with_logits(
            logits_all * (epoch + 1), (observed == 1).float(), reduction="none"
        ).reshape(-1)[torch.as_tensor(entries)]
        np.testing.assert_allclose(rec.history[epoch], expected.numpy(), rtol=1e-6)
    assert np.array_equal(rec.rows * c + rec.cols, entries)
