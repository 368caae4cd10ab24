"""``LabelStore.from_dense(copy=False)``: the store keeps the caller's int8 arrays (one copy of the
labels, not two) and answers exactly as a copying store; the default value is found by row blocks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from partialml.labels import LabelStore

STORE_MODULE = sys.modules["partialml.labels.store"]


def _labels(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    full = (rng.random((50, 6)) < 0.3).astype(np.int8)
    observed = np.where(rng.random((50, 6)) < 0.5, full, -1).astype(np.int8)
    return observed, full


def _dense_arrays(store: LabelStore) -> tuple[np.ndarray, np.ndarray]:
    state = store.state_dict()
    return state["observed"]["data"].numpy(), state["full"]["data"].numpy()


def test_copy_false_keeps_the_arrays_and_answers_like_a_copy() -> None:
    observed, full = _labels()
    kept = LabelStore.from_dense(observed, full=full, copy=False)
    copied = LabelStore.from_dense(observed, full=full)
    obs_kept, full_kept = _dense_arrays(kept)
    obs_copied, full_copied = _dense_arrays(copied)
    assert np.shares_memory(obs_kept, observed) and np.shares_memory(full_kept, full)
    assert not np.shares_memory(obs_copied, observed) and not np.shares_memory(full_copied, full)
    idx = torch.tensor([3, 0, 49, 3])
    assert torch.equal(kept[idx], copied[idx]) and torch.equal(kept.full(idx), copied.full(idx))
    assert torch.equal(kept.to_dense(), torch.from_numpy(observed))
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[:, 2] = True
    assert kept.apply_corrections(idx, mask) == copied.apply_corrections(idx, mask)
    assert torch.equal(kept.to_dense(), copied.to_dense())
    assert np.array_equal(observed, _labels()[0])  # corrections live in the overlay, never in the array


def test_copy_false_converts_other_dtypes_and_csr_ignores_it() -> None:
    observed, full = _labels(1)
    as_int64 = observed.astype(np.int64)
    store = LabelStore.from_dense(as_int64, copy=False)  # converted to int8: a new array is kept
    assert torch.equal(store.to_dense(), torch.from_numpy(observed))
    csr = LabelStore.from_dense(observed, full=full, layout="csr", copy=False)
    assert csr.layout == "csr" and torch.equal(csr.to_dense(), torch.from_numpy(observed))


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((30, 10, 10), -1), ((10, 30, 10), 0), ((5, 20, 25), 1), ((20, 20, 10), -1), ((10, 20, 20), 0)],
)
def test_default_is_the_most_common_value_counted_by_row_blocks(
    monkeypatch: pytest.MonkeyPatch, counts: tuple[int, int, int], expected: int
) -> None:
    """50 x 1 labels with the given numbers of -1, 0, 1 (shuffled); blocks of 7 rows; ties: -1, then 0."""
    monkeypatch.setattr(STORE_MODULE, "_CHUNK_ENTRIES", 7)
    values = np.repeat(np.array([-1, 0, 1], dtype=np.int8), counts)
    np.random.default_rng(2).shuffle(values)
    store = LabelStore.from_dense(values[:, None], layout="csr")
    assert store.default == expected
    assert torch.equal(store.to_dense(), torch.from_numpy(values[:, None]))
