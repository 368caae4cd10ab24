"""Tests of the Distribution-Balanced loss and LTML against hand-computed values and invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from partialml.errors import PartialMLError
from partialml.losses import create_loss
from partialml.losses.long_tail import (
    DB_PRESETS,
    DBLoss,
    LTMLLoss,
    db_class_bias,
    db_loss,
    db_rebalance_weights,
    ltml_class_weights,
    ltml_classification_loss,
    ltml_consistency,
)

LN2, LN3, LN4 = math.log(2.0), math.log(3.0), math.log(4.0)


def t(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.int8)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# -- DB ---------------------------------------------------------------------------------------------------
def db_hand(kappa_eff: float) -> float:
    """Hand value: counts [2, 5] of N = 10, one sample y = [1, 0], logits 0, COCO-MLT constants."""
    # nu_0 = kappa_eff * log(0.2 / 0.8) = -kappa_eff * ln 4, nu_1 = 0
    v0 = -kappa_eff * LN4
    # r = (1/n_i) / (1/2) = [1, 0.4]; w = 0.1 + sigmoid(10 (r - 0.2))
    w0, w1 = 0.1 + sig(8.0), 0.1 + sig(2.0)
    pos = 2.0 * sig(-v0) ** 2 * w0 * math.log(1.0 + math.exp(-v0))
    neg = 2.0 * 0.5**2 * w1 * (LN2 / 2.0)  # v = 0, lambda = 2: (1/2) log 2, 1 - p_t = sigmoid(0)
    return (pos + neg) / 2.0


def test_db_hand_value_and_bias_bug() -> None:
    logits, targets = torch.zeros(1, 2), t([[1, 0]])
    loss = DBLoss(class_counts=[2, 5], num_samples=10)
    assert float(loss(logits, targets)) == pytest.approx(db_hand(0.05), abs=1e-6)
    bug = DBLoss(class_counts=[2, 5], num_samples=10, reproduce_bias_bug=True)
    assert float(bug(logits, targets)) == pytest.approx(db_hand(0.025), abs=1e-6)


def test_db_bias_sign_and_bug_factor() -> None:
    counts = torch.tensor([1.0, 5.0, 9.0])
    nu = db_class_bias(counts, 10, kappa=0.05, lam=2.0)
    assert nu.tolist() == pytest.approx([0.05 * math.log(1 / 9), 0.0, 0.05 * math.log(9)])  # rare: negative
    for lam in (2.0, 5.0):
        paper = db_class_bias(counts, 10, kappa=0.05, lam=lam)
        code = db_class_bias(counts, 10, kappa=0.05, lam=lam, reproduce_bias_bug=True)
        assert torch.allclose(code, paper / lam, rtol=0, atol=1e-15)
    # through the loss: the bug equals the paper formula with kappa / lambda
    logits, targets = torch.randn(4, 3), t([[1, 0, -1], [0, 1, 0], [-1, -1, 1], [1, 1, 0]])
    a = db_loss(logits, targets, class_counts=counts, num_samples=10, lam=5.0, reproduce_bias_bug=True)
    b = db_loss(logits, targets, class_counts=counts, num_samples=10, lam=5.0, kappa=0.01)
    assert torch.allclose(a, b, atol=1e-6)


def test_db_weights() -> None:
    counts = torch.tensor([2.0, 5.0, 4.0])
    w = db_rebalance_weights(t([[1, 0, 1], [-1, -1, -1]]), counts)
    # row 0: sum of 1/n over positives = 1/2 + 1/4 = 0.75
    r = [0.5 / 0.75, 0.2 / 0.75, 0.25 / 0.75]
    assert w[0].tolist() == pytest.approx([0.1 + sig(10 * (x - 0.2)) for x in r])
    assert w[1].tolist() == pytest.approx([1.1, 1.1, 1.1])  # no positive: the released code's limit


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_db_reduces_to_bce(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(5, 4, generator=gen, dtype=torch.float64)
    targets = torch.randint(-1, 2, (5, 4), generator=gen).to(torch.int8)
    loss = DBLoss(
        class_counts=[1, 2, 3, 4],
        num_samples=6,
        reweight="none",
        kappa=0.0,
        lam=1.0,
        focal_gamma=0.0,
        focal_scale=1.0,
        reduction="none",
    )
    ref = F.binary_cross_entropy_with_logits(logits, (targets == 1).double(), reduction="none")
    assert torch.allclose(loss(logits, targets), ref, atol=1e-12)


def test_db_unknown_ignore_and_presets() -> None:
    logits, targets = torch.randn(2, 3), t([[1, -1, 0], [-1, 1, -1]])
    loss = DBLoss(
        class_counts=[1, 1, 1], num_samples=3, unknown="ignore", reduction="none", **DB_PRESETS["voc-mlt"]
    )
    out = loss(logits, targets)
    assert bool((out[targets == -1] == 0).all()) and bool((out[targets != -1] > 0).all())
    assert loss.mu == 0.3 and loss.lam == 5.0
    neg = DBLoss(class_counts=[1, 1, 1], num_samples=3, reduction="none")(logits, targets)
    assert bool((neg[targets == -1] > 0).all())


def test_db_from_labels_and_errors() -> None:
    obs = t([[1, 0, -1], [0, 1, 1], [1, -1, 0], [0, 0, 1]])
    loss = create_loss("db", labels=obs)
    assert isinstance(loss, DBLoss)
    assert loss.class_counts.tolist() == [2.0, 1.0, 2.0] and loss.num_samples == 4
    with pytest.raises(PartialMLError, match="class 1 has 0 positives"):
        create_loss("db", labels=t([[1, 0], [0, -1], [1, 0]]))
    with pytest.raises(PartialMLError, match="needs the training labels"):
        create_loss("db")
    with pytest.raises(PartialMLError, match="unknown="):
        DBLoss(class_counts=[1], num_samples=2, unknown="positive")  # type: ignore[arg-type]


def test_db_gradcheck() -> None:
    logits = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    targets = t([[1, 0, -1], [0, 1, 0], [-1, -1, 1]])
    counts = torch.tensor([2.0, 3.0, 7.0])
    assert torch.autograd.gradcheck(
        lambda x: db_loss(x, targets, class_counts=counts, num_samples=10, lam=5.0), (logits,)
    )


# -- LTML -------------------------------------------------------------------------------------------------
def test_ltml_hand_values() -> None:
    # counts [1, 2] of N = 4: rho = [.25, .5]; y = [1, 0]; logits [0, ln 3] (p = [.5, .75])
    logits, targets = torch.tensor([[0.0, LN3]]), t([[1, 0]])
    none = LTMLLoss(class_counts=[1, 2], num_samples=4, compensation="none")
    assert float(none(logits, targets)) == pytest.approx((math.exp(0.75) * LN2 + math.exp(0.5) * LN4) / 2)
    # statistics: sigma 1, mu = log(rho / (1 - rho)) = [ln(1/3), 0]
    # positive: -log sigmoid(0 - ln 3) = ln 4; negative: -log(1 - sigmoid(ln 3)) = ln 4
    stats = LTMLLoss(class_counts=[1, 2], num_samples=4, compensation="statistics")
    assert float(stats(logits, targets)) == pytest.approx((math.exp(0.75) * LN4 + math.exp(0.5) * LN4) / 2)
    learned = LTMLLoss(class_counts=[1, 2], num_samples=4)
    assert float(learned(logits, targets).detach()) == pytest.approx(float(stats(logits, targets)))
    # consistency: peer = logits + 1 adds lamb * 1 to the mean
    with_peer = none(logits, targets, peer_logits=logits + 1.0)
    assert float(with_peer) == pytest.approx(float(none(logits, targets)) + 0.1, abs=1e-6)
    probs = ltml_consistency(torch.zeros(1, 1), torch.full((1, 1), LN3), space="probabilities")
    assert float(probs) == pytest.approx((0.5 - 0.75) ** 2)


def test_ltml_class_weights() -> None:
    w = ltml_class_weights(t([[1, 0, -1]]), torch.tensor([0.1, 0.2, 0.3]))
    assert w.tolist()[0] == pytest.approx([math.exp(0.9), math.exp(0.2), math.exp(0.3)])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_ltml_reduces_to_an_bce(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(5, 3, generator=gen, dtype=torch.float64)
    targets = torch.randint(-1, 2, (5, 3), generator=gen).to(torch.int8)
    loss = LTMLLoss(class_counts=[0, 2, 5], num_samples=5, compensation="none", class_weighting="none")
    ref = F.binary_cross_entropy_with_logits(logits, (targets == 1).double(), reduction="none")
    # L_cls = -(1/K) sum_k [...] per sample, averaged over the batch = BCE mean over B*K
    per_sample = ref.sum(dim=1) / 3
    assert float(loss(logits, targets)) == pytest.approx(float(per_sample.mean()), abs=1e-12)


def test_ltml_consistency_zero_and_detach() -> None:
    loss = LTMLLoss(class_counts=[1, 2], num_samples=4, compensation="none")
    logits, targets = torch.randn(3, 2), t([[1, 0], [0, 1], [-1, 1]])
    assert float(ltml_consistency(logits, logits.clone()).abs().sum()) == 0.0
    assert float(loss(logits, targets, peer_logits=logits.clone())) == pytest.approx(
        float(loss(logits, targets))
    )
    for detach, expect_grad in ((False, True), (True, False)):
        loss.detach_peer = detach
        peer = torch.randn(3, 2, requires_grad=True)
        own = logits.clone().requires_grad_()
        loss(own, targets, peer_logits=peer).backward()
        assert own.grad is not None
        has_grad = peer.grad is not None and bool(peer.grad.abs().sum() > 0)
        assert has_grad == expect_grad


def test_ltml_learned_params_state_dict_and_groups() -> None:
    obs = t([[1, 0, -1], [0, 1, 1], [1, -1, 0], [0, 0, 1]])
    loss = create_loss("ltml", labels=obs)
    assert isinstance(loss, LTMLLoss)
    groups = loss.param_groups(0.01)
    assert len(groups) == 1 and len(groups[0]["params"]) == 4 and groups[0]["lr"] == 0.01
    assert loss.mu_pos.tolist() == pytest.approx([0.0, math.log(1 / 3), 0.0], abs=1e-6)  # rho = [.5, .25, .5]
    out = loss(torch.randn(4, 3), obs)
    out.backward()
    assert all(p.grad is not None for p in groups[0]["params"])
    with torch.no_grad():
        for p in loss.parameters():
            p.add_(torch.randn_like(p))
    fresh = create_loss("ltml", labels=obs)
    fresh.load_state_dict(loss.state_dict())
    original, restored = loss.state_dict(), fresh.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    assert create_loss("ltml", labels=obs, compensation="statistics").param_groups(0.01) == []
    assert not list(create_loss("ltml", labels=obs, compensation="statistics").parameters())


def test_ltml_errors() -> None:
    with pytest.raises(PartialMLError, match="class 1 has 0 positives"):
        create_loss("ltml", labels=t([[1, 0], [0, -1]]))
    assert isinstance(create_loss("ltml", labels=t([[1, 0], [0, -1]]), compensation="none"), LTMLLoss)
    loss = create_loss("ltml", labels=t([[1, 0], [0, 1]]))
    with pytest.raises(PartialMLError, match="peer_logits"):
        loss(torch.zeros(2, 2), t([[1, 0], [0, 1]]), peer_logits=torch.zeros(1, 2))


def test_ltml_gradcheck() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 3, dtype=torch.float64, generator=gen).requires_grad_()
    comp = [torch.randn(3, dtype=torch.float64, generator=gen).requires_grad_() for _ in range(4)]
    peer = torch.randn(3, 3, dtype=torch.float64, generator=gen).requires_grad_()
    targets = t([[1, 0, -1], [0, 1, 0], [-1, -1, 1]])
    weights = ltml_class_weights(targets, torch.tensor([0.2, 0.3, 0.4]))

    def f(
        x: torch.Tensor, sp: torch.Tensor, mp: torch.Tensor, sn: torch.Tensor, mn: torch.Tensor
    ) -> torch.Tensor:
        return ltml_classification_loss(
            x, targets, class_weights=weights, sigma_pos=sp, mu_pos=mp, sigma_neg=sn, mu_neg=mn
        )

    assert torch.autograd.gradcheck(f, (logits, *comp))
    for space in ("logits", "probabilities"):
        assert torch.autograd.gradcheck(lambda a, b, s=space: ltml_consistency(a, b, space=s), (logits, peer))
