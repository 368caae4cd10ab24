"""The fast paths of LL-R/Ct/Cp, Hill and SPLC equal their plain-autograd definitions (values and gradients)
on batches with tied logits, all-unknown rows and rows without an unknown entry, and for every reduction."""

from __future__ import annotations

import pytest
import torch
from tests.losses.test_fused_paths import _reference

from partialml.losses import create_loss

NAMES = ["ll-r", "ll-ct", "ll-cp", "hill", "splc"]


def _edge_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(12, 30, generator=g, dtype=torch.float64) * 2).round(decimals=0)  # many ties
    t = torch.randint(-1, 2, (12, 30), generator=g).to(torch.int8)
    t[0] = -1  # all unknown
    t[1] = 1  # no unknown, all positive
    t[2] = 0  # no unknown, all negative
    t[3, ::2] = 1
    t[3, 1::2] = 0  # no unknown, mixed
    z[4] = 0.7  # one row of equal logits
    return z, t


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("epoch", [0, 1, 9])
def test_fused_equals_reference_on_edge_rows(name: str, epoch: int) -> None:
    z0, t = _edge_batch(seed=epoch)
    loss = create_loss(name)
    loss.set_epoch(epoch)
    z = z0.clone().requires_grad_()
    out = loss(z, t)
    out.backward()
    zr = z0.clone().requires_grad_()
    ref = _reference(name, zr, t, epoch)
    ref.backward()
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(z.grad, zr.grad, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_reductions_agree_with_per_entry(name: str) -> None:
    """``sum`` and ``mean`` of the fused paths equal the sum / mean of the ``none`` matrix."""
    z, t = _edge_batch(seed=5)
    values = {}
    for reduction in ("none", "sum", "mean"):
        loss = create_loss(name, reduction=reduction)
        loss.set_epoch(4)
        values[reduction] = loss(z, t)
    assert values["none"].shape == z.shape
    torch.testing.assert_close(values["sum"], values["none"].sum(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(values["mean"], values["none"].mean(), rtol=1e-12, atol=1e-12)


def test_ll_all_observed_batch_is_an() -> None:
    """No unknown entry: nothing can be chosen, LL-R equals AN whatever ``k``."""
    z, t = _edge_batch(seed=2)
    t = t.clamp_min(0)
    ll = create_loss("ll-r", delta_rel=0.5)
    ll.set_epoch(1)
    an = create_loss("an")
    torch.testing.assert_close(ll(z, t), an(z, t), rtol=0, atol=0)
    assert ll.last_selection is not None and not bool(ll.last_selection.any())
