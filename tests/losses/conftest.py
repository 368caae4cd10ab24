"""Shared fixtures of the loss tests: a tiny hand-checkable batch and a random partial-label batch."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

#: The tiny 2x3 batch used by the hand-computed tests (float64 logits, targets in {1, 0, -1}).
TINY_LOGITS = [[0.5, -1.0, 2.0], [1.0, -0.5, 0.0]]
TINY_TARGETS = [[1, 0, -1], [-1, 1, -1]]


@pytest.fixture
def tiny() -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits (2, 3) float64, targets (2, 3) int8)`` of the hand-computed tests."""
    return (
        torch.tensor(TINY_LOGITS, dtype=torch.float64),
        torch.tensor(TINY_TARGETS, dtype=torch.int8),
    )


def _random_batch(
    batch: int = 6, classes: int = 7, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, generator=gen, dtype=dtype) * 2
    targets = torch.randint(-1, 2, (batch, classes), generator=gen).to(torch.int8)
    return logits, targets


@pytest.fixture
def random_batch() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """Factory ``random_batch(batch=6, classes=7, *, seed=0, dtype=float64)``: random logits (distinct
    with probability 1) and random targets in {1, 0, -1}, seeded, on the CPU."""
    return _random_batch
