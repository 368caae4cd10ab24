"""Seeded, resumable, DDP-aware samplers of training positions for the long-tailed setting.

Every sampler yields **positions** ``0 .. N - 1`` of the training subset (the LabelStore's indices) and
derives an epoch's draws from ``(seed, epoch)`` alone: a fresh ``torch.Generator`` seeded with
``seed * 1_000_003 + epoch`` (CPU) each epoch, so resuming needs only :meth:`state_dict` (``seed``,
``epoch``) and the draws of epoch ``e`` are the same whatever happened before.

* :class:`UniformSampler`: a random permutation of all positions per epoch (instance-balanced sampling,
  LTML's Subnet-U, the usual ``shuffle=True``).
* :class:`ClassAwareSampler` with ``mode="class-aware"`` (LTML's Subnet-R; Shen et al., ECCV 2016's
  class-aware sampling): each draw picks a class uniformly among the classes with an observed positive,
  then one of that class's positive samples uniformly (both with replacement). Epoch length: ``N`` draws
  by default (the same number of steps as a uniform epoch), or ``num_samples``.
* :class:`ClassAwareSampler` with ``mode="db"`` (the ``ClassAwareSampler`` of the Distribution-Balanced loss
  code, Wu et al., ECCV 2020, ``mmdet/datasets/loader/sampler.py``): classes come from a shuffled cyclic
  iterator over the classes, and each drawn class gives ``samples_per_class`` (3) **consecutive** samples
  of its own shuffled cyclic list. Epoch length ``floor(max_k n_k * C / 4)`` (DB: ``reduce=4``; we round
  down with ``int()``), where ``n_k`` counts observed positives and ``C`` counts the classes that have
  one. Difference from DB: DB's cyclic iterators live across epochs; ours restart each epoch (so that
  an epoch depends on ``(seed, epoch)`` only, which makes resume exact and DDP ranks agree).

Classes without an observed positive (``n_k = 0``) cannot be drawn: they are left out of the class draw
(``num_classes_drawn`` says how many remain); a label matrix with no positive at all is an error.

Distributed (``num_replicas`` R, ``rank`` r): every rank builds the same epoch sequence of
``ceil(L / R) * R`` draws (``L`` the epoch length; the class-aware samplers simply draw that many, the
uniform sampler pads its permutation by wrapping around, as ``DistributedSampler``) and takes the draws
``r, r + R, r + 2R, ...``: the ranks' shares are disjoint slices of one sequence and together cover it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.labels.encoding import validate_labels

SamplerMode = Literal["class-aware", "db"]
SamplerName = Literal["uniform", "class-aware", "db"]

#: DB's ``ClassAwareSampler`` constants (``num_samples_cls=3``, ``reduce=4``).
DB_SAMPLES_PER_CLASS = 3
DB_REDUCE = 4
_SEED_MULT = 1_000_003


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed) * _SEED_MULT + int(epoch))
    return g


def _check_replicas(num_replicas: int, rank: int) -> None:
    if num_replicas < 1:
        raise PartialMLError(f"sampler: num_replicas must be >= 1, got {num_replicas}")
    if not 0 <= rank < num_replicas:
        raise PartialMLError(f"sampler: rank must be in [0, {num_replicas}), got {rank}")


class _EpochSampler:
    """Shared shell: ``seed``, ``epoch``, the rank's share and the state dict."""

    def __init__(self, *, seed: int, num_replicas: int, rank: int) -> None:
        _check_replicas(num_replicas, rank)
        if seed < 0:
            raise PartialMLError(f"sampler: seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0

    @property
    def epoch_length(self) -> int:
        """Draws of one epoch over all ranks, before rounding up to a multiple of ``num_replicas``."""
        raise NotImplementedError

    @property
    def total_size(self) -> int:
        return math.ceil(self.epoch_length / self.num_replicas) * self.num_replicas

    def __len__(self) -> int:
        return self.total_size // self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Select the 0-indexed epoch whose draws :meth:`__iter__` yields."""
        if epoch < 0:
            raise PartialMLError(f"sampler: epoch must be >= 0 (0-indexed), got {epoch}")
        self.epoch = int(epoch)

    def epoch_draws(self) -> Tensor:
        """All ``total_size`` draws of the current epoch (every rank's), int64 positions."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_draws()[self.rank :: self.num_replicas].tolist())

    def indices(self) -> Tensor:
        """This rank's draws of the current epoch as an int64 tensor (what :meth:`__iter__` yields)."""
        return self.epoch_draws()[self.rank :: self.num_replicas]

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.set_epoch(int(state["epoch"]))


class UniformSampler(_EpochSampler):
    """A seeded permutation of ``num_samples`` positions per epoch (padded by wrap-around under DDP).

    Example:
        >>> s = UniformSampler(4, seed=0)
        >>> sorted(s)
        [0, 1, 2, 3]
    """

    def __init__(self, num_samples: int, *, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank)
        if num_samples < 1:
            raise PartialMLError(f"sampler: num_samples must be >= 1, got {num_samples}")
        self.num_samples = int(num_samples)

    @property
    def epoch_length(self) -> int:
        return self.num_samples

    def epoch_draws(self) -> Tensor:
        perm = torch.randperm(self.num_samples, generator=_epoch_generator(self.seed, self.epoch))
        pad = self.total_size - self.num_samples
        if pad:
            perm = torch.cat([perm, perm.repeat(math.ceil(pad / self.num_samples))[:pad]])
        return perm


class ClassAwareSampler(_EpochSampler):
    """Re-balanced sampling: a class drawn uniformly, then one (or, ``db``, three) of its positives.

    Args:
        labels: ``(N, C)`` observed labels in ``{1, 0, -1}``; only ``1`` entries make a sample a member of
            its class. Positions are rows of ``labels``.
        mode: ``"class-aware"`` (i.i.d. class draws, one sample each) or ``"db"`` (DB's cyclic variant).
        num_samples: epoch length in draws; default ``N`` for ``class-aware`` and
            ``floor(max_k n_k * C / 4)`` for ``db`` (DB's ``reduce=4``).
        samples_per_class: consecutive samples per drawn class in ``db`` mode; default 3 (DB).
        seed: base seed; epoch ``e`` draws from ``seed * 1_000_003 + e``.
        num_replicas, rank: DDP share (see the module docstring).

    Example:
        >>> y = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=torch.int8)
        >>> s = ClassAwareSampler(y, seed=0, num_samples=1000)
        >>> draws = s.indices()
        >>> 400 < int((draws == 3).sum()) < 600  # class 1 has a single sample, drawn half the time
        True
    """

    def __init__(
        self,
        labels: Any,
        *,
        mode: SamplerMode = "class-aware",
        num_samples: int | None = None,
        samples_per_class: int = DB_SAMPLES_PER_CLASS,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank)
        if mode not in ("class-aware", "db"):
            raise PartialMLError(f"sampler: mode={mode!r}; expected class-aware or db")
        if samples_per_class < 1:
            raise PartialMLError(f"sampler: samples_per_class must be >= 1, got {samples_per_class}")
        obs = validate_labels(labels, what="sampler labels")
        rows, cols = np.nonzero(obs == 1)
        order = np.lexsort((rows, cols))  # by class, then row
        rows, cols = rows[order], cols[order]
        counts = np.bincount(cols, minlength=obs.shape[1])
        self.class_counts = torch.from_numpy(counts.astype(np.int64))
        self.classes = torch.from_numpy(np.flatnonzero(counts > 0).astype(np.int64))
        if self.classes.numel() == 0:
            raise PartialMLError(
                "sampler: the labels have no observed positive; class-aware sampling needs one"
            )
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._members = torch.from_numpy(rows.astype(np.int64))  # positives grouped by class
        self._starts = torch.from_numpy(starts.astype(np.int64))
        self.mode: SamplerMode = mode
        self.samples_per_class = int(samples_per_class)
        self.num_rows = int(obs.shape[0])
        if num_samples is None:
            if mode == "db":
                num_samples = int(int(counts.max()) * self.num_classes_drawn / DB_REDUCE)
            else:
                num_samples = self.num_rows
        if num_samples < 1:
            raise PartialMLError(f"sampler: num_samples must be >= 1, got {num_samples}")
        self.num_samples = int(num_samples)

    @property
    def num_classes_drawn(self) -> int:
        """Classes with at least one observed positive (the others are never drawn)."""
        return int(self.classes.numel())

    @property
    def epoch_length(self) -> int:
        return self.num_samples

    def class_members(self, k: int) -> Tensor:
        """Positions of the observed positives of class ``k`` (ascending)."""
        start = int(self._starts[k])
        return self._members[start : start + int(self.class_counts[k])]

    def epoch_draws(self) -> Tensor:
        g = _epoch_generator(self.seed, self.epoch)
        total = self.total_size
        if self.mode == "class-aware":
            cls = self.classes[torch.randint(self.num_classes_drawn, (total,), generator=g)]
            counts = self.class_counts[cls]
            offset = (torch.rand(total, generator=g, dtype=torch.float64) * counts).long()
            offset = torch.minimum(offset, counts - 1)
            return self._members[self._starts[cls] + offset]
        return self._db_draws(g, total)

    def _db_draws(self, g: torch.Generator, total: int) -> Tensor:
        """DB: a shuffled cyclic class iterator; each class yields the next ``samples_per_class`` items of
        its own shuffled cyclic list."""
        n_cls = self.num_classes_drawn
        n_visits = math.ceil(total / self.samples_per_class)
        n_perm = math.ceil(n_visits / n_cls)
        class_seq = torch.cat([self.classes[torch.randperm(n_cls, generator=g)] for _ in range(n_perm)])
        class_seq = class_seq[:n_visits]
        cursor: dict[int, int] = {}
        lists: dict[int, np.ndarray] = {}
        members_np = self._members.numpy()
        starts, counts = self._starts.tolist(), self.class_counts.tolist()
        out = np.empty(n_visits * self.samples_per_class, dtype=np.int64)
        j = 0
        for k in class_seq.tolist():
            n = counts[k]
            for _ in range(self.samples_per_class):
                pos = cursor.get(k, 0)
                if pos % n == 0:  # a new cycle over the class: reshuffle, as DB's RandomCycleIter
                    lists[k] = members_np[starts[k] + torch.randperm(n, generator=g).numpy()]
                out[j] = lists[k][pos % n]
                cursor[k] = pos + 1
                j += 1
        return torch.from_numpy(out[:total])


def build_sampler(
    name: SamplerName,
    labels: Any,
    *,
    seed: int = 0,
    num_samples: int | None = None,
    num_replicas: int = 1,
    rank: int = 0,
) -> UniformSampler | ClassAwareSampler:
    """The sampler called ``name`` (``uniform``, ``class-aware`` or ``db``) over the rows of ``labels``."""
    if name == "uniform":
        n = int(labels.shape[0]) if num_samples is None else num_samples
        return UniformSampler(n, seed=seed, num_replicas=num_replicas, rank=rank)
    if name in ("class-aware", "db"):
        return ClassAwareSampler(
            labels, mode=name, seed=seed, num_samples=num_samples, num_replicas=num_replicas, rank=rank
        )
    raise PartialMLError(f"--sampler: got {name!r}; expected uniform, class-aware or db")


__all__ = [
    "DB_REDUCE",
    "DB_SAMPLES_PER_CLASS",
    "ClassAwareSampler",
    "SamplerMode",
    "SamplerName",
    "UniformSampler",
    "build_sampler",
]
