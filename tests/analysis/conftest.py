"""Fixtures of the analysis tests: a tiny generated feature dataset (``npy`` folder format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_feature_dir(
    path: Path, *, n: int = 120, n_test: int = 40, d: int = 8, c: int = 4, seed: int = 0
) -> Path:
    """Labels from a noisy linear model of Gaussian features; about 2 positives per sample."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, c))

    def split(m: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(m, d)).astype(np.float32)
        logits = x @ w
        y = (logits + rng.normal(scale=0.5, size=logits.shape) > 0).astype(np.int8)
        y[np.arange(m), np.argmax(logits, axis=1)] = 1
        return x, y

    path.mkdir(parents=True, exist_ok=True)
    for name, m in (("train", n), ("test", n_test)):
        x, y = split(m)
        np.save(path / f"{name}_features.npy", x)
        np.save(path / f"{name}_labels.npy", y)
    return path


@pytest.fixture
def feature_dir(tmp_path: Path) -> Path:
    return write_feature_dir(tmp_path / "data")
