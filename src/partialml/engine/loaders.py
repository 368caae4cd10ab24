"""Whole-batch reading of precomputed features: no per-sample Dataset, no collate.

Datasets in partialml return ``(input, sample_index)`` and the labels come from the LabelStore. For
features held in memory a per-sample ``DataLoader`` would spend most of an epoch in Python (one
``__getitem__`` and one collate per sample); here each step indexes the feature matrix once with a
whole batch of rows:

* :class:`FeatureBatches` yields ``(x, positions)``: ``x`` float ``(B, D)`` on the target device and
  ``positions`` long ``(B,)`` on the CPU, the 0-based positions of the samples in the training subset
  (the LabelStore's indices). ``rows[positions]`` are the rows of the feature matrix.
* In-memory features (a tensor, or a NumPy array viewed as one without a copy) are gathered with one
  ``index_select``. A ``numpy.memmap`` is read with the batch's rows **sorted** (sequential reads), and
  the positions are reordered alike so that features and labels stay paired.
* The batch order is one ``torch.randperm`` per epoch from the caller's ``torch.Generator``, drawn when
  iteration starts, so that saving the generator's state at the end of an epoch is enough to resume.
* ``num_workers > 0`` reads the batches in DataLoader worker processes (``batch_size=None``: each item
  is already a whole batch), useful for memmaps on slow disks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

FeatureMatrix = Tensor | np.ndarray


def as_feature_matrix(x: np.ndarray | Tensor) -> FeatureMatrix:
    """A tensor view of in-memory features (no copy when possible); memmaps are kept as they are."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.memmap):
        return x
    arr = np.asarray(x)
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr).copy()
    return torch.from_numpy(arr)


def gather_rows(features: FeatureMatrix, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Read ``features[rows]`` as float32; returns ``(x, order)`` with ``x[i] = features[rows[order[i]]]``.

    For a tensor ``order`` is the identity (``arange``); for a memmap it sorts ``rows``.
    """
    if isinstance(features, Tensor):
        x = features.index_select(0, rows.to(features.device))
        return (x if x.dtype == torch.float32 else x.float()), torch.arange(len(rows))
    order = torch.argsort(rows)
    sorted_rows = rows[order].numpy()
    x_np = np.asarray(features[sorted_rows], dtype=np.float32)
    return torch.from_numpy(x_np), order


class _BatchReader(Dataset[tuple[Tensor, Tensor]]):
    """Map-style dataset whose item ``i`` is the whole ``i``-th batch ``(x, positions)``."""

    def __init__(self, features: FeatureMatrix, rows: Tensor, batches: list[Tensor]) -> None:
        self.features = features
        self.rows = rows
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        positions = self.batches[i]
        x, order = gather_rows(self.features, self.rows[positions])
        return x, positions[order]


class FeatureBatches:
    """Iterate over ``(x, positions)`` batches of the rows ``rows`` of a feature matrix.

    Args:
        features: ``(N, D)`` features: a tensor (CPU or on ``device``), an array or a memmap.
        rows: ``(n,)`` rows of ``features`` that make the subset; position ``j`` is ``rows[j]``.
        batch_size: samples per batch (the last one may be smaller; nothing is dropped).
        shuffle: draw a new order each epoch from ``generator``.
        generator: the batch-order generator (required with ``shuffle``).
        device: where ``x`` is put; ``positions`` stay on the CPU for the LabelStore.
        num_workers: DataLoader workers reading the batches (0: read in this process).
        num_replicas / rank: distributed training: every rank draws the same order, cuts it in global
            batches of ``batch_size * num_replicas`` positions and yields its slice of each
            (``torch.tensor_split``: equal slices of full batches; a slice of the last batch may be
            empty). ``len()`` is the number of global batches, the same on every rank.
    """

    def __init__(
        self,
        features: FeatureMatrix,
        rows: np.ndarray | Tensor,
        *,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if shuffle and generator is None:
            raise ValueError("shuffle needs a torch.Generator")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.features = as_feature_matrix(features)
        self.rows = torch.as_tensor(
            np.asarray(rows.cpu() if isinstance(rows, Tensor) else rows), dtype=torch.long
        )
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.device = torch.device(device)
        self.num_workers = int(num_workers)

    def __len__(self) -> int:
        step = self.batch_size * self.num_replicas
        return (len(self.rows) + step - 1) // step

    @property
    def num_samples(self) -> int:
        return len(self.rows)

    def _batches(self) -> list[Tensor]:
        return rank_batches(self._order(), self.batch_size, self.num_replicas, self.rank)

    def _order(self) -> Tensor:
        n = len(self.rows)
        if self.shuffle:
            return torch.randperm(n, generator=self.generator)
        return torch.arange(n)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        batches = self._batches()
        if self.num_workers > 0:
            loader = DataLoader(
                _BatchReader(self.features, self.rows, batches),
                batch_size=None,
                shuffle=False,
                num_workers=self.num_workers,
                pin_memory=self.device.type == "cuda",
            )
            for x, positions in loader:
                yield x.to(self.device, non_blocking=True), positions
            return
        rows = self.rows
        for positions in batches:
            x, order = gather_rows(self.features, rows[positions])
            if not isinstance(self.features, Tensor):
                positions = positions[order]
            yield x.to(self.device, non_blocking=True), positions


def rank_batches(order: Tensor, batch_size: int, num_replicas: int = 1, rank: int = 0) -> list[Tensor]:
    """Cut ``order`` into global batches of ``batch_size * num_replicas`` and keep this rank's
    ``torch.tensor_split`` slice of each (equal slices of full batches; a slice of the last may be empty)."""
    chunks = torch.split(order, batch_size * num_replicas)
    if num_replicas == 1:
        return list(chunks)
    return [torch.tensor_split(c, num_replicas)[rank] for c in chunks]


class SamplerBatches:
    """Batches ``(x, positions)`` of the positions a sampler draws (:mod:`partialml.data.samplers`).

    The sampler yields positions of the training subset (with repetition for the re-balanced samplers);
    consecutive ``batch_size`` draws make a batch (the last may be smaller). ``set_epoch`` is forwarded
    to the sampler, whose draws depend on ``(seed, epoch)`` only. Read in this process.

    Under DDP (``num_replicas`` / ``rank`` set by the trainer) every rank draws the same sequence and keeps
    its :func:`rank_batches` slice of each global batch of ``batch_size * num_replicas`` draws, so the
    ranks together see exactly the batches of one process with the global batch size.
    """

    def __init__(
        self,
        features: FeatureMatrix,
        rows: np.ndarray | Tensor,
        sampler: Any,
        *,
        batch_size: int,
        device: torch.device | str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.features = as_feature_matrix(features)
        self.rows = torch.as_tensor(
            np.asarray(rows.cpu() if isinstance(rows, Tensor) else rows), dtype=torch.long
        )
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.num_replicas, self.rank = 1, 0

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        per_step = self.batch_size * self.num_replicas
        return (len(self.sampler) + per_step - 1) // per_step

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        draws = torch.as_tensor(self.sampler.indices(), dtype=torch.long)
        for positions in rank_batches(draws, self.batch_size, self.num_replicas, self.rank):
            x, order = gather_rows(self.features, self.rows[positions])
            if not isinstance(self.features, Tensor):
                positions = positions[order]
            yield x.to(self.device, non_blocking=True), positions


__all__ = ["FeatureBatches", "FeatureMatrix", "SamplerBatches", "as_feature_matrix", "gather_rows"]
