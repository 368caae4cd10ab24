"""LabelStore: lookups, corrections, statistics and checkpoints, each against a plain dense NumPy reference;
dense and CSR layouts must give identical results."""

from __future__ import annotations

import json
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import partialml.labels.store as store_module
from partialml.errors import PartialMLError
from partialml.labels import LabelStore
from partialml.labels.store import Layout

SETTINGS = settings(max_examples=60, deadline=None)


def random_labels(n: int, c: int, *, seed: int, p_known: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(observed, full): full 0/1 with rare positives; observed agrees with full where known."""
    rng = np.random.default_rng(seed)
    full = (rng.random((n, c)) < 0.15).astype(np.int8)
    observed = np.where(rng.random((n, c)) < p_known, full, -1).astype(np.int8)
    return observed, full


class Reference:
    """The obvious dense implementation: a copy of the matrix, corrections written in place."""

    def __init__(self, observed: np.ndarray) -> None:
        self.observed = observed.astype(np.int8).copy()

    def apply(self, idx: np.ndarray, mask: np.ndarray) -> int:
        before = self.observed.copy()
        for b, row in enumerate(idx):
            hit = mask[b] & (self.observed[row] == -1)
            self.observed[row, hit] = 1
        return int((before != self.observed).sum())


def both_layouts(observed: np.ndarray, full: np.ndarray | None = None) -> list[LabelStore]:
    return [LabelStore.from_dense(observed, full=full, layout=layout) for layout in ("dense", "csr")]


# -- construction and lookups ------------------------------------------------------------------------------


def test_small_example_by_hand() -> None:
    store = LabelStore.from_dense([[1, -1, -1], [-1, 0, 1], [-1, -1, -1]], class_names=["a", "b", "c"])
    assert (store.num_samples, store.num_classes, len(store)) == (3, 3, 3)
    assert store.class_names == ["a", "b", "c"]
    assert not store.has_full
    out = store[torch.tensor([1, 0, 1])]
    assert out.dtype == torch.int8 and out.tolist() == [[-1, 0, 1], [1, -1, -1], [-1, 0, 1]]
    assert store.positives_per_class().tolist() == [1, 0, 1]
    assert store.negatives_per_class().tolist() == [0, 1, 0]
    assert store.unknown_per_class().tolist() == [2, 2, 2]
    assert store.positives_per_sample().tolist() == [1, 1, 0]
    assert store.class_prior().tolist() == pytest.approx([1 / 3, 0, 1 / 3])
    assert store.expected_positives() == pytest.approx(2 / 3)
    assert LabelStore.from_dense([[1, 0]]).class_names == ["class_0", "class_1"]


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_index_types_agree(layout: Layout) -> None:
    observed, _ = random_labels(40, 7, seed=1)
    store = LabelStore.from_dense(observed, layout=layout)
    want = observed[[3, 0, 39, 3]]
    for idx in (
        [3, 0, 39, 3],
        np.array([3, 0, 39, 3]),
        torch.tensor([3, 0, 39, 3]),
        np.array([3, 0, 39, 3], np.int32),
    ):
        np.testing.assert_array_equal(store[idx].numpy(), want)
        np.testing.assert_array_equal(store.observed(idx).numpy(), want)
    np.testing.assert_array_equal(store[5:20:3].numpy(), observed[5:20:3])
    assert store[[]].shape == (0, 7)
    with pytest.raises(IndexError, match="40 out of range"):
        store[[40]]
    with pytest.raises(IndexError):
        store[torch.tensor([-1])]
    with pytest.raises(TypeError):
        store[torch.tensor([0.0])]
    with pytest.raises(TypeError):
        store[np.array([[0]])]


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_store_does_not_alias_the_input(layout: Layout) -> None:
    observed = np.array([[1, -1], [-1, 0]], dtype=np.int8)
    store = LabelStore.from_dense(observed, layout=layout)
    observed[:] = 1
    assert store.to_dense().tolist() == [[1, -1], [-1, 0]]
    batch = store[[0]]
    batch[:] = 0  # a lookup is a copy, too
    assert store.to_dense().tolist() == [[1, -1], [-1, 0]]


def test_auto_layout_and_default() -> None:
    observed, full = random_labels(30, 5, seed=2)
    assert LabelStore.from_dense(observed).layout == "dense"
    csr = LabelStore.from_dense(observed, full=full, layout="csr")
    assert csr.layout == "csr" and csr.default == -1  # mostly unknown
    full_store = LabelStore.from_dense(full, layout="csr")
    assert full_store.default == 0  # full labels with rare positives
    np.testing.assert_array_equal(full_store.to_dense().numpy(), full)


def test_auto_layout_switches_at_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "DENSE_MAX_ENTRIES", 99)
    observed, _ = random_labels(20, 5, seed=3)
    assert LabelStore.from_dense(observed).layout == "csr"
    assert LabelStore.from_dense(observed[:19]).layout == "dense"


def test_full_labels() -> None:
    observed, full = random_labels(25, 6, seed=4)
    for store in both_layouts(observed, full):
        assert store.has_full
        np.testing.assert_array_equal(store.full([2, 7]).numpy(), full[[2, 7]])
        np.testing.assert_array_equal(store.to_dense(full=True).numpy(), full)
        assert store.positives_per_class(full=True).tolist() == full.sum(0).tolist()
        assert store.negatives_per_class(full=True).tolist() == (1 - full).sum(0).tolist()
        assert store.unknown_per_class(full=True).tolist() == [0] * 6
        assert store.positives_per_sample(full=True).tolist() == full.sum(1).tolist()
        assert store.expected_positives(full=True) == pytest.approx(full.sum() / 25)
    with pytest.raises(PartialMLError, match="no full labels"):
        LabelStore.from_dense(observed).full([0])


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_full_must_agree_with_observed(layout: Layout) -> None:
    observed, full = random_labels(10, 4, seed=5)
    observed[3, 2], full[3, 2] = 1, 0
    with pytest.raises(PartialMLError, match=re.escape("observed label (3, 2) is 1 but the full label is 0")):
        LabelStore.from_dense(observed, full=full, layout=layout)
    observed[3, 2], full[3, 2] = 0, 1
    with pytest.raises(PartialMLError, match=re.escape("observed label (3, 2) is 0 but the full label is 1")):
        LabelStore.from_dense(observed, full=full, layout=layout)
    with pytest.raises(PartialMLError, match="expected 1 or 0"):
        LabelStore.from_dense(observed, full=observed)
    with pytest.raises(PartialMLError, match="9 samples"):
        LabelStore.from_dense(observed, full=full[:9])


def test_agreement_with_negative_default() -> None:
    """An observed matrix that is mostly 0 (default 0): a full positive where observed is an implicit 0."""
    full = np.zeros((6, 5), np.int8)
    full[2, 4] = 1
    observed = np.zeros((6, 5), np.int8)
    with pytest.raises(PartialMLError, match=re.escape("(2, 4) is 0 but the full label is 1")):
        LabelStore.from_dense(observed, full=full, layout="csr")
    observed[2, 4] = -1
    LabelStore.from_dense(observed, full=full, layout="csr")


def test_invalid_inputs() -> None:
    with pytest.raises(PartialMLError, match="observed labels entry"):
        LabelStore.from_dense([[2, 0]])
    with pytest.raises(PartialMLError, match="1 class names for 2 classes"):
        LabelStore.from_dense([[1, 0]], class_names=["a"])
    with pytest.raises(PartialMLError, match="duplicate class name 'a'"):
        LabelStore.from_dense([[1, 0]], class_names=["a", "a"])
    with pytest.raises(PartialMLError, match="unknown layout"):
        LabelStore.from_dense([[1, 0]], layout="bitmap")  # type: ignore[arg-type]


# -- from_sparse -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_from_sparse_matches_from_dense(layout: Layout) -> None:
    observed, full = random_labels(50, 9, seed=6)
    rows, cols = np.nonzero(observed != -1)
    perm = np.random.default_rng(0).permutation(rows.size)  # unsorted input is sorted by the store
    store = LabelStore.from_sparse(
        50, 9, rows[perm].astype(np.int32), cols[perm], observed[rows, cols][perm], full=full, layout=layout
    )
    np.testing.assert_array_equal(store.to_dense().numpy(), observed)
    np.testing.assert_array_equal(store.to_dense(full=True).numpy(), full)
    f_rows, f_cols = np.nonzero(full)
    as_tuple = LabelStore.from_sparse(
        50, 9, rows, cols, observed[rows, cols], full=(f_rows, f_cols), layout=layout
    )
    np.testing.assert_array_equal(as_tuple.to_dense(full=True).numpy(), full)
    # listed entries equal to the default are dropped; torch inputs work
    with_defaults = LabelStore.from_sparse(
        50,
        9,
        torch.from_numpy(rows),
        torch.from_numpy(cols),
        torch.from_numpy(observed[rows, cols]),
        layout=layout,
    )
    np.testing.assert_array_equal(with_defaults.to_dense().numpy(), observed)


def test_from_sparse_default_zero() -> None:
    store = LabelStore.from_sparse(3, 4, [0, 2, 2], [1, 0, 3], [1, 1, -1], default=0, layout="csr")
    assert store.to_dense().tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, -1]]
    assert store.default == 0
    assert store.negatives_per_class().tolist() == [2, 2, 3, 2]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (([0, 3], [0, 0], [1, 1]), "row index 3 out of range for 3 samples"),
        (([0, 1], [0, 4], [1, 1]), "column index 4 out of range for 4 classes"),
        (([0, 1], [0, -1], [1, 1]), "column index -1 out of range"),
        (([0, 1], [0, 1], [1, 2]), "value 2; expected 1, 0 or -1"),
        (([0, 1], [0, 1], [1]), "lengths 2, 2, 1"),
        (([1, 0, 1], [2, 0, 2], [1, 0, 0]), "entry (1, 2) is given more than once"),
        (([0.5], [0], [1]), "non-integer"),
    ],
)
def test_from_sparse_errors(args: tuple[list[float], list[int], list[int]], expected: str) -> None:
    with pytest.raises(PartialMLError, match=re.escape(expected)):
        LabelStore.from_sparse(3, 4, *args)


def test_from_sparse_bad_shape_and_default() -> None:
    with pytest.raises(PartialMLError, match="num_classes must be an integer >= 1"):
        LabelStore.from_sparse(3, 0, [], [], [])
    with pytest.raises(PartialMLError, match="default must be one of"):
        LabelStore.from_sparse(3, 2, [], [], [], default=2)
    empty = LabelStore.from_sparse(3, 2, [], [], [], layout="csr")
    assert empty.to_dense().tolist() == [[-1, -1]] * 3


# -- corrections -------------------------------------------------------------------------------------------


def test_apply_corrections_only_on_unknown() -> None:
    for store in both_layouts(np.array([[1, -1, 0], [-1, -1, -1]])):
        mask = torch.tensor([[True, True, True], [False, True, False]])
        assert store.apply_corrections(torch.tensor([0, 1]), mask) == 2
        assert store.to_dense().tolist() == [[1, 1, 0], [-1, 1, -1]]
        assert store.apply_corrections([0, 1], mask) == 0  # already written
        assert store.apply_corrections([1, 1], torch.tensor([[True, False, False], [True, False, True]])) == 2
        assert store.num_corrections == 4
        rows, cols = store.corrections()
        assert rows.tolist() == [0, 1, 1, 1] and cols.tolist() == [1, 0, 1, 2]
        assert store.positives_per_class().tolist() == [2, 2, 1]
        assert store.unknown_per_class().tolist() == [0, 0, 0]
        assert store.negatives_per_class().tolist() == [0, 0, 1]
        assert store.positives_per_sample().tolist() == [2, 3]
        with pytest.raises(ValueError, match="shape"):
            store.apply_corrections([0], torch.ones(2, 3, dtype=torch.bool))
        with pytest.raises(TypeError, match="bool"):
            store.apply_corrections([0], torch.ones(1, 3))


@SETTINGS
@given(
    observed=st.tuples(st.integers(1, 12), st.integers(1, 6)).flatmap(
        lambda s: arrays(np.int8, s, elements=st.sampled_from([-1, -1, 0, 1]))
    ),
    data=st.data(),
)
def test_layouts_and_reference_agree_under_corrections(observed: np.ndarray, data: st.DataObject) -> None:
    """Random batches of corrections: dense and CSR stores equal the dense reference after every step.
    A tiny pending buffer makes merges into the main sorted array happen during the test."""
    with mock.patch.object(store_module, "_PENDING_MAX", 2):
        check_against_reference(observed, data)


def check_against_reference(observed: np.ndarray, data: st.DataObject) -> None:
    n, c = observed.shape
    reference = Reference(observed)
    stores = both_layouts(observed)
    for _ in range(data.draw(st.integers(1, 6))):
        idx = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5)))
        mask = data.draw(arrays(np.bool_, (idx.size, c)))
        want = reference.apply(idx, mask)
        for store in stores:
            assert store.apply_corrections(torch.from_numpy(idx), torch.from_numpy(mask)) == want
    probe = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=6)), dtype=np.int64)
    for store in stores:
        np.testing.assert_array_equal(store.to_dense().numpy(), reference.observed)
        np.testing.assert_array_equal(store[probe].numpy(), reference.observed[probe])
        assert store.positives_per_class().tolist() == (reference.observed == 1).sum(0).tolist()
        assert store.negatives_per_class().tolist() == (reference.observed == 0).sum(0).tolist()
        assert store.unknown_per_class().tolist() == (reference.observed == -1).sum(0).tolist()
        assert store.positives_per_sample().tolist() == (reference.observed == 1).sum(1).tolist()
        assert store.num_corrections == int(((reference.observed == 1) & (observed == -1)).sum())


def test_statistics_chunked_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks make the CSR statistics loop over many chunks; the counts must not change."""
    observed, full = random_labels(200, 13, seed=7)
    want = LabelStore.from_dense(observed, full=full, layout="dense")
    monkeypatch.setattr(store_module, "_CHUNK_ENTRIES", 7)
    got = LabelStore.from_dense(observed, full=full, layout="csr")
    for name in ("positives_per_class", "negatives_per_class", "unknown_per_class", "positives_per_sample"):
        for full_flag in (False, True):
            assert getattr(got, name)(full=full_flag).tolist() == getattr(want, name)(full=full_flag).tolist()
    np.testing.assert_array_equal(got.to_dense().numpy(), observed)


def test_summary_is_plain() -> None:
    observed, full = random_labels(20, 4, seed=8)
    store = LabelStore.from_dense(observed, full=full)
    summary = store.summary()
    json.dumps(summary)
    assert summary["positives"] == int((observed == 1).sum())
    assert summary["negatives"] == int((observed == 0).sum())
    assert summary["unknown"] == int((observed == -1).sum())
    assert summary["full_positives"] == int(full.sum())
    assert summary["annotated_fraction"] == pytest.approx((observed != -1).mean())


# -- checkpoints -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_state_dict_round_trip_weights_only(tmp_path: Path, layout: Layout) -> None:
    observed, full = random_labels(30, 6, seed=9)
    store = LabelStore.from_dense(observed, full=full, class_names=list("abcdef"), layout=layout)
    store.apply_corrections(np.arange(30), np.ones((30, 6), dtype=bool) & (np.arange(6) < 2))
    path = tmp_path / "labels.pt"
    torch.save(store.state_dict(), path)
    loaded = torch.load(path, weights_only=True)
    again = LabelStore.from_state_dict(loaded)
    assert again.class_names == list("abcdef") and again.layout == layout
    np.testing.assert_array_equal(again.to_dense().numpy(), store.to_dense().numpy())
    np.testing.assert_array_equal(again.to_dense(full=True).numpy(), full)
    assert [t.tolist() for t in again.corrections()] == [t.tolist() for t in store.corrections()]
    fresh = LabelStore.from_dense(observed, full=full, class_names=list("abcdef"), layout=layout)
    fresh.load_state_dict(loaded)
    assert fresh.num_corrections == store.num_corrections
    np.testing.assert_array_equal(fresh.to_dense().numpy(), store.to_dense().numpy())


def test_load_state_dict_mismatch_and_tampering() -> None:
    observed, _ = random_labels(10, 4, seed=10)
    state = LabelStore.from_dense(observed, layout="csr").state_dict()
    with pytest.raises(PartialMLError, match="10 x 4, this store is 9 x 4"):
        LabelStore.from_dense(observed[:9]).load_state_dict(state)
    with pytest.raises(PartialMLError, match="class names"):
        LabelStore.from_dense(observed, class_names=list("wxyz")).load_state_dict(state)
    with pytest.raises(PartialMLError, match=re.escape("not a partialml.LabelStore state")):
        LabelStore.from_state_dict({"weights": torch.zeros(2)})
    bad = dict(state, version=99)
    with pytest.raises(PartialMLError, match="version 99"):
        LabelStore.from_state_dict(bad)
    known = int(np.flatnonzero(observed.reshape(-1) != -1)[0])
    with pytest.raises(PartialMLError, match="observed"):
        LabelStore.from_state_dict(dict(state, corrections=torch.tensor([known])))
    short = dict(state, observed=dict(state["observed"], indptr=state["observed"]["indptr"][:-1]))
    with pytest.raises(PartialMLError, match="indptr"):
        LabelStore.from_state_dict(short)


def test_moderate_scale_memory_and_equivalence() -> None:
    """20,000 x 5,000 with 1 % annotated: CSR bytes follow the formula and lookups equal a direct build."""
    n, c, k = 20_000, 5_000, 50
    rng = np.random.default_rng(11)
    cols = np.sort(rng.choice(c, size=(n, k), replace=True), axis=1).astype(np.int16)
    keep = np.ones_like(cols, dtype=bool)
    keep[:, 1:] = cols[:, 1:] != cols[:, :-1]
    rows = np.repeat(np.arange(n, dtype=np.int32), k).reshape(n, k)[keep]
    values = (rng.random(rows.size) < 0.1).astype(np.int8)
    store = LabelStore.from_sparse(n, c, rows, cols[keep], values, layout="csr")
    assert store.nbytes == 8 * (n + 1) + 3 * rows.size
    idx = rng.integers(0, n, 256)
    batch = store[idx].numpy()
    dense_rows = np.full((256, c), -1, np.int8)
    for b, i in enumerate(idx):
        sel = rows == i
        dense_rows[b, cols[keep][sel]] = values[sel]
    np.testing.assert_array_equal(batch, dense_rows)
