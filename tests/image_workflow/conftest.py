"""Tiny generated image data for the image workflow: 20 + 6 PNGs of 32 x 32, 3 colour classes; the
label files live apart from the images (``--image-root``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CLASSES = ("red", "green", "blue")


def _write(root: Path, labels: Path, *, n: int, seed: int, prefix: str) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    lines = ["path,labels,negatives"]
    for i in range(n):
        present = rng.random(3) < 0.5
        present[rng.integers(3)] = True
        arr = rng.integers(0, 40, size=(32, 32, 3), dtype=np.uint8)
        for k in np.flatnonzero(present):
            y, x = rng.integers(0, 20, size=2)
            arr[y : y + 12, x : x + 12, k] = 230
        name = f"img/{prefix}{i:02d}.png"
        Image.fromarray(arr).save(root / name)
        pos = [CLASSES[k] for k in np.flatnonzero(present)]
        lines.append(f"{name},{'|'.join(pos)},{'|'.join(c for c in CLASSES if c not in pos)}")
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(labels folder with labels.csv and test.csv, image root with img/)``."""
    base = tmp_path_factory.mktemp("workflow")
    root, lab = base / "pictures", base / "labels"
    (root / "img").mkdir(parents=True)
    lab.mkdir()
    _write(root, lab / "labels.csv", n=20, seed=0, prefix="tr")
    _write(root, lab / "test.csv", n=6, seed=1, prefix="te")
    return lab, root


def train_args(lab: Path, root: Path, out: Path, *extra: str) -> list[str]:
    """A width-8 ResNet-18 at 32 x 32 on the CPU (end-to-end unless ``extra`` says otherwise)."""
    return [
        "train", "--data", str(lab / "labels.csv"), "--test-split", str(lab / "test.csv"),
        "--image-root", str(root), "--model", "resnet18", "--width", "8", "--weights", "none",
        "--image-size", "32", "--partial", "single-positive", "--loss", "an", "--batch-size", "8",
        "--lr", "0.001", "--device", "cpu", "--output-dir", str(out), "--no-progress", *extra,
    ]  # fmt: skip
