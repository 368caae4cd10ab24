"""BCE-style losses (bce, an, iu, wan, an-ls) against hand-computed values and invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from partialml.errors import PartialMLError
from partialml.losses import create_loss
from partialml.losses.bce import an_loss, an_ls_loss, bce_loss, iu_loss, wan_loss


def sp(x: float) -> float:
    """softplus: ``-log sigmoid(z) = sp(-z)``, ``-log(1 - sigmoid(z)) = sp(z)``."""
    return math.log1p(math.exp(x))


# tiny batch: logits [[0.5, -1, 2], [1, -0.5, 0]], targets [[1, 0, -1], [-1, 1, -1]]
POS = sp(-0.5) + sp(0.5)  # observed positives (0,0) z=0.5 and (1,1) z=-0.5
OBS_NEG = sp(-1.0)  # observed negative (0,1) z=-1
UNK_NEG = sp(2.0) + sp(1.0) + sp(0.0)  # unknown entries as negatives


def test_an_hand(tiny):
    z, t = tiny
    assert an_loss(z, t).item() == pytest.approx((POS + OBS_NEG + UNK_NEG) / 6, rel=1e-12)
    assert create_loss("an")(z, t).item() == pytest.approx((POS + OBS_NEG + UNK_NEG) / 6, rel=1e-12)


def test_bce_and_iu_hand(tiny):
    z, t = tiny
    expected = (POS + OBS_NEG) / 6  # unknown contribute 0 but count in B*C
    assert bce_loss(z, t).item() == pytest.approx(expected, rel=1e-12)
    assert iu_loss(z, t).item() == pytest.approx(expected, rel=1e-12)
    assert create_loss("bce")(z, t).item() == pytest.approx(expected, rel=1e-12)
    assert create_loss("iu")(z, t).item() == pytest.approx(expected, rel=1e-12)


def test_wan_hand(tiny):
    z, t = tiny
    # C = 3 -> gamma = 1/2 on unknown entries only; the observed negative keeps weight 1
    expected = (POS + OBS_NEG + 0.5 * UNK_NEG) / 6
    assert wan_loss(z, t).item() == pytest.approx(expected, rel=1e-12)
    assert create_loss("wan")(z, t).item() == pytest.approx(expected, rel=1e-12)
    assert create_loss("wan", gamma=0.25)(z, t).item() == pytest.approx(
        (POS + OBS_NEG + 0.25 * UNK_NEG) / 6, rel=1e-12
    )


def test_an_ls_hand(tiny):
    z, t = tiny
    pos = 0.9 * sp(-0.5) + 0.1 * sp(0.5) + 0.9 * sp(0.5) + 0.1 * sp(-0.5)
    neg = sum(0.9 * sp(v) + 0.1 * sp(-v) for v in (-1.0, 2.0, 1.0, 0.0))
    assert an_ls_loss(z, t).item() == pytest.approx((pos + neg) / 6, rel=1e-12)
    assert create_loss("an-ls")(z, t).item() == pytest.approx((pos + neg) / 6, rel=1e-12)


def test_an_ls_eps0_is_an(random_batch):
    z, t = random_batch()
    torch.testing.assert_close(an_ls_loss(z, t, eps=0.0), an_loss(z, t))


def test_an_matches_torch_bce_on_an_target(random_batch):
    z, t = random_batch(9, 11, seed=3)
    ref = F.binary_cross_entropy(torch.sigmoid(z), (t == 1).double())
    torch.testing.assert_close(an_loss(z, t), ref)


@pytest.mark.parametrize("name", ["bce", "an", "iu", "wan", "an-ls"])
def test_reductions_consistent(name, random_batch):
    z, t = random_batch(4, 5, seed=1)
    none = create_loss(name, reduction="none")(z, t)
    assert none.shape == (4, 5)
    torch.testing.assert_close(create_loss(name, reduction="sum")(z, t), none.sum())
    torch.testing.assert_close(create_loss(name, reduction="mean")(z, t), none.mean())
    torch.testing.assert_close(create_loss(name)(z, t), none.mean())  # Cole: mean over B*C


def test_bce_ignores_unknown_entries():
    z = torch.tensor([[3.0, -2.0]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[-1, 1]])
    bce_loss(z, t, reduction="sum").backward()
    assert z.grad is not None
    assert z.grad[0, 0].item() == 0.0
    assert z.grad[0, 1].item() == pytest.approx(1 / (1 + math.exp(2.0)) - 1.0)  # sigmoid(-2) - 1


@pytest.mark.parametrize("name", ["bce", "an", "iu", "wan", "an-ls"])
def test_gradcheck(name, random_batch):
    z, t = random_batch(3, 4, seed=2)
    loss = create_loss(name)
    assert torch.autograd.gradcheck(lambda x: loss(x, t), (z.requires_grad_(),))


def test_stable_at_extreme_logits():
    z = torch.tensor([[200.0, -200.0]], requires_grad=True)
    t = torch.tensor([[-1, 1]])
    out = an_loss(z, t, reduction="sum")
    assert out.item() == pytest.approx(400.0)
    out.backward()
    assert torch.isfinite(z.grad).all()


def test_bad_options():
    with pytest.raises(PartialMLError, match="eps"):
        create_loss("an-ls", eps=1.5)
    with pytest.raises(PartialMLError, match="gamma"):
        create_loss("wan", gamma=-1.0)
    with pytest.raises(PartialMLError, match="reduction"):
        create_loss("an", reduction="avg")
