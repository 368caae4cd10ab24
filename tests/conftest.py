"""Shared test fixtures: a tiny generated, learnable feature dataset in the ``npy`` folder format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# Native loss kernels a developer built into ~/.cache are not used by the tests unless a test activates
# them (tests/losses/test_native.py): every other test runs the pure PyTorch paths it was written for.
os.environ["PARTIALML_NATIVE"] = "0"


def write_feature_dir(
    path: Path,
    *,
    n: int = 240,
    n_test: int = 80,
    d: int = 12,
    c: int = 5,
    seed: int = 0,
    nan_at: int | None = None,
) -> Path:
    """A learnable multi-label problem: labels from a noisy linear model of Gaussian features.

    Files: ``train_features.npy`` (float32), ``train_labels.npy`` (int8 1/0), ``test_*`` alike.
    ``nan_at`` puts a NaN in that training row.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, c))

    def split(m: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(m, d)).astype(np.float32)
        logits = x @ w - 1.0
        y = (logits + rng.normal(scale=0.5, size=logits.shape) > 0).astype(np.int8)
        y[np.arange(m), np.argmax(logits, axis=1)] = 1  # every sample has a positive
        return x, y

    path.mkdir(parents=True, exist_ok=True)
    x, y = split(n)
    if nan_at is not None:
        x[nan_at, 0] = np.nan
    xt, yt = split(n_test)
    np.save(path / "train_features.npy", x)
    np.save(path / "train_labels.npy", y)
    np.save(path / "test_features.npy", xt)
    np.save(path / "test_labels.npy", yt)
    return path


@pytest.fixture
def feature_dir(tmp_path: Path) -> Path:
    return write_feature_dir(tmp_path / "data")


@pytest.fixture
def make_feature_dir():
    """The generator itself, for tests that need a variant (``nan_at``, other sizes)."""
    return write_feature_dir
