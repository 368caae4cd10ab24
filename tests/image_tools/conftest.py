"""Fixtures of the image-tools tests: tiny generated images (the image_training generator) and one tiny
end-to-end run, trained once per module by ``partialml analyze memorization`` (its ``runs/train``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from partialml.cli.app import main

from ..image_training.conftest import write_csv, write_images
from ..tools.conftest import cli, run_cli  # noqa: F401  (the tools tests' CLI fixture, shared)

#: A width-8 ResNet-18 at 32 x 32 on the CPU, single positive labels (the image_training recipe).
IMAGE_FLAGS = ["--setting", "end-to-end", "--model", "resnet18", "--width", "8", "--weights", "none",
               "--image-size", "32", "--partial", "single-positive", "--batch-size", "8", "--lr", "0.001",
               "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def image_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``labels.csv`` (24 training images, full labels), ``test.csv`` (8) and ``img/``."""
    root = tmp_path_factory.mktemp("images")
    write_csv(root / "labels.csv", write_images(root, n=24, seed=0, prefix="tr"))
    write_csv(root / "test.csv", write_images(root, n=8, seed=1, prefix="te"))
    return root


def data_flags(root: Path) -> list[str]:
    return ["--data", str(root / "labels.csv"), "--test-split", str(root / "test.csv"), *IMAGE_FLAGS]


@pytest.fixture(scope="module")
def memorization_dir(image_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``partialml analyze memorization`` (AN, 2 epochs) on the images; its run is ``runs/train``."""
    out = tmp_path_factory.mktemp("mem") / "memorization"
    with pytest.raises(SystemExit) as info:
        main(["analyze", "memorization", *data_flags(image_data), "--epochs", "2", "--output-dir", str(out),
              "--no-plot"])  # fmt: skip
    assert info.value.code in (None, 0)
    return out


@pytest.fixture(scope="module")
def image_run(memorization_dir: Path) -> Path:
    return memorization_dir / "runs" / "train"
