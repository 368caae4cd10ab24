"""Whole-batch feature reading: every sample once per epoch, features paired with positions, memmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from partialml.engine.loaders import FeatureBatches


def _features(n: int = 23, d: int = 4) -> np.ndarray:
    return np.arange(n * d, dtype=np.float32).reshape(n, d)


@pytest.mark.parametrize("kind", ["tensor", "array", "memmap"])
@pytest.mark.parametrize("num_workers", [0, 1])
def test_each_sample_once_and_features_match_positions(kind: str, num_workers: int, tmp_path: Path) -> None:
    x = _features()
    if kind == "tensor":
        feats = torch.from_numpy(x)
    elif kind == "memmap":
        mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=x.shape)
        mm[:] = x
        mm.flush()
        feats = np.load(tmp_path / "x.npy", mmap_mode="r")
        assert isinstance(feats, np.memmap)
    else:
        feats = x
    rows = np.array([20, 1, 3, 5, 8, 13, 2, 21, 0, 7, 11])  # a subset, not sorted
    g = torch.Generator().manual_seed(0)
    batches = FeatureBatches(feats, rows, batch_size=4, shuffle=True, generator=g, num_workers=num_workers)
    assert len(batches) == 3
    seen = []
    for xb, pos in batches:
        assert xb.dtype == torch.float32 and pos.dtype == torch.long
        assert torch.equal(xb, torch.from_numpy(x[rows[pos.numpy()]]))
        if kind == "memmap":  # rows read in increasing order
            assert (np.diff(rows[pos.numpy()]) > 0).all()
        seen.extend(pos.tolist())
    assert sorted(seen) == list(range(len(rows)))


def test_order_follows_the_generator_and_changes_between_epochs() -> None:
    x = torch.from_numpy(_features(50))
    rows = np.arange(50)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    b1 = FeatureBatches(x, rows, batch_size=7, shuffle=True, generator=g1)
    b2 = FeatureBatches(x, rows, batch_size=7, shuffle=True, generator=g2)
    e1 = [p.tolist() for _, p in b1]
    assert e1 == [p.tolist() for _, p in b2]
    assert e1 != [p.tolist() for _, p in b1]  # the next epoch draws a new order
    plain = FeatureBatches(x, rows, batch_size=7)
    assert torch.cat([p for _, p in plain]).tolist() == list(range(50))
