"""Inverse-frequency re-weighting (``rw``): hand-computed weights and reductions to AN / IU."""

from __future__ import annotations

import math

import pytest
import torch

from partialml.errors import PartialMLError
from partialml.losses import create_loss
from partialml.losses.functional import an_loss, inverse_frequency_weights, iu_loss


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_weights_by_hand() -> None:
    # counts 1, 4, 0 -> clamped 1, 4, 1 -> 1, 0.25, 1 -> mean 0.75
    assert inverse_frequency_weights([1, 4, 0]).tolist() == pytest.approx([4 / 3, 1 / 3, 4 / 3])
    # square-root smoothing: 1, 0.5, 1 -> mean 2.5 / 3
    assert inverse_frequency_weights([1, 4, 0], power=0.5).tolist() == pytest.approx([1.2, 0.6, 1.2])


def test_loss_value_by_hand() -> None:
    logits = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    targets = torch.tensor([[1, -1]])
    loss = create_loss("rw", class_counts=[1, 3], reduction="sum")
    # weights [1.5, 0.5]; AN terms: softplus(-0.5) on the positive, softplus(-1.0) on the assumed negative
    expected = 1.5 * softplus(-0.5) + 0.5 * softplus(-1.0)
    assert float(loss(logits, targets)) == pytest.approx(expected)


def test_power_zero_is_an_and_ignore_is_iu() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 4, dtype=torch.float64)
    targets = torch.randint(-1, 2, (6, 4))
    counts = [5, 1, 2, 9]
    torch.testing.assert_close(
        create_loss("rw", class_counts=counts, power=0.0)(logits, targets), an_loss(logits, targets)
    )
    torch.testing.assert_close(
        create_loss("rw", class_counts=counts, power=0.0, unknown="ignore")(logits, targets),
        iu_loss(logits, targets),
    )


def test_from_labels_counts_observed_positives() -> None:
    observed = torch.tensor([[1, -1, 0], [1, 1, -1], [1, -1, -1]])
    loss = create_loss("rw", labels=observed)
    assert loss.class_weights.tolist() == pytest.approx(inverse_frequency_weights([3, 1, 0]).tolist())


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(PartialMLError, match="power"):
        create_loss("rw", class_counts=[1, 2], power=-1)
    with pytest.raises(PartialMLError, match="unknown"):
        create_loss("rw", class_counts=[1, 2], unknown="positive")
    with pytest.raises(PartialMLError, match="classes"):
        create_loss("rw", class_counts=[1, 2, 3])(torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.int8))
