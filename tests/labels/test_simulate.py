"""Simulators: the published algorithms (Cole's and CSL's, transcribed below from their released code),
invariants as property tests, and the scheme parser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from partialml.errors import PartialMLError
from partialml.labels import (
    PartialScheme,
    apply_scheme,
    fix_per_class,
    fraction_left,
    parse_scheme,
    random_per_sample,
    single_positive,
)
from partialml.labels.simulate import FractionRule

SETTINGS = settings(max_examples=60, deadline=None)

full_matrices = st.tuples(st.integers(1, 15), st.integers(1, 8)).flatmap(
    lambda s: arrays(np.int8, s, elements=st.sampled_from([0, 1]))
)


def cole_observe_uniform(full01: np.ndarray, num_pos: int, num_neg: int, seed: int) -> np.ndarray:
    """Cole et al.'s ``observe_uniform`` (``preproc/generate_observed_labels.py``), in their -1/0/+1 format
    (0 = unknown), transcribed from the released code."""
    label_matrix = np.where(full01 == 1, 1.0, -1.0)
    rng = np.random.RandomState(seed)
    obs = np.zeros_like(label_matrix)
    for i in range(label_matrix.shape[0]):
        for value, num in ((1.0, num_pos), (-1.0, num_neg)):
            idx = np.nonzero(label_matrix[i, :] == value)[0]
            rng.shuffle(idx)
            obs[i, idx if num == -1 else idx[:num]] = value
    return obs


def csl_simulate(full01: np.ndarray, mode: str, param: float, seed: int) -> np.ndarray:
    """CSL's ``simulate_coco`` (``src/helper_functions/coco_simulation.py``) with the global RNG seeded."""
    np.random.seed(seed)
    s = full01.astype(np.int64).copy()
    if mode == "fpc":
        out = -np.ones_like(s)
        for c in range(s.shape[1]):
            idx_pos = np.where(s[:, c] == 1)[0]
            idx_neg = np.where(s[:, c] == 0)[0]
            out[np.random.choice(idx_pos, np.minimum(int(param), len(idx_pos)), replace=False), c] = 1
            out[np.random.choice(idx_neg, np.minimum(int(param), len(idx_neg)), replace=False), c] = 0
        return out
    s[np.random.random(s.shape) < param] = -1
    return s


def check_subsets(full: np.ndarray, observed: np.ndarray) -> None:
    assert observed.dtype == np.int8 and observed.shape == full.shape
    assert set(np.unique(observed).tolist()) <= {-1, 0, 1}
    assert not ((observed == 1) & (full != 1)).any(), "an observed positive that is not a true positive"
    assert not ((observed == 0) & (full != 0)).any(), "an observed negative that is not a true negative"


# -- single positive ---------------------------------------------------------------------------------------


def test_single_positive_by_hand() -> None:
    full = np.array([[1, 1, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]])
    out = single_positive(full)
    assert out[1].tolist() == [-1, -1, -1, -1]  # no positive: stays unknown
    assert out[2].tolist() == [-1, 1, -1, -1]
    rng = np.random.RandomState(1200)  # Cole's seed: row 0's positives [0, 1, 2] shuffled, first kept
    first = np.array([0, 1, 2])
    rng.shuffle(first)
    assert np.flatnonzero(out[0] == 1).tolist() == [first[0]]


@SETTINGS
@given(full=full_matrices, num_pos=st.integers(-1, 3), num_neg=st.integers(-1, 3), seed=st.integers(0, 2**31))
def test_single_positive_equals_cole_code(full: np.ndarray, num_pos: int, num_neg: int, seed: int) -> None:
    ours = single_positive(full, num_pos=num_pos, num_neg=num_neg, seed=seed)
    cole = cole_observe_uniform(full, num_pos, num_neg, seed)
    np.testing.assert_array_equal(ours, np.select([cole == 1, cole == -1], [1, 0], -1))
    check_subsets(full, ours)
    n_pos = full.sum(1)
    want = n_pos if num_pos == -1 else np.minimum(num_pos, n_pos)
    np.testing.assert_array_equal((ours == 1).sum(1), want)


def test_single_positive_rejects() -> None:
    with pytest.raises(PartialMLError, match="full labels"):
        single_positive([[1, -1]])
    with pytest.raises(PartialMLError, match="num_pos"):
        single_positive([[1, 0]], num_pos=-2)


# -- fraction left -----------------------------------------------------------------------------------------


@SETTINGS
@given(
    full=full_matrices,
    fraction=st.floats(0.01, 1.0),
    seed=st.integers(0, 1000),
    rule=st.sampled_from(["robust-loss", "calibrated", "per-sample"]),
)
def test_fraction_left_invariants(full: np.ndarray, fraction: float, seed: int, rule: FractionRule) -> None:
    out = fraction_left(full, fraction, seed=seed, rule=rule)
    check_subsets(full, out)
    assert not (out == 0).any()
    n_pos, kept = full.sum(1), (out == 1).sum(1)
    assert (kept[n_pos > 0] >= 1).all(), "every sample with a positive keeps at least one"
    assert (kept[n_pos == 0] == 0).all()
    np.testing.assert_array_equal(out, fraction_left(full, fraction, seed=seed, rule=rule))
    negative = fraction_left(full, fraction, seed=seed, rule=rule, unlisted="negative")
    np.testing.assert_array_equal(negative, np.where(out == 1, 1, 0))
    if fraction == 1.0:
        np.testing.assert_array_equal(out == 1, full == 1)


def test_fraction_left_robust_loss_counts_by_hand() -> None:
    """Rows with 1..10 positives, 10 rows each: P = 550. Totals of k = 1 + floor(b n) by hand:
    b = 0.2: 170, 0.25: 200, 0.3: 220, 0.35: 250, 0.4: 280, 0.45: 300."""
    n_pos = np.repeat(np.arange(1, 11), 10)
    full = (np.arange(10)[None, :] < n_pos[:, None]).astype(np.int8)
    kept = (fraction_left(full, 0.4, seed=3) == 1).sum(1)  # target 220: b = 0.3 exactly
    np.testing.assert_array_equal(kept, 1 + (3 * n_pos) // 10)
    assert kept.sum() == 220
    kept = (fraction_left(full, 0.5, seed=3) == 1).sum(1)  # target 275: 280 (b = 0.4) is closest
    np.testing.assert_array_equal(kept, 1 + (2 * n_pos) // 5)
    assert kept.sum() == 280


def test_fraction_left_rates() -> None:
    """On 4,000 samples the calibrated rule keeps the target share; the per-sample rule its own."""
    rng = np.random.default_rng(0)
    full = (rng.random((4000, 30)) < 0.1).astype(np.int8)
    full[np.arange(4000), rng.integers(0, 30, 4000)] = 1
    total = full.sum()
    for fraction in (0.4, 0.75):
        calibrated = (fraction_left(full, fraction, seed=1, rule="calibrated") == 1).sum()
        assert abs(calibrated / total - fraction) < 0.01
        n_pos = full.sum(1)
        expect = np.where(fraction * n_pos < 1, 1, fraction * n_pos)  # E[max(1, R(x))]: 1 if x < 1, else x
        per_sample = (fraction_left(full, fraction, seed=1, rule="per-sample") == 1).sum()
        assert abs(per_sample - expect.sum()) < 0.01 * total
    a = fraction_left(full, 0.4, seed=1, rule="calibrated")
    b = fraction_left(full, 0.4, seed=2, rule="calibrated")
    assert not np.array_equal(a, b)


def test_fraction_left_uniform_choice() -> None:
    """Each of 4 positives is kept about equally often (1 of 4 kept at fraction 0.25)."""
    full = np.ones((4000, 4), dtype=np.int8)
    kept = (fraction_left(full, 0.25, seed=5) == 1).sum(0)
    assert kept.sum() == 4000
    assert np.abs(kept / 1000 - 1).max() < 0.1


def test_fraction_left_rejects() -> None:
    for bad in (0, 1.5, -0.1):
        with pytest.raises(PartialMLError, match="fraction must be in"):
            fraction_left([[1, 0]], bad)
    with pytest.raises(PartialMLError, match="unknown rule"):
        fraction_left([[1, 0]], 0.5, rule="magic")  # type: ignore[arg-type]


# -- CSL FPC / RPS -----------------------------------------------------------------------------------------


@SETTINGS
@given(full=full_matrices, n=st.integers(0, 6), seed=st.integers(0, 2**31))
def test_fix_per_class_equals_csl_code(full: np.ndarray, n: int, seed: int) -> None:
    ours = fix_per_class(full, n, seed=seed)
    np.testing.assert_array_equal(ours, csl_simulate(full, "fpc", n, seed))
    check_subsets(full, ours)
    np.testing.assert_array_equal((ours == 1).sum(0), np.minimum(n, full.sum(0)))
    np.testing.assert_array_equal((ours == 0).sum(0), np.minimum(n, (1 - full).sum(0)))


@SETTINGS
@given(full=full_matrices, p=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_random_per_sample_equals_csl_code(full: np.ndarray, p: float, seed: int) -> None:
    ours = random_per_sample(full, p, seed=seed)
    np.testing.assert_array_equal(ours, csl_simulate(full, "rps", p, seed))
    check_subsets(full, ours)
    np.testing.assert_array_equal(ours, random_per_sample(full, p, seed=seed))


def test_random_per_sample_rate() -> None:
    full = np.zeros((500, 40), dtype=np.int8)
    dropped = (random_per_sample(full, 0.3, seed=0) == -1).mean()
    assert abs(dropped - 0.3) < 0.01


# -- schemes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scheme"),
    [
        ("full", PartialScheme("full")),
        (" Single-Positive ", PartialScheme("single-positive")),
        ("fraction:0.4", PartialScheme("fraction", 0.4)),
        ("fraction: 1", PartialScheme("fraction", 1.0)),
        ("fpc:1000", PartialScheme("fpc", 1000)),
        ("rps:0.5", PartialScheme("rps", 0.5)),
        ("rps:0", PartialScheme("rps", 0.0)),
        ("given", PartialScheme("given")),
    ],
)
def test_parse_scheme(text: str, scheme: PartialScheme) -> None:
    assert parse_scheme(text) == scheme
    assert parse_scheme(str(scheme)) == scheme


@pytest.mark.parametrize(
    "text",
    [
        "",
        "half",
        "fraction",
        "fraction:0",
        "fraction:1.5",
        "fraction:nan",
        "fpc:0",
        "fpc:1.5",
        "rps:1",
        "full:1",
    ],
)
def test_parse_scheme_errors_list_valid_forms(text: str) -> None:
    with pytest.raises(PartialMLError) as info:
        parse_scheme(text)
    message = str(info.value)
    assert repr(text) in message and "fraction:F" in message and "single-positive" in message
    assert "\n" not in message


def test_apply_scheme() -> None:
    rng = np.random.default_rng(0)
    full = (rng.random((50, 6)) < 0.3).astype(np.int8)
    np.testing.assert_array_equal(apply_scheme("full", full), full)
    np.testing.assert_array_equal(apply_scheme("single-positive", full), single_positive(full, seed=1200))
    np.testing.assert_array_equal(
        apply_scheme("single-positive", full, seed=3), single_positive(full, seed=3)
    )
    np.testing.assert_array_equal(apply_scheme("fraction:0.5", full), fraction_left(full, 0.5, seed=0))
    np.testing.assert_array_equal(apply_scheme("fpc:3", full, seed=2), fix_per_class(full, 3, seed=2))
    np.testing.assert_array_equal(apply_scheme(parse_scheme("rps:0.2"), full), random_per_sample(full, 0.2))
    given_labels = np.where(full == 1, 1, -1)
    np.testing.assert_array_equal(apply_scheme("given", full, given=given_labels), given_labels)
    np.testing.assert_array_equal(apply_scheme("given", None, given=given_labels), given_labels)
    with pytest.raises(PartialMLError, match="needs the labels as read"):
        apply_scheme("given", full)
    with pytest.raises(PartialMLError, match="needs full labels"):
        apply_scheme("fpc:3", None)
    with pytest.raises(PartialMLError, match="shape"):
        apply_scheme("given", full[:10], given=given_labels)
