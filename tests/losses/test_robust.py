"""Hill and SPLC (Zhang et al. 2021): hand values, gradient shape of Hill, SPLC pseudo-labels."""

from __future__ import annotations

import math

import pytest
import torch

from partialml.losses import create_loss
from partialml.losses.robust import hill_loss, splc_loss, splc_pseudo_labels


def sp(x: float) -> float:
    """softplus: ``-log sigmoid(z) = sp(-z)``, ``-log(1 - sigmoid(z)) = sp(z)``."""
    return math.log1p(math.exp(x))


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# tiny batch: logits [[0.5, -1, 2], [1, -0.5, 0]], targets [[1, 0, -1], [-1, 1, -1]]
POS_Z = (0.5, -0.5)
OTHER_Z = (-1.0, 2.0, 1.0, 0.0)  # observed negative, then the unknown entries
UNKNOWN_Z = (2.0, 1.0, 0.0)


def test_hill_hand(tiny):
    z, t = tiny
    pos = sum(sig(1 - v) ** 2 * sp(1 - v) for v in POS_Z)  # -(1 - p_m)^2 log p_m, p_m = sig(z - 1)
    neg = sum((1.5 - sig(v)) * sig(v) ** 2 for v in OTHER_Z)
    assert hill_loss(z, t).item() == pytest.approx(pos + neg, rel=1e-12)
    assert create_loss("hill")(z, t).item() == pytest.approx(pos + neg, rel=1e-12)  # sum reduction


def test_hill_negative_gradient():
    # logit gradient of (1.5 - p) p^2 is 3 p^2 (1 - p)^2: 3/16 at p = 0.5
    z = torch.linspace(-8, 8, 33, dtype=torch.float64).reshape(1, -1).requires_grad_()
    t = torch.zeros_like(z, dtype=torch.int8)
    hill_loss(z, t).backward()
    p = torch.sigmoid(z.detach())
    torch.testing.assert_close(z.grad, 3 * p**2 * (1 - p) ** 2)
    assert z.grad[0, 16].item() == pytest.approx(3 / 16)
    # gradient in p, 3p - 3p^2, vanishes at p = 0 and p = 1
    p01 = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64, requires_grad=True)
    ((1.5 - p01) * p01**2).sum().backward()
    torch.testing.assert_close(p01.grad, torch.tensor([0.0, 0.0, 0.75], dtype=torch.float64))
    assert z.grad[0, 0].abs().item() < 1e-6 and z.grad[0, -1].abs().item() < 1e-6


def test_hill_unknown_and_observed_negative_alike():
    z = torch.tensor([[0.3, 0.3]], dtype=torch.float64)
    out = hill_loss(z, torch.tensor([[0, -1]]), reduction="none")
    assert out[0, 0].item() == out[0, 1].item()


def test_splc_epoch0_no_pseudo_labels(tiny):
    z, t = tiny
    pos = sum(sig(1 - v) ** 2 * sp(1 - v) for v in POS_Z)  # focal margin on observed positives
    neg = sum(sig(v) ** 2 * sp(v) for v in OTHER_Z)  # focal negatives p^2 (-log(1 - p))
    assert splc_loss(z, t, epoch=0).item() == pytest.approx(pos + neg, rel=1e-12)
    loss = create_loss("splc")
    loss.set_epoch(0)
    assert loss(z, t).item() == pytest.approx(pos + neg, rel=1e-12)


def test_splc_epoch1_hand(tiny):
    z, t = tiny
    # unknown z=2 (p 0.88) and z=1 (p 0.73) exceed tau 0.6: positives with the unshifted logit
    pos = sum(sig(1 - v) ** 2 * sp(1 - v) for v in POS_Z) + sum(sig(-v) ** 2 * sp(-v) for v in (2.0, 1.0))
    neg = sum(sig(v) ** 2 * sp(v) for v in (-1.0, 0.0))
    loss = create_loss("splc")
    loss.set_epoch(1)
    assert loss(z, t).item() == pytest.approx(pos + neg, rel=1e-12)
    mask = splc_pseudo_labels(z, t, tau=0.6)
    assert torch.equal(mask, torch.tensor([[False, False, True], [True, False, False]]))


def test_splc_never_pseudo_labels_observed_negative():
    z = torch.tensor([[3.0, 3.0]], dtype=torch.float64)
    t = torch.tensor([[0, -1]])
    assert torch.equal(splc_pseudo_labels(z, t), torch.tensor([[False, True]]))
    out = splc_loss(z, t, epoch=5, reduction="none")
    assert out[0, 0].item() == pytest.approx(sig(3.0) ** 2 * sp(3.0), rel=1e-12)  # still a negative
    assert out[0, 1].item() == pytest.approx(sig(-3.0) ** 2 * sp(-3.0), rel=1e-12)  # pseudo-positive


def test_splc_change_epoch_and_tau():
    z = torch.tensor([[0.5]], dtype=torch.float64)  # p = 0.62
    t = torch.tensor([[-1]])
    neg = sig(0.5) ** 2 * sp(0.5)
    pos = sig(-0.5) ** 2 * sp(-0.5)
    assert splc_loss(z, t, epoch=2, change_epoch=3).item() == pytest.approx(neg)
    assert splc_loss(z, t, epoch=3, change_epoch=3).item() == pytest.approx(pos)
    assert splc_loss(z, t, epoch=3, tau=0.7).item() == pytest.approx(neg)


@pytest.mark.parametrize("name", ["hill", "splc"])
def test_reductions_consistent(name, random_batch):
    z, t = random_batch(5, 6, seed=3)
    losses = {r: create_loss(name, reduction=r) for r in ("none", "sum", "mean")}
    for loss in losses.values():
        loss.set_epoch(2)
    none = losses["none"](z, t)
    assert none.shape == (5, 6)
    torch.testing.assert_close(losses["sum"](z, t), none.sum())
    torch.testing.assert_close(losses["mean"](z, t), none.mean())
    default = create_loss(name)
    default.set_epoch(2)
    torch.testing.assert_close(default(z, t), none.sum())  # original: sum


@pytest.mark.parametrize("epoch", [0, 2])
@pytest.mark.parametrize("name", ["hill", "splc"])
def test_gradcheck(name, epoch, random_batch):
    z, t = random_batch(3, 4, seed=6)
    loss = create_loss(name)
    loss.set_epoch(epoch)
    assert torch.autograd.gradcheck(lambda x: loss(x, t), (z.requires_grad_(),))
