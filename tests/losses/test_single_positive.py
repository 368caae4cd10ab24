"""Tests of EPR, ROLE, EM and EM+APL against hand-computed values and invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from partialml.errors import PartialMLError
from partialml.losses import create_loss
from partialml.losses.single_positive import (
    EXPECTED_POSITIVES_ORACLE,
    EMAPLLoss,
    EMLoss,
    EPRLoss,
    ROLELoss,
    em_loss,
    epr_loss,
    role_loss,
)

LN2, LN3 = math.log(2.0), math.log(3.0)


def t(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.int8)


# -- EPR --------------------------------------------------------------------------------------------------
def test_epr_hand_value() -> None:
    # p = [[.5, .75], [.25, .5]]; entry terms -log .5 on the two positives; mean row sum 1.0; k = 1.5
    logits = torch.tensor([[0.0, LN3], [-LN3, 0.0]])
    targets = t([[1, -1], [-1, 1]])
    expected = 2 * LN2 / 4 + (1.0 - 1.5) ** 2 / 2**2
    assert float(EPRLoss(expected_positives=1.5)(logits, targets)) == pytest.approx(expected, abs=1e-6)
    none = EPRLoss(expected_positives=1.5, reduction="none")(logits, targets)
    assert none.shape == (2, 2)
    assert float(none.sum() / 4) == pytest.approx(expected, abs=1e-6)
    assert float(none[0, 1]) == pytest.approx(0.0625, abs=1e-6)  # no entry term, only R


def test_epr_regularizer_zero_when_count_matches() -> None:
    logits = torch.tensor([[0.0, LN3], [-LN3, 0.0]])  # mean predicted count 1.0
    targets = t([[1, -1], [-1, 1]])
    assert float(epr_loss(logits, targets, expected_positives=1.0).mean()) == pytest.approx(LN2 / 2, abs=1e-6)
    assert float(epr_loss(logits, targets, expected_positives=1.2).mean()) > LN2 / 2


def test_epr_presets_and_required_k() -> None:
    assert EPRLoss(expected_positives="coco").expected_positives == EXPECTED_POSITIVES_ORACLE["coco"] == 2.9
    with pytest.raises(PartialMLError, match="preset"):
        EPRLoss(expected_positives="imagenet")
    with pytest.raises(PartialMLError, match="expected_positives"):
        create_loss("epr")
    # from_labels estimates k as the mean number of observed positives per row: (2 + 1) / 2
    loss = create_loss("epr", labels=t([[1, 1, -1], [-1, 1, 0]]))
    assert isinstance(loss, EPRLoss)
    assert loss.expected_positives == pytest.approx(1.5)


def test_epr_gradcheck() -> None:
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    targets = t([[1, -1, -1, 0], [-1, 1, -1, -1], [-1, -1, 1, 1]])
    assert torch.autograd.gradcheck(lambda x: epr_loss(x, targets, expected_positives=1.3), (logits,))


# -- ROLE -------------------------------------------------------------------------------------------------
OBS = t([[1, -1, -1], [-1, 1, 0], [-1, -1, 1], [1, 0, -1]])


def test_role_init_matches_spec() -> None:
    loss = ROLELoss.from_labels(OBS, expected_positives=1.0)
    est = torch.sigmoid(loss.estimates.detach())
    assert loss.estimates.shape == (4, 3)
    assert torch.allclose(loss.estimates.detach()[OBS == 1], torch.tensor(math.log(199.0)))  # logit(0.995)
    assert torch.allclose(loss.estimates.detach()[OBS == 0], torch.tensor(-math.log(199.0)))  # logit(0.005)
    unk = est[OBS == -1]
    assert bool(((unk >= 0.4) & (unk <= 0.6)).all())
    assert torch.equal(ROLELoss.from_labels(OBS, expected_positives=1.0).estimates, loss.estimates)
    other = ROLELoss.from_labels(OBS, expected_positives=1.0, seed=1)
    assert not torch.equal(other.estimates, loss.estimates)
    big = ROLELoss.from_labels(-torch.ones(500, 4, dtype=torch.int8), expected_positives=1.0)
    vals = torch.sigmoid(big.estimates.detach())
    assert float(vals.min()) < 0.41 and float(vals.max()) > 0.59  # fills the interval


def test_role_hand_value() -> None:
    loss = ROLELoss.from_labels(t([[1, -1]]), expected_positives=2.0)
    with torch.no_grad():
        loss.estimates.copy_(torch.tensor([[LN3, -LN3]]))  # q = [.75, .25]
    logits = torch.zeros(1, 2)  # p = [.5, .5]
    l43 = math.log(4.0 / 3.0)
    reg = 0.5 * ((1.0 - 2.0) ** 2 / 4 + (1.0 - 2.0) ** 2 / 4)
    e0 = 0.5 * (LN2 + l43) + 0.5 * (LN2 + LN2 + 0.5 * l43) + reg
    e1 = 0.5 * (LN2 + LN2 + 0.5 * l43) + reg
    got = loss(logits, t([[1, -1]]), torch.tensor([0]))
    assert float(got.detach()) == pytest.approx((e0 + e1) / 2, abs=1e-6)
    loss.reduction = "none"
    none = loss(logits, t([[1, -1]]), torch.tensor([0]))
    assert none.tolist()[0] == pytest.approx([e0, e1], abs=1e-6)


def test_role_observed_negatives_option() -> None:
    logits, est = torch.tensor([[LN3, 0.0]]), torch.tensor([[0.0, -LN3]])
    targets = t([[-1, 0]])
    ignore = role_loss(logits, est, targets, expected_positives=1.0, observed_negatives="ignore")
    bce = role_loss(logits, est, targets, expected_positives=1.0, observed_negatives="bce")
    # extra term on the negative entry: 1/2 [-log(1 - .5) - log(1 - .25)]
    assert float(bce[0, 1] - ignore[0, 1]) == pytest.approx(0.5 * (LN2 + math.log(4 / 3)), abs=1e-6)
    assert float(bce[0, 0]) == pytest.approx(float(ignore[0, 0]))


def test_role_index_routing_and_gradients() -> None:
    loss = ROLELoss.from_labels(OBS, expected_positives=1.0)
    logits = torch.randn(2, 3)
    a = loss(logits, OBS[[0, 2]], torch.tensor([0, 2]))
    b = loss(logits, OBS[[1, 3]], torch.tensor([1, 3]))
    assert float(a.detach()) != float(b.detach())
    loss.zero_grad()
    a.backward()
    grad = loss.estimates.grad
    assert grad is not None
    touched = grad.abs().sum(dim=1) > 0
    assert touched.tolist() == [True, False, True, False]


def test_role_param_groups_and_device() -> None:
    loss = ROLELoss.from_labels(OBS, expected_positives=1.0)
    groups = loss.param_groups(1e-4)
    assert len(groups) == 1
    assert groups[0]["params"][0] is loss.estimates
    assert groups[0]["lr"] == pytest.approx(1e-3)
    assert ROLELoss.from_labels(OBS, expected_positives=1.0, lr_mult=3.0).param_groups(1.0)[0]["lr"] == 3.0
    # double logits: the estimates follow the logits' dtype
    out = loss(torch.zeros(1, 3, dtype=torch.float64), OBS[:1], torch.tensor([0]))
    assert out.dtype == torch.float64


def test_role_errors() -> None:
    with pytest.raises(PartialMLError, match="needs the training labels"):
        create_loss("role", expected_positives=1.0)
    loss = create_loss("role", labels=OBS, expected_positives="voc")
    with pytest.raises(PartialMLError, match="indices"):
        loss(torch.zeros(1, 3), OBS[:1])
    with pytest.raises(PartialMLError, match="indices"):
        loss(torch.zeros(1, 3), OBS[:1], torch.tensor([4]))


def test_role_state_dict_round_trip() -> None:
    loss = ROLELoss.from_labels(OBS, expected_positives=1.0)
    with torch.no_grad():
        loss.estimates.add_(torch.randn_like(loss.estimates))
    fresh = ROLELoss.from_labels(OBS, expected_positives=1.0, seed=5)
    fresh.load_state_dict(loss.state_dict())
    assert torch.equal(fresh.estimates, loss.estimates)


def test_role_gradcheck() -> None:
    """Gradcheck of the semi-gradient: ROLE's cross terms use detached targets, so the term whose value
    depends on the argument only through a detached target is subtracted as a constant (detached) value:
    the numerical derivative then sees exactly what autograd must compute."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, dtype=torch.float64, generator=gen).requires_grad_()
    est = torch.randn(2, 3, dtype=torch.float64, generator=gen).requires_grad_()
    targets = t([[1, -1, 0], [-1, 1, -1]])

    def hidden(pred_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
        pred, target = torch.sigmoid(pred_logits), torch.sigmoid(target_logits)
        return 0.5 * F.binary_cross_entropy(pred, target, reduction="none").detach()

    e0, x0 = est.detach(), logits.detach()
    assert torch.autograd.gradcheck(
        lambda x: role_loss(x, e0, targets, expected_positives=1.5) - hidden(e0, x), (logits,)
    )
    assert torch.autograd.gradcheck(
        lambda e: role_loss(x0, e, targets, expected_positives=1.5) - hidden(x0, e), (est,)
    )
    # without the correction the check fails: the detach is real
    assert not torch.autograd.gradcheck(
        lambda x: role_loss(x, e0, targets, expected_positives=1.5), (logits,), raise_exception=False
    )


# -- EM ---------------------------------------------------------------------------------------------------
def test_em_hand_value() -> None:
    logits = torch.tensor([[0.0, LN3, -LN3]])  # p = .5, .75, .25
    targets = t([[1, -1, 0]])
    e1 = 0.1 * (0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    expected = (LN2 + e1 + math.log(4.0 / 3.0)) / 3
    assert float(EMLoss()(logits, targets)) == pytest.approx(expected, abs=1e-6)
    assert float(EMLoss(alpha=0.2, reduction="none")(logits, targets)[0, 1]) == pytest.approx(
        2 * e1, abs=1e-6
    )


def test_em_minimum_at_half_and_negative() -> None:
    grid = torch.linspace(-6, 6, 1201).unsqueeze(1)  # includes 0 exactly
    vals = em_loss(grid, -torch.ones_like(grid, dtype=torch.int8), alpha=0.1).squeeze(1)
    i = int(vals.argmin())
    assert float(grid[i]) == pytest.approx(0.0, abs=1e-6)
    assert float(vals[i]) == pytest.approx(-0.1 * LN2, abs=1e-7)
    assert bool((vals < 0).all())


@settings(max_examples=60, deadline=None)
@given(st.floats(-30.0, 30.0), st.floats(0.0, 1.0))
def test_em_unknown_term_bounds(z: float, alpha: float) -> None:
    v = float(em_loss(torch.tensor([[z]], dtype=torch.float64), t([[-1]]), alpha=alpha))
    assert -alpha * LN2 - 1e-12 <= v <= 1e-12


def test_em_gradcheck() -> None:
    logits = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    targets = t([[1, -1, 0], [-1, 1, -1], [-1, -1, 1]])
    soft = torch.tensor([[-1.0, 0.2, -1.0], [0.05, -1.0, -1.0], [-1.0, -1.0, -1.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: em_loss(x, targets, alpha=0.1), (logits,))
    assert torch.autograd.gradcheck(lambda x: em_loss(x, targets, soft_targets=soft, beta=0.9), (logits,))


# -- EM + APL ---------------------------------------------------------------------------------------------
# class 0: 5 unknown entries (rows 1-5); class 1: 3 unknown (rows 0, 3, 5)
APL_OBS = t([[1, -1], [-1, 1], [-1, 0], [-1, -1], [-1, 1], [-1, -1]])


def make_apl() -> EMAPLLoss:
    loss = create_loss("em-apl", labels=APL_OBS, warmup_epoch=1, num_epochs=3)
    assert isinstance(loss, EMAPLLoss)
    return loss


def test_apl_selection_counts_cumulative_and_unknown_only() -> None:
    loss = make_apl()
    # floor(0.9 * 5 / 2) = 2, floor(0.9 * 3 / 2) = 1
    assert loss.per_epoch_counts().tolist() == [2, 1]
    loss.set_epoch(0)
    assert not loss.wants_epoch_scores()
    loss.set_epoch(1)
    assert loss.wants_epoch_scores()
    scores = torch.tensor([[0.0, 0.30], [0.50, 0.0], [0.10, 0.0], [0.20, 0.40], [0.05, 0.0], [0.60, 0.20]])
    loss.update_from_scores(scores, APL_OBS)
    assert not loss.wants_epoch_scores()
    picked = loss.soft_targets >= 0
    # class 0: rows 4 (0.05) and 2 (0.10); row 0 has score 0 but is an observed positive
    # class 1: row 5 (0.20); rows 1, 2, 4 have score 0 but are observed
    assert picked.nonzero().tolist() == [[2, 0], [4, 0], [5, 1]]
    assert loss.soft_targets[4, 0] == pytest.approx(0.05) and loss.soft_targets[5, 1] == pytest.approx(0.2)
    loss.set_epoch(2)
    assert loss.wants_epoch_scores()
    scores2 = torch.tensor([[0.0, 0.9], [0.8, 0.0], [0.0, 0.0], [0.7, 0.1], [0.0, 0.0], [0.01, 0.0]])
    loss.update_from_scores(scores2, APL_OBS)
    picked = loss.soft_targets >= 0
    assert picked.sum(dim=0).tolist() == [4, 2]  # cumulative
    assert picked.nonzero().tolist() == [[2, 0], [3, 0], [3, 1], [4, 0], [5, 0], [5, 1]]
    assert loss.soft_targets[2, 0] == pytest.approx(0.10)  # kept from the first pass
    assert loss.soft_targets[5, 0] == pytest.approx(0.01)
    assert bool((APL_OBS[picked] == -1).all())


def test_apl_soft_targets_enter_loss() -> None:
    loss = make_apl()
    loss.set_epoch(1)
    scores = torch.full((6, 2), 0.9)
    scores[3, 0] = 0.1
    scores[5, 0] = 0.2  # class 0 picks rows 3 and 5; class 1 picks row 0 (ties: lower row)
    loss.update_from_scores(scores, APL_OBS)
    logits = torch.tensor([[LN3, LN3]])  # p = .75
    bce = -(0.1 * math.log(0.75) + 0.9 * math.log(0.25))
    em = 0.1 * (0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    got = loss(logits, APL_OBS[[3]], torch.tensor([3]))
    assert float(got) == pytest.approx((0.9 * bce + em) / 2, abs=1e-6)
    # before any pseudo-label, row 3 is plain EM on both entries
    assert float(make_apl()(logits, APL_OBS[[3]], torch.tensor([3]))) == pytest.approx(em, abs=1e-6)


def test_apl_state_dict_round_trip() -> None:
    loss = make_apl()
    loss.set_epoch(1)
    loss.update_from_scores(torch.rand(6, 2, generator=torch.Generator().manual_seed(0)), APL_OBS)
    fresh = make_apl()
    fresh.load_state_dict(loss.state_dict())
    assert torch.equal(fresh.soft_targets, loss.soft_targets)
    assert torch.equal(fresh.initial_unknown, loss.initial_unknown)
    fresh.set_epoch(1)
    assert not fresh.wants_epoch_scores()  # the pass of epoch 1 is remembered


def test_apl_errors() -> None:
    with pytest.raises(PartialMLError, match="warmup_epoch"):
        create_loss("em-apl", labels=APL_OBS, warmup_epoch=10, num_epochs=10)
    loss = make_apl()
    with pytest.raises(PartialMLError, match="scores"):
        loss.update_from_scores(torch.rand(5, 2), APL_OBS[:5])
