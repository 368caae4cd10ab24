"""The fast paths of LL-R/Ct/Cp, Hill and SPLC against their plain-autograd definitions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from partialml.losses import create_loss
from partialml.losses.large_loss import (
    _FUSED_MIN_ENTRIES,
    _candidate_topk,
    _chosen_indices,
    large_loss_selection,
)

#: A batch above the threshold of LL's fused function (and of the CPU candidate selection): the tests on it
#: keep testing those paths if the thresholds move.
FUSED_SHAPE = (64, _FUSED_MIN_ENTRIES // 64 + 8)


def _batch(b: int, c: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, c, generator=g, dtype=torch.float64) * 2
    t = torch.randint(-1, 2, (b, c), generator=g).to(torch.int8)
    return z, t


@pytest.mark.parametrize("k", [1, 37, 5000, 20000, 40000])
def test_candidate_selection_equals_full_topk(k: int) -> None:
    z, t = _batch(64, 1024, seed=k)  # 65,536 entries: the CPU candidate path
    z[0, :50] = 1.5  # ties
    chosen = _chosen_indices(z, t, k)
    n_unknown = int((t == -1).sum())
    assert chosen.numel() == min(k, n_unknown)
    assert bool((t.view(-1)[chosen] == -1).all())
    ref = torch.where(t == -1, z, float("-inf")).view(-1).sort(descending=True).values[: min(k, n_unknown)]
    torch.testing.assert_close(z.view(-1)[chosen].sort(descending=True).values, ref, rtol=0, atol=0)


def test_candidate_path_reports_failure() -> None:
    z = torch.arange(40000, dtype=torch.float32)
    t = torch.full((40000,), -1, dtype=torch.int8)
    assert _candidate_topk(z, t, 40001) is None  # more than the unknown entries: caller falls back
    mask = large_loss_selection(z.view(200, 200), t.view(200, 200), 40001)
    assert bool(mask.all())


def _reference(name: str, z: torch.Tensor, t: torch.Tensor, epoch: int) -> torch.Tensor:
    """The loss through plain autograd ops: AN/BCE with the chosen entries, Hill and SPLC formulas."""
    y = (t == 1).to(z.dtype)
    if name in ("ll-r", "ll-ct", "ll-cp"):
        loss = create_loss(name)
        loss.set_epoch(epoch)
        k = loss.k_for(z.numel())
        mask = large_loss_selection(z.detach(), t, k)
        if name == "ll-r":
            return F.binary_cross_entropy_with_logits(z, y, reduction="none").masked_fill(mask, 0).mean()
        return F.binary_cross_entropy_with_logits(z, (y.bool() | mask).to(z.dtype))
    pos = t == 1
    if name == "hill":
        zm = z - 1.0
        p = torch.sigmoid(z)
        return torch.where(pos, -(torch.sigmoid(-zm) ** 2) * F.logsigmoid(zm), (1.5 - p) * p**2).sum()
    positive = pos | ((t == -1) & (torch.sigmoid(z.detach()) > 0.6)) if epoch >= 1 else pos
    zz = torch.where(pos, z - 1.0, z)
    return torch.where(
        positive, -(torch.sigmoid(-zz) ** 2) * F.logsigmoid(zz), -(torch.sigmoid(zz) ** 2) * F.logsigmoid(-zz)
    ).sum()


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "ll-cp", "hill", "splc"])
@pytest.mark.parametrize("shape", [(16, 20), (64, 600), FUSED_SHAPE])
def test_fused_matches_autograd_reference(name: str, shape: tuple[int, int]) -> None:
    z0, t = _batch(*shape, seed=3)
    loss = create_loss(name)
    loss.set_epoch(9)
    z = z0.clone().requires_grad_()
    out = loss(z, t)
    out.backward()
    zr = z0.clone().requires_grad_()
    ref = _reference(name, zr, t, 9)
    ref.backward()
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(z.grad, zr.grad, rtol=1e-9, atol=1e-14)


def test_no_grad_inputs_and_float32() -> None:
    z, t = _batch(8, 10, seed=1)
    loss = create_loss("ll-ct")
    loss.set_epoch(5)
    out = loss(z.float(), t)  # logits without grad: no gradient kept
    assert out.dtype == torch.float32 and not out.requires_grad


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "hill", "splc"])
def test_fused_backward_scales_by_grad_output_and_is_first_order(name: str) -> None:
    """The backward hands out the saved gradient for ``loss.backward()`` and multiplies it otherwise;
    ``retain_graph`` calls never share memory; ``create_graph`` (a second derivative) is refused, not
    silently zero."""
    z0, t = _batch(*FUSED_SHAPE, seed=8)
    loss = create_loss(name)
    loss.set_epoch(3)
    z1 = z0.clone().requires_grad_()
    loss(z1, t).backward()
    z2 = z0.clone().requires_grad_()
    (loss(z2, t) * -2.5).backward()
    torch.testing.assert_close(z2.grad, -2.5 * z1.grad, rtol=1e-12, atol=0)
    z4 = z0.clone().requires_grad_()  # the saved gradient handed out as is must never be accumulated into
    out = loss(z4, t)
    for retain in (True, True, False):
        out.backward(retain_graph=retain)
    torch.testing.assert_close(z4.grad, 3 * z1.grad, rtol=1e-12, atol=0)
    z5 = z0.clone().requires_grad_()
    out = loss(z5, t)
    (g1,) = torch.autograd.grad(out, z5, retain_graph=True)
    (g2,) = torch.autograd.grad(out, z5)
    assert g1.data_ptr() != g2.data_ptr()
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)
    z3 = z0.clone().requires_grad_()
    with pytest.raises(RuntimeError, match="first order only"):
        torch.autograd.grad(loss(z3, t), z3, create_graph=True)


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "ll-cp", "hill", "splc"])
def test_half_precision_mean_is_summed_in_float32(name: str) -> None:
    """A float16 sum of more than 65,536 losses of about 1 overflows; the fused losses sum in float32."""
    z0, t = _batch(*FUSED_SHAPE, seed=2)
    loss = create_loss(name, reduction="mean")
    loss.set_epoch(3)
    ref = float(loss(z0, t))
    for dtype in (torch.float16, torch.bfloat16):
        out = loss(z0.to(dtype).requires_grad_(), t)
        assert out.dtype == dtype and bool(torch.isfinite(out))
        assert float(out.detach()) == pytest.approx(ref, rel=2e-2)


def test_splc_sum_is_as_precise_as_a_sum() -> None:
    """The fused sum uses ``torch.sum``'s cascade, not a dot product (2.9e-5 relative error at 256 x 5,000)."""
    z0, t = _batch(*FUSED_SHAPE, seed=4)
    loss = create_loss("splc")
    loss.set_epoch(3)
    ref = float(loss(z0, t))  # float64
    assert float(loss(z0.float(), t)) == pytest.approx(ref, rel=1e-7)


@pytest.mark.parametrize("shape", [(4, 5), FUSED_SHAPE])
def test_nan_logit_never_lets_an_observed_entry_be_chosen(shape: tuple[int, int]) -> None:
    """With ``k`` above the unknown count and a NaN logit, only unknown entries are chosen."""
    z, t = _batch(*shape, seed=6)
    z.view(-1)[int(torch.nonzero(t.view(-1) == -1)[0])] = float("nan")
    chosen = _chosen_indices(z, t, z.numel())
    assert bool((t.view(-1)[chosen] == -1).all())
    assert chosen.numel() == int((t == -1).sum())


@pytest.mark.parametrize("shape", [(16, 20), FUSED_SHAPE])
def test_ll_r_rejects_an_infinite_logit_to_zero(shape: tuple[int, int]) -> None:
    """An unknown entry with logit +inf has the largest loss: rejected, it contributes 0, not NaN."""
    z, t = _batch(*shape, seed=7)
    z.view(-1)[int(torch.nonzero(t.view(-1) == -1)[0])] = float("inf")
    loss = create_loss("ll-r", delta_rel=0.01)
    loss.set_epoch(1)
    zz = z.requires_grad_()
    out = loss(zz, t)
    out.backward()
    assert bool(torch.isfinite(out)) and bool(torch.isfinite(zz.grad).all())


@pytest.mark.parametrize("name", ["ll-r", "ll-ct", "splc"])
@pytest.mark.parametrize("shape", [(16, 20), FUSED_SHAPE])
def test_column_major_inputs(name: str, shape: tuple[int, int]) -> None:
    """Transposed (column-major) logits and float targets give the same loss and gradient."""
    z0, t = _batch(*shape, seed=9)
    loss = create_loss(name)
    loss.set_epoch(3)
    za = z0.clone().requires_grad_()
    loss(za, t).backward()
    zb = z0.t().contiguous().t().requires_grad_()
    tb = t.double().t().contiguous().t()
    loss(zb, tb).backward()
    torch.testing.assert_close(zb.grad, za.grad, rtol=1e-12, atol=1e-15)
