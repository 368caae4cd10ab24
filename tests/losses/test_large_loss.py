"""LL-R, LL-Ct, LL-Cp (Kim et al., CVPR 2022): hand values, selection invariants, epoch schedule."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from partialml.losses import create_loss
from partialml.losses.bce import an_loss
from partialml.losses.large_loss import large_loss_selection, ll_k, ll_rate


def sp(x: float) -> float:
    """softplus: ``-log sigmoid(z) = sp(-z)``, ``-log(1 - sigmoid(z)) = sp(z)``."""
    return math.log1p(math.exp(x))


# tiny batch: logits [[0.5, -1, 2], [1, -0.5, 0]], targets [[1, 0, -1], [-1, 1, -1]]
# AN per entry: sp(-0.5), sp(-1), sp(2) | sp(1), sp(0.5), sp(0); unknown are (0,2) z=2, (1,0) z=1, (1,2) z=0
AN_ENTRIES = [sp(-0.5), sp(-1.0), sp(2.0), sp(1.0), sp(0.5), sp(0.0)]
AN_MEAN = sum(AN_ENTRIES) / 6


def test_rate_and_k():
    assert ll_rate(0, 0.002) == 0.0
    assert ll_rate(3, 0.002) == pytest.approx(0.006)
    assert ll_rate(500, 0.01) == pytest.approx(5.0)  # no cap
    assert ll_k(256 * 5000, ll_rate(3, 0.002)) == 7680  # not 7681 from float noise
    assert ll_k(6, 0.2) == 2  # ceil(1.2)
    assert ll_k(6, 0.0) == 0


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "ll-cp"])
def test_epoch0_equals_an(name, random_batch):
    z, t = random_batch(8, 9, seed=4)
    loss = create_loss(name, delta_rel=0.3)
    loss.set_epoch(0)
    assert torch.equal(loss(z, t), an_loss(z, t))


def test_ll_r_hand(tiny):
    z, t = tiny
    loss = create_loss("ll-r", delta_rel=0.2)
    loss.set_epoch(1)  # rate 0.2, k = ceil(6 * 0.2) = 2: the unknown entries z=2 and z=1
    expected = (sp(-0.5) + sp(-1.0) + sp(0.5) + sp(0.0)) / 6
    assert loss(z, t).item() == pytest.approx(expected, rel=1e-12)
    loss.set_epoch(2)  # k = ceil(6 * 0.4) = 3: all three unknown
    assert loss(z, t).item() == pytest.approx((sp(-0.5) + sp(-1.0) + sp(0.5)) / 6, rel=1e-12)
    loss.set_epoch(5)  # k = 6 > 3 unknown: still only the unknown entries, observed ones kept
    assert loss(z, t).item() == pytest.approx((sp(-0.5) + sp(-1.0) + sp(0.5)) / 6, rel=1e-12)


def test_ll_ct_hand(tiny):
    z, t = tiny
    loss = create_loss("ll-ct", delta_rel=0.2)
    loss.set_epoch(1)  # k = 2: z=2 and z=1 switch to -log sigmoid(z) = sp(-z)
    expected = (sp(-0.5) + sp(-1.0) + sp(-2.0) + sp(-1.0) + sp(0.5) + sp(0.0)) / 6
    assert loss(z, t).item() == pytest.approx(expected, rel=1e-12)


def test_ll_cp_hand_and_corrections(tiny):
    z, t = tiny
    loss = create_loss("ll-cp", delta_rel=0.2)
    loss.set_epoch(0)
    assert loss(z, t).item() == pytest.approx(AN_MEAN, rel=1e-12)
    assert not loss.pop_corrections().any()
    expected = (sp(-0.5) + sp(-1.0) + sp(-2.0) + sp(-1.0) + sp(0.5) + sp(0.0)) / 6
    chosen = torch.tensor([[False, False, True], [True, False, False]])
    for epoch in (1, 2, 7):  # k = ceil(6 * 0.2) = 2 at every epoch >= 1
        loss.set_epoch(epoch)
        assert loss(z, t).item() == pytest.approx(expected, rel=1e-12)
        mask = loss.pop_corrections()
        assert mask is not None and torch.equal(mask, chosen)
        assert loss.pop_corrections() is None


def test_ll_cp_k_constant():
    loss = create_loss("ll-cp", delta_rel=0.001)
    ks = []
    for epoch in range(6):
        loss.set_epoch(epoch)
        ks.append(loss.k_for(16 * 80))
    assert ks == [0, 2, 2, 2, 2, 2]  # ceil(1280 * 0.001) = 2
    z = torch.randn(16, 80, dtype=torch.float64)
    t = torch.full((16, 80), -1, dtype=torch.int8)
    t[:, 0] = 1
    for epoch in (1, 4):
        loss.set_epoch(epoch)
        loss(z, t)
        mask = loss.pop_corrections()
        assert mask is not None and int(mask.sum()) == 2


@pytest.mark.parametrize("epoch", [1, 2, 3, 6])
def test_ll_r_rejects_exactly_min_k_unknown(epoch, random_batch):
    z, t = random_batch(10, 12, seed=epoch)
    delta = 0.07
    k = math.ceil(120 * epoch * delta - 1e-9)
    n_unknown = int((t == -1).sum())
    loss = create_loss("ll-r", delta_rel=delta, reduction="none")
    loss.set_epoch(epoch)
    out = loss(z, t)
    an = an_loss(z, t, reduction="none")
    rejected = out != an
    assert int(rejected.sum()) == min(k, n_unknown)
    assert bool((out[rejected] == 0).all())
    assert bool((t[rejected] == -1).all())
    # the rejected ones are the largest unknown losses
    unknown_losses = an[t == -1]
    if 0 < k < n_unknown:
        assert an[rejected].min() >= unknown_losses.sort(descending=True).values[k - 1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_ll_r_rejected_entries_have_exactly_zero_loss_and_gradient(dtype, random_batch):
    """Rejected entries have loss and gradient exactly 0, in every dtype, and every other entry keeps its
    AN loss bit for bit; the mean still divides by all B * C entries."""
    z, t = random_batch(16, 40, seed=3)
    z = (z * 4).to(dtype).requires_grad_()
    loss = create_loss("ll-r", delta_rel=0.01, reduction="none")
    loss.set_epoch(2)
    out = loss(z, t)
    out.sum().backward()
    rejected = loss.last_selection
    assert rejected is not None and int(rejected.sum()) == math.ceil(16 * 40 * 2 * 0.01)
    assert bool((out[rejected] == 0).all()) and bool((z.grad[rejected] == 0).all())
    an = an_loss(z.detach(), t, reduction="none")
    assert torch.equal(out[~rejected], an[~rejected])
    mean = create_loss("ll-r", delta_rel=0.01)
    mean.set_epoch(2)
    expected = an.masked_fill(rejected, 0).double().sum() / an.numel()
    assert float(mean(z.detach(), t)) == pytest.approx(
        float(expected), rel=1e-2 if dtype.itemsize == 2 else 1e-5
    )


def test_ll_ct_selected_and_unselected(random_batch):
    z, t = random_batch(10, 12, seed=11)
    loss = create_loss("ll-ct", delta_rel=0.05, reduction="none")
    loss.set_epoch(2)  # k = ceil(120 * 0.1) = 12
    out = loss(z, t)
    an = an_loss(z, t, reduction="none")
    mask = large_loss_selection(an, t, 12)
    assert int(mask.sum()) == 12
    torch.testing.assert_close(out[~mask], an[~mask], rtol=0, atol=0)
    torch.testing.assert_close(out[mask], -torch.nn.functional.logsigmoid(z[mask]))


def test_selection_exact_k_with_ties():
    losses = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.5, 1.0, 1.0, 2.0]])
    targets = torch.tensor([[-1, -1, -1, -1], [-1, 1, -1, -1]])
    mask = large_loss_selection(losses, targets, 3)
    assert int(mask.sum()) == 3
    assert bool(mask[1, 3])  # the unique largest
    assert not bool(mask[1, 1])  # observed positive never chosen
    assert not bool(mask[1, 0])  # smallest never chosen when ties above it fill k


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 6),
    classes=st.integers(1, 8),
    k=st.integers(0, 60),
    seed=st.integers(0, 10_000),
)
def test_selection_never_observed(batch, classes, k, seed):
    gen = torch.Generator().manual_seed(seed)
    losses = torch.rand(batch, classes, generator=gen) * 5
    losses[torch.rand(batch, classes, generator=gen) < 0.2] = 0.0  # ties and zeros like the original's
    targets = torch.randint(-1, 2, (batch, classes), generator=gen)
    mask = large_loss_selection(losses, targets, k)
    assert mask.shape == targets.shape and mask.dtype == torch.bool
    assert not bool((mask & (targets != -1)).any())
    assert int(mask.sum()) == min(k, int((targets == -1).sum()))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000), epoch=st.integers(0, 12), name=st.sampled_from(["ll-r", "ll-ct", "ll-cp"])
)
def test_losses_never_touch_observed(seed, epoch, name):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(5, 6, generator=gen, dtype=torch.float64) * 3
    t = torch.randint(-1, 2, (5, 6), generator=gen).to(torch.int8)
    loss = create_loss(name, delta_rel=0.05, reduction="none")
    loss.set_epoch(epoch)
    out = loss(z, t)
    an = an_loss(z, t, reduction="none")
    observed = t != -1
    assert torch.equal(out[observed], an[observed])


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "ll-cp"])
def test_reductions_consistent(name, random_batch):
    z, t = random_batch(5, 6, seed=7)
    losses = {r: create_loss(name, delta_rel=0.05, reduction=r) for r in ("none", "sum", "mean")}
    for loss in losses.values():
        loss.set_epoch(3)
    none = losses["none"](z, t)
    assert none.shape == (5, 6)
    torch.testing.assert_close(losses["sum"](z, t), none.sum())
    torch.testing.assert_close(losses["mean"](z, t), none.mean())
    default = create_loss(name, delta_rel=0.05)
    default.set_epoch(3)
    torch.testing.assert_close(default(z, t), none.mean())  # mean over all B*C


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "ll-cp"])
def test_gradcheck(name, random_batch):
    z, t = random_batch(4, 5, seed=5)  # distinct logits: the selection is fixed under the small perturbation
    loss = create_loss(name, delta_rel=0.1)
    loss.set_epoch(2)
    assert torch.autograd.gradcheck(lambda x: loss(x, t), (z.requires_grad_(),))


def test_defaults_and_options():
    assert create_loss("ll-r").delta_rel == 0.005
    assert create_loss("ll-ct").delta_rel == 0.002
    assert create_loss("ll-cp").delta_rel == 0.001
    from partialml.errors import PartialMLError

    with pytest.raises(PartialMLError, match="delta_rel"):
        create_loss("ll-r", delta_rel=-0.1)
    with pytest.raises(PartialMLError, match="epoch"):
        create_loss("ll-r").set_epoch(-1)


def test_selection_follows_device_and_dtype():
    z = torch.randn(3, 4, dtype=torch.float32)
    t = torch.full((3, 4), -1, dtype=torch.int8)
    loss = create_loss("ll-ct", delta_rel=0.2)
    loss.set_epoch(1)
    out = loss(z, t)
    assert out.dtype == torch.float32 and out.device == z.device


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_ll_r_fused_path_rejected_gradient_is_exactly_zero(dtype):
    """Above ``_FUSED_MIN_ENTRIES`` the mean takes the fused function (``-z`` set to 1e4 on rejected
    entries): their gradient must still be exactly 0 and the others' equal BCE's ``(sigmoid(z) - y) / n``."""
    from partialml.losses.large_loss import _FUSED_MIN_ENTRIES

    g = torch.Generator().manual_seed(4)
    b, c = 64, _FUSED_MIN_ENTRIES // 64 + 8
    t = torch.full((b, c), -1, dtype=torch.int8)
    t[torch.arange(b), torch.randint(0, c, (b,), generator=g)] = 1
    z = (torch.randn(b, c, generator=g) * 3).to(dtype).requires_grad_()
    loss = create_loss("ll-r", delta_rel=0.01)
    loss.set_epoch(2)
    loss(z, t).backward()
    rejected = loss.last_selection
    assert rejected is not None and int(rejected.sum()) == math.ceil(b * c * 0.02)
    assert bool((z.grad[rejected] == 0).all())
    y = (t == 1).double()
    expected = (torch.sigmoid(z.detach().double()) - y) / z.numel()
    tol = {"rtol": 2e-2, "atol": 1e-7} if dtype.itemsize == 2 else {"rtol": 1e-5, "atol": 1e-12}
    torch.testing.assert_close(z.grad[~rejected].double(), expected[~rejected], **tol)
