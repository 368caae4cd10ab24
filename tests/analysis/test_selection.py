"""Selection precision / recall against a hand-made mask; the recorder reads LL's ``last_selection``."""

from __future__ import annotations

import pytest
import torch

from partialml.analysis.selection import SelectionCounts, SelectionRecorder, selection_counts
from partialml.errors import PartialMLError
from partialml.losses import create_loss


def test_counts_by_hand() -> None:
    targets = torch.tensor([[1, -1, -1, -1], [-1, -1, 0, -1]])
    full = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 0]])
    chosen = torch.tensor([[False, True, True, False], [True, False, False, False]])
    c = selection_counts(chosen, targets, full)
    # unknown: 6 entries; false negatives among them: (0,1), (0,3), (1,0) -> 3; chosen 3, of which FN 2
    assert (c.chosen, c.chosen_fn, c.unknown, c.fn) == (3, 2, 6, 3)
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)
    assert c.fn_rate == pytest.approx(0.5)


def test_empty_selection_has_no_precision() -> None:
    c = selection_counts(
        torch.zeros(1, 2, dtype=torch.bool), torch.tensor([[-1, -1]]), torch.tensor([[1, 0]])
    )
    assert c.precision is None and c.recall == 0.0
    total = SelectionCounts()
    total += c
    total += c
    assert (total.unknown, total.fn) == (4, 2)


def test_choosing_an_observed_entry_is_an_error() -> None:
    with pytest.raises(PartialMLError):
        selection_counts(torch.tensor([[True]]), torch.tensor([[1]]), torch.tensor([[1]]))


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "ll-cp"])
def test_recorder_uses_the_loss_selection(name: str) -> None:
    loss = create_loss(name, delta_rel=0.25)
    loss.set_epoch(1)
    targets = torch.tensor([[1, -1, -1, -1], [-1, 1, -1, -1]])
    full = torch.tensor([[1, 1, 0, 0], [0, 1, 0, 1]])
    logits = torch.tensor([[2.0, 3.0, -1.0, 0.5], [-2.0, 1.0, 1.5, -3.0]])
    loss(logits, targets)
    # k = ceil(8 * 0.25) = 2 largest unknown logits: (0,1) = 3.0 (FN) and (1,2) = 1.5 (TN)
    assert loss.last_selection.nonzero().tolist() == [[0, 1], [1, 2]]
    rec = SelectionRecorder(full=full)
    rec(1, 0, torch.tensor([0, 1]), logits, targets, loss)
    (row,) = rec.rows()
    assert row["epoch"] == 1 and row["precision"] == 0.5 and row["recall"] == 0.5  # FN: (0,1), (1,3)


def test_ll_r_mask_is_what_it_rejects() -> None:
    loss = create_loss("ll-r", delta_rel=0.25, reduction="none")
    loss.set_epoch(1)
    targets = torch.tensor([[1, -1, -1, -1]])
    per_entry = loss(torch.tensor([[1.0, 2.0, -1.0, 0.0]]), targets)
    assert torch.equal(per_entry == 0, loss.last_selection)
