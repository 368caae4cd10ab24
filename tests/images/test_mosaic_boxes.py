"""``write_mosaics`` writes ``<split>_boxes.csv``; the boxes of an older folder are rebuilt identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partialml.data.boxes import mosaic_boxes_from_folder, read_boxes_csv
from partialml.data.image_labels import read_image_labels
from partialml.data.images import decode_image_file
from partialml.data.mosaics import FASHION_MNIST_CLASSES, load_fashion_mnist, write_mosaics

from .test_mosaics import SIDE, fmnist  # noqa: F401  (the tiny IDX fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_boxes_cover_the_garment_of_their_class(fmnist: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "mosaics"
    write_mosaics(fmnist, out, train=5, test=6, seed=4)
    images, labels = load_fashion_mnist(fmnist)["test"]
    boxes = read_boxes_csv(out / "test_boxes.csv")
    split = read_image_labels(out / "test.csv", format="csv")
    for path, row in zip(split.paths, split.labels, strict=True):
        pixels = decode_image_file(out / path)[0].numpy()
        found = boxes.boxes[path]
        # one box per positive (distinct classes), each exactly one cell holding a garment of that class
        assert sorted(b.cls for b in found) == sorted(
            FASHION_MNIST_CLASSES[c] for c in np.flatnonzero(row == 1)
        )
        for b in found:
            assert (b.x1 - b.x0, b.y1 - b.y0) == (SIDE, SIDE) and b.x0 % SIDE == 0 and b.y0 % SIDE == 0
            cell = pixels[int(b.y0) : int(b.y1), int(b.x0) : int(b.x1)]
            matches = [k for k in range(len(images)) if np.array_equal(images[k], cell)]
            assert matches and FASHION_MNIST_CLASSES[int(labels[matches[0]])] == b.cls
    assert (out / "train_boxes.csv").is_file()
    rebuilt = mosaic_boxes_from_folder(out, fmnist, split="test")
    assert [(k, b) for k, bs in boxes.boxes.items() for b in bs] == rebuilt
