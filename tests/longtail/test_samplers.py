"""Samplers: class balance (chi-square bound), seeded determinism, DDP shares, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from partialml.data.samplers import ClassAwareSampler, UniformSampler, build_sampler
from partialml.errors import PartialMLError


def _long_tail_labels(seed: int = 0) -> np.ndarray:
    """Single-label rows with class sizes 200, 50, 10, 2 (a long tail); class 4 has no positive."""
    sizes = [200, 50, 10, 2]
    y = np.zeros((sum(sizes), 5), dtype=np.int8)
    y[np.arange(y.shape[0]), np.repeat(np.arange(4), sizes)] = 1
    return y[np.random.default_rng(seed).permutation(y.shape[0])]


@pytest.mark.parametrize("mode", ["class-aware", "db"])
def test_drawn_class_frequencies_are_uniform(mode: str) -> None:
    y = _long_tail_labels()
    s = ClassAwareSampler(y, mode=mode, num_samples=4000, seed=3)
    draws = s.indices().numpy()
    cls = y[draws, :4].argmax(1)
    observed = np.bincount(cls, minlength=4)
    # uniform over the 4 classes with a positive; p < 1e-3 would fail (a real test)
    assert stats.chisquare(observed).pvalue > 1e-3
    assert s.num_classes_drawn == 4
    # the same draws under uniform sampling are far from class-uniform
    uni = UniformSampler(y.shape[0], seed=3).indices().numpy()
    assert stats.chisquare(np.bincount(y[uni, :4].argmax(1), minlength=4)).pvalue < 1e-10


def test_class_aware_draws_only_positives_uniformly_within_class() -> None:
    y = _long_tail_labels()
    draws = ClassAwareSampler(y, num_samples=20000, seed=0).indices().numpy()
    members = np.flatnonzero(y[:, 1] == 1)
    counts = np.bincount(draws, minlength=y.shape[0])[members]
    assert stats.chisquare(counts).pvalue > 1e-3
    assert (y[draws, :4].sum(1) == 1).all()


def test_db_epoch_length_and_three_consecutive() -> None:
    y = _long_tail_labels()
    s = ClassAwareSampler(y, mode="db", seed=0)
    assert len(s) == int(200 * 4 / 4)  # max count x classes with a positive / 4, floor
    cls = y[s.indices().numpy(), :4].argmax(1)[:198]
    assert (cls[0::3] == cls[1::3]).all() and (cls[0::3] == cls[2::3]).all()


def test_seeded_determinism_and_epochs_differ() -> None:
    y = _long_tail_labels()
    a, b = ClassAwareSampler(y, seed=5), ClassAwareSampler(y, seed=5)
    assert torch.equal(a.indices(), b.indices())
    a.set_epoch(1)
    assert not torch.equal(a.indices(), b.indices())
    assert not torch.equal(ClassAwareSampler(y, seed=6).indices(), b.indices())


@pytest.mark.parametrize("name", ["uniform", "class-aware", "db"])
@pytest.mark.parametrize("replicas", [2, 3])
def test_rank_shares_disjoint_and_covering(name: str, replicas: int) -> None:
    y = _long_tail_labels()
    full = build_sampler(name, y, seed=1, num_samples=101)
    full.set_epoch(2)
    shares = []
    for rank in range(replicas):
        s = build_sampler(name, y, seed=1, num_samples=101, num_replicas=replicas, rank=rank)
        s.set_epoch(2)
        shares.append(list(s))
        assert len(s) == len(shares[-1]) == -(-101 // replicas)
    draws = full.epoch_draws() if name != "uniform" else None
    # interleaving the shares gives back one sequence (disjoint draw slots, all covered)
    merged = [shares[r][i] for i in range(len(shares[0])) for r in range(replicas)]
    s0 = build_sampler(name, y, seed=1, num_samples=101, num_replicas=replicas, rank=0)
    s0.set_epoch(2)
    assert merged == s0.epoch_draws().tolist()
    if name == "uniform":
        assert set(merged) == set(range(101))
    else:
        assert draws is not None and len(merged) >= len(draws)


def test_resume_equality() -> None:
    y = _long_tail_labels()
    s = ClassAwareSampler(y, mode="db", seed=2)
    s.set_epoch(4)
    state = s.state_dict()
    t = ClassAwareSampler(y, mode="db", seed=0)
    t.load_state_dict(state)
    assert torch.equal(s.indices(), t.indices())


def test_no_positive_is_an_error() -> None:
    with pytest.raises(PartialMLError, match="no observed positive"):
        ClassAwareSampler(np.zeros((3, 2), dtype=np.int8))
    with pytest.raises(PartialMLError, match="rank"):
        UniformSampler(4, num_replicas=2, rank=2)
