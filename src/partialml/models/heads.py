"""Classifier heads on precomputed features (the ``features`` setting, the LinearInit analogue).

* :class:`LinearHead`: one ``nn.Linear(in_dim, C)`` with PyTorch's default initialization, as the
  linear layer of Cole et al.'s ``linear_fixed_features`` and LL's classifier.
* :class:`MLPHead`: ``Linear(in_dim, hidden) -> ReLU -> Dropout(p) -> Linear(hidden, C)``, a small
  non-linear alternative (width and dropout after the "PFC" neck of the Distribution-Balanced code).
* :class:`Standardize`: ``(x - mean) / std`` with statistics of the training rows, stored as buffers
  so that they travel with the model's ``state_dict`` (and so with every checkpoint).
* :class:`FeatureClassifier`: optional standardization followed by a head; input ``(B, D)`` float,
  output ``(B, C)`` logits, device and dtype of the parameters.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

HeadKind = Literal["linear", "mlp"]


class Standardize(nn.Module):
    """``(x - mean) / std`` per feature; ``mean`` and ``std`` are ``(D,)`` buffers."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        if mean.shape != std.shape or mean.ndim != 1:
            raise ValueError(
                f"mean and std must be (D,) vectors, got {tuple(mean.shape)}, {tuple(std.shape)}"
            )
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float())

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class LinearHead(nn.Module):
    """One linear layer ``(B, D) -> (B, C)`` logits (PyTorch's default ``nn.Linear`` initialization)."""

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)


class MLPHead(nn.Module):
    """``Linear(D, hidden) -> ReLU -> Dropout(dropout) -> Linear(hidden, C)``."""

    def __init__(self, in_dim: int, num_classes: int, *, hidden_dim: int = 512, dropout: float = 0.5) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class FeatureClassifier(nn.Module):
    """Optional :class:`Standardize` then a head: ``(B, D)`` features to ``(B, C)`` logits."""

    def __init__(self, head: nn.Module, *, standardize: Standardize | None = None) -> None:
        super().__init__()
        self.standardize = standardize
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        if self.standardize is not None:
            x = self.standardize(x)
        return self.head(x)


def build_feature_classifier(
    kind: HeadKind,
    *,
    in_dim: int,
    num_classes: int,
    hidden_dim: int = 512,
    dropout: float = 0.5,
    mean: Tensor | None = None,
    std: Tensor | None = None,
) -> FeatureClassifier:
    """Build the head of ``kind`` with optional standardization (give both ``mean`` and ``std``).

    Example:
        >>> model = build_feature_classifier("linear", in_dim=4, num_classes=3)
        >>> model(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
    """
    head: nn.Module
    if kind == "linear":
        head = LinearHead(in_dim, num_classes)
    elif kind == "mlp":
        head = MLPHead(in_dim, num_classes, hidden_dim=hidden_dim, dropout=dropout)
    else:
        raise ValueError(f"unknown head {kind!r}; expected linear or mlp")
    standardize = None
    if mean is not None or std is not None:
        if mean is None or std is None:
            raise ValueError("standardization needs both mean and std")
        standardize = Standardize(mean, std)
    return FeatureClassifier(head, standardize=standardize)


def feature_statistics(
    x: np.ndarray | Tensor, rows: np.ndarray | Tensor | None = None, *, chunk_rows: int = 8192
) -> tuple[Tensor, Tensor]:
    """Per-feature mean and (population) std of ``x[rows]``, accumulated in float64 by chunks.

    ``x`` is ``(N, D)`` (a tensor, an array or a memmap: chunks of sorted rows are read, so memmaps stay
    cheap). A feature with zero spread gets ``std = 1``, as scikit-learn's ``StandardScaler`` does, so
    that standardization leaves it centred instead of dividing by zero. Returns float32 ``(D,)`` tensors.
    """
    n_total = int(x.shape[0])
    if rows is None:
        order = np.arange(n_total)
    else:
        order = np.sort(np.asarray(rows.cpu() if isinstance(rows, Tensor) else rows, dtype=np.int64))
    dim = int(x.shape[1])
    total = np.zeros(dim, dtype=np.float64)
    total_sq = np.zeros(dim, dtype=np.float64)
    count = 0
    # Two passes (mean, then centred squares) for numerical accuracy.
    for start in range(0, len(order), chunk_rows):
        block = _rows_float64(x, order[start : start + chunk_rows])
        total += block.sum(axis=0)
        count += block.shape[0]
    if count == 0:
        raise ValueError("feature_statistics needs at least one row")
    mean = total / count
    for start in range(0, len(order), chunk_rows):
        block = _rows_float64(x, order[start : start + chunk_rows]) - mean
        total_sq += (block * block).sum(axis=0)
    std = np.sqrt(total_sq / count)
    std[std == 0] = 1.0
    return torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(std.astype(np.float32))


def _rows_float64(x: np.ndarray | Tensor, rows: np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        return x[torch.from_numpy(rows)].double().cpu().numpy()
    return np.asarray(x[rows], dtype=np.float64)


__all__ = [
    "FeatureClassifier",
    "HeadKind",
    "LinearHead",
    "MLPHead",
    "Standardize",
    "build_feature_classifier",
    "feature_statistics",
]
