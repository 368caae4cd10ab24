"""Tiny generated image data: 24 + 8 PNG images of 32 x 32 with 3 colour classes, and CLI helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CLASSES = ("red", "green", "blue")


def write_images(root: Path, *, n: int, seed: int, prefix: str) -> list[tuple[str, list[str]]]:
    """``n`` PNGs: class k present = a bright square in channel k at a random place; >= 1 class each."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = []
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        present = rng.random(3) < 0.5
        present[rng.integers(3)] = True
        arr = rng.integers(0, 40, size=(32, 32, 3), dtype=np.uint8)
        for k in np.flatnonzero(present):
            y, x = rng.integers(0, 20, size=2)
            arr[y : y + 12, x : x + 12, k] = 230
        name = f"img/{prefix}{i:02d}.png"
        Image.fromarray(arr).save(root / name)
        rows.append((name, [CLASSES[k] for k in np.flatnonzero(present)]))
    return rows


def write_csv(path: Path, rows: list[tuple[str, list[str]]]) -> Path:
    lines = ["path,labels,negatives"]
    for name, labels in rows:
        negatives = [c for c in CLASSES if c not in labels]
        lines.append(f"{name},{'|'.join(labels)},{'|'.join(negatives)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def image_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``labels.csv`` (24 training images, full labels), ``test.csv`` (8) and ``img/``."""
    root = tmp_path_factory.mktemp("images")
    write_csv(root / "labels.csv", write_images(root, n=24, seed=0, prefix="tr"))
    write_csv(root / "test.csv", write_images(root, n=8, seed=1, prefix="te"))
    return root


def tiny_args(root: Path, out: Path, *extra: str) -> list[str]:
    """``partialml train`` arguments of a 2-epoch, width-8 ResNet-18 run at 32 x 32 on the CPU."""
    return [
        "train",
        "--setting",
        "end-to-end",
        "--data",
        str(root / "labels.csv"),
        "--test-split",
        str(root / "test.csv"),
        "--model",
        "resnet18",
        "--width",
        "8",
        "--weights",
        "none",
        "--image-size",
        "32",
        "--partial",
        "single-positive",
        "--loss",
        "ll-r",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "0.001",
        "--device",
        "cpu",
        "--num-workers",
        "0",
        "--output-dir",
        str(out),
        "--no-progress",
        *extra,
    ]
