"""Fixtures of the tools tests: a tiny generated feature dataset whose hidden positives are recoverable,
and one trained run (module scope: trained once per test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partialml.cli.app import main

FAST = ["--epochs", "6", "--lr", "0.01", "--batch-size", "32", "--device", "cpu"]


def write_feature_dir(
    path: Path, *, n: int = 240, n_test: int = 60, d: int = 8, c: int = 4, seed: int = 0
) -> Path:
    """Labels are a clean linear function of Gaussian features (about two positives per row), so that a
    linear head trained on single positives can find the positives it never saw.

    Files (the ``npy`` folder format): ``train_features.npy``, ``train_labels.npy``, ``test_*``.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, c))

    def split(m: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(m, d)).astype(np.float32)
        logits = x @ w
        y = (logits > 0.3).astype(np.int8)
        y[np.arange(m), np.argmax(logits, axis=1)] = 1  # every sample has a positive
        return x, y

    path.mkdir(parents=True, exist_ok=True)
    x, y = split(n)
    xt, yt = split(n_test)
    np.save(path / "train_features.npy", x)
    np.save(path / "train_labels.npy", y)
    np.save(path / "test_features.npy", xt)
    np.save(path / "test_labels.npy", yt)
    return path


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else int(code)), out, err


def train_run(data: Path, out: Path, *extra: str) -> Path:
    """Train with the CLI (single-positive labels, AN unless ``extra`` says otherwise)."""
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(data), "--output-dir", str(out), *FAST, *extra])
    assert info.value.code in (None, 0)
    return out


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_feature_dir(tmp_path_factory.mktemp("tools") / "data")


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(data_dir, tmp_path_factory.mktemp("tools") / "run", "--loss", "an")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """``cli(argv) -> (exit status, stdout, stderr)``."""
    return lambda argv: run_cli(argv, capsys)


@pytest.fixture(scope="module")
def make_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """``make_run(*train flags) -> run dir`` on the module's data."""
    return lambda *extra: train_run(data_dir, tmp_path_factory.mktemp("tools") / "run", *extra)
