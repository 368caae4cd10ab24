"""Helpers of the robustness tests: tiny generated data, the real CLI entry, hashes of a run directory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from partialml.cli.app import main


def write_npy_dir(
    path: Path, *, n: int = 120, n_test: int = 40, d: int = 6, c: int = 4, seed: int = 0
) -> Path:
    """A small learnable ``npy`` feature folder: ``train_/test_features.npy`` (float32), ``*_labels.npy``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, c))

    def split(m: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(m, d)).astype(np.float32)
        logits = x @ w - 0.5
        y = (logits + rng.normal(scale=0.5, size=logits.shape) > 0).astype(np.int8)
        y[np.arange(m), np.argmax(logits, axis=1)] = 1
        return x, y

    path.mkdir(parents=True, exist_ok=True)
    for name, m in (("train", n), ("test", n_test)):
        x, y = split(m)
        np.save(path / f"{name}_features.npy", x)
        np.save(path / f"{name}_labels.npy", y)
    return path


def run_cli(argv: list[str]) -> int:
    """Run ``partialml.cli.app:main`` in this process; the exit status."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (relative path -> digest)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_npy_dir(tmp_path_factory.mktemp("robust") / "data")


@pytest.fixture
def cli() -> Callable[[list[str]], int]:
    return run_cli
