"""Focal and ASL (robust-loss-mlml baselines): hand values, reductions to BCE, detached weights."""

from __future__ import annotations

import math

import pytest
import torch

from partialml.errors import PartialMLError
from partialml.losses import create_loss
from partialml.losses.asymmetric import asl_loss, focal_loss
from partialml.losses.bce import an_loss


def sp(x: float) -> float:
    """softplus: ``-log sigmoid(z) = sp(-z)``, ``-log(1 - sigmoid(z)) = sp(z)``."""
    return math.log1p(math.exp(x))


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# tiny batch: logits [[0.5, -1, 2], [1, -0.5, 0]], targets [[1, 0, -1], [-1, 1, -1]]
POS_Z = (0.5, -0.5)
NEG_Z = (-1.0, 2.0, 1.0, 0.0)  # observed negative and unknown entries (AN-style)


def test_focal_hand(tiny):
    z, t = tiny
    expected = sum((1 - sig(v)) ** 2 * sp(-v) for v in POS_Z) + sum(sig(v) ** 2 * sp(v) for v in NEG_Z)
    assert focal_loss(z, t).item() == pytest.approx(expected, rel=1e-12)
    assert create_loss("focal")(z, t).item() == pytest.approx(expected, rel=1e-12)


def test_asl_hand(tiny):
    z, t = tiny
    pos = sum(sp(-v) for v in POS_Z)  # gamma_pos = 0
    neg = 0.0
    for v in NEG_Z:
        pm = max(sig(v) - 0.05, 0.0)
        neg += -(pm**4) * math.log(1 - pm)
    assert asl_loss(z, t).item() == pytest.approx(pos + neg, rel=1e-12)
    assert create_loss("asl")(z, t).item() == pytest.approx(pos + neg, rel=1e-12)


def test_asl_without_focusing_is_bce(random_batch):
    z, t = random_batch(7, 9, seed=2)
    out = asl_loss(z, t, gamma_neg=0, gamma_pos=0, clip=0, reduction="none")
    torch.testing.assert_close(out, an_loss(z, t, reduction="none"))
    loss = create_loss("asl", gamma_neg=0, gamma_pos=0, clip=0)
    torch.testing.assert_close(loss(z, t), an_loss(z, t, reduction="sum"))


def test_focal_gamma0_is_bce_on_an(random_batch):
    z, t = random_batch(7, 9, seed=8)
    torch.testing.assert_close(focal_loss(z, t, gamma=0.0), an_loss(z, t, reduction="sum"))


def test_asl_eps_clamp_as_original():
    # log(max(p, 1e-8)): a positive at z = -30 (p ~ 9e-14) costs -log(1e-8), with zero gradient
    z = torch.tensor([[-30.0]], dtype=torch.float64, requires_grad=True)
    out = asl_loss(z, torch.tensor([[1]]))
    assert out.item() == pytest.approx(-math.log(1e-8))
    out.backward()
    assert z.grad.item() == 0.0


def test_asl_clip_shifts_negatives():
    # p = sigmoid(z) <= clip: p_m = 0, the negative costs nothing
    z = torch.tensor([[math.log(0.04 / 0.96)]], dtype=torch.float64)
    assert asl_loss(z, torch.tensor([[-1]])).item() == 0.0


def test_detached_focusing_weights_gradient():
    # focal gamma 2, weights without grad: d/dz of w * CE is w * dCE/dz
    z = torch.tensor([[0.7, -0.3]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[1, -1]])
    focal_loss(z, t).backward()
    p_pos, p_neg = sig(0.7), sig(-0.3)
    assert z.grad[0, 0].item() == pytest.approx(-((1 - p_pos) ** 3))
    assert z.grad[0, 1].item() == pytest.approx(p_neg**3)
    # with the gradient through the weights the value is the same and the gradient differs
    z2 = z.detach().clone().requires_grad_()
    value = focal_loss(z2, t, disable_torch_grad_focal_loss=False)
    assert value.item() == pytest.approx(focal_loss(z.detach(), t).item())
    value.backward()
    assert abs(z2.grad[0, 1].item() - p_neg**3) > 1e-3


@pytest.mark.parametrize("name", ["focal", "asl"])
def test_reductions_consistent(name, random_batch):
    z, t = random_batch(5, 6, seed=4)
    none = create_loss(name, reduction="none")(z, t)
    assert none.shape == (5, 6)
    torch.testing.assert_close(create_loss(name, reduction="sum")(z, t), none.sum())
    torch.testing.assert_close(create_loss(name, reduction="mean")(z, t), none.mean())
    torch.testing.assert_close(create_loss(name)(z, t), none.sum())  # original: sum


@pytest.mark.parametrize("name", ["focal", "asl"])
def test_gradcheck(name, random_batch):
    z, t = random_batch(3, 4, seed=9)  # |z| small enough that no clamp is active
    loss = create_loss(name, disable_torch_grad_focal_loss=False)
    assert torch.autograd.gradcheck(lambda x: loss(x, t), (z.requires_grad_(),))


def test_bad_options():
    with pytest.raises(PartialMLError, match="clip"):
        create_loss("asl", clip=1.5)
    with pytest.raises(PartialMLError, match="gamma_neg"):
        create_loss("asl", gamma_neg=-1)
