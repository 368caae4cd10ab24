"""Fashion-MNIST mosaics from tiny IDX files written here: grid contents, labels, seeds, files on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from partialml.data.image_labels import read_image_labels
from partialml.data.images import ArrayImageDataset, ImageDataset, decode_image_file
from partialml.data.mosaics import (
    FASHION_MNIST_CLASSES,
    build_mosaics,
    load_fashion_mnist,
    read_idx,
    write_mosaics,
)
from partialml.errors import PartialMLError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SIDE = 6  # tiny garments: 6 x 6, mosaics 12 x 12


def source(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random images with labels cycling over the 10 classes (every class present)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 256, (n, SIDE, SIDE), dtype=np.uint8)  # never 0: an empty cell is all 0
    return images, (np.arange(n) % 10).astype(np.uint8)


@pytest.fixture
def fmnist(tmp_path: Path, img) -> Path:
    folder = tmp_path / "fmnist"
    folder.mkdir()
    for prefix, n, seed, gz in (("train", 60, 1, True), ("t10k", 30, 2, False)):
        images, labels = source(n, seed)
        img.write_idx(folder / f"{prefix}-images-idx3-ubyte{'.gz' if gz else ''}", images, gz=gz)
        img.write_idx(folder / f"{prefix}-labels-idx1-ubyte{'.gz' if gz else ''}", labels, gz=gz)
    return folder


def test_read_idx_gz_and_plain(tmp_path: Path, img) -> None:
    images, labels = source(7, 0)
    img.write_idx(tmp_path / "a.gz", images, gz=True)
    img.write_idx(tmp_path / "b", labels, gz=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), images)
    assert np.array_equal(read_idx(tmp_path / "b"), labels)


def test_read_idx_errors(tmp_path: Path, img) -> None:
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(PartialMLError, match="not IDX"):
        read_idx(tmp_path / "bad")
    img.write_idx(tmp_path / "short", np.zeros((3, 4), np.uint8), gz=False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(PartialMLError, match="11 data bytes; expected 12"):
        read_idx(tmp_path / "short")
    with pytest.raises(PartialMLError, match="not found"):
        read_idx(tmp_path / "none")


def cells(mosaic: np.ndarray) -> list[np.ndarray]:
    return [mosaic[r * SIDE : (r + 1) * SIDE, c * SIDE : (c + 1) * SIDE] for r in range(2) for c in range(2)]


@pytest.mark.parametrize("classes", ["distinct", "repeated"])
def test_grid_cells_are_the_source_pixels_and_labels_the_classes_placed(classes: str) -> None:
    images, labels = source(40, 3)
    m = build_mosaics(images, labels, count=50, seed=7, classes=classes)  # type: ignore[arg-type]
    assert m.images.shape == (50, 2 * SIDE, 2 * SIDE) and m.images.dtype == np.uint8
    assert m.labels.shape == (50, 10) and m.labels.dtype == np.int8
    counts = []
    for n in range(50):
        placed = set()
        for cell, src, pixels in zip(range(4), m.sources[n], cells(m.images[n]), strict=True):
            if src < 0:
                assert (pixels == 0).all()
            else:
                assert np.array_equal(pixels, images[src]), (n, cell)
                placed.add(int(labels[src]))
        garments = int((m.sources[n] >= 0).sum())
        assert 1 <= garments <= 4
        counts.append(garments)
        assert set(np.flatnonzero(m.labels[n])) == placed
        if classes == "distinct":
            assert len(placed) == garments
        assert len(set(m.sources[n][m.sources[n] >= 0])) == garments  # no image twice in a mosaic
    assert set(counts) == {1, 2, 3, 4}


def test_seeded_determinism() -> None:
    images, labels = source(40, 3)
    a = build_mosaics(images, labels, count=20, seed=5)
    b = build_mosaics(images, labels, count=20, seed=5)
    c = build_mosaics(images, labels, count=20, seed=6)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.sources, b.sources)
    assert not np.array_equal(a.sources, c.sources)


def test_pool_restricts_the_sources() -> None:
    images, labels = source(40, 3)
    pool = np.arange(20, 40)
    m = build_mosaics(images, labels, count=30, seed=0, pool=pool)
    used = m.sources[m.sources >= 0]
    assert used.min() >= 20


def test_too_few_classes_for_distinct() -> None:
    images, labels = source(3, 0)
    with pytest.raises(PartialMLError, match="3 classes; expected at least 4"):
        build_mosaics(images, labels, count=1, seed=0)


def test_write_png_mosaics_readable_by_the_csv_reader(fmnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "mosaics"
    meta = write_mosaics(fmnist, out, train=12, val=5, test=6, seed=3)
    assert meta["splits"]["train"]["source_images"] == 50  # type: ignore[index]
    data = load_fashion_mnist(fmnist)
    info = json.loads((out / "mosaics.json").read_text())
    assert "semi-synthetic" in info["dataset"]
    for split, count, source_split in (("train", 12, "train"), ("val", 5, "train"), ("test", 6, "test")):
        labels = read_image_labels(out / f"{split}.csv", format="csv")
        assert labels.class_names == list(FASHION_MNIST_CLASSES) and len(labels) == count
        assert set(np.unique(labels.labels)) <= {0, 1}
        images, _ = data[source_split]
        for i, path in enumerate(labels.paths):
            pixels = decode_image_file(out / path)[0].numpy()
            for src, cell in zip(info["cell_sources"][split][i], cells(pixels), strict=True):
                assert np.array_equal(cell, images[src] if src >= 0 else np.zeros((SIDE, SIDE)))
        ds = ImageDataset(labels.paths, root=out, transform=None)
        assert tuple(ds[0][0].shape) == (3, 2 * SIDE, 2 * SIDE)
    train_src = {s for row in info["cell_sources"]["train"] for s in row if s >= 0}
    val_src = {s for row in info["cell_sources"]["val"] for s in row if s >= 0}
    assert not train_src & val_src


def test_write_npy_and_same_seed_same_mosaics(fmnist: Path, tmp_path: Path) -> None:
    write_mosaics(fmnist, tmp_path / "a", train=8, test=4, seed=1, image_format="npy")
    write_mosaics(fmnist, tmp_path / "b", train=8, test=4, seed=1, image_format="png")
    arr = np.load(tmp_path / "a" / "train.npy")
    assert arr.shape == (8, 2 * SIDE, 2 * SIDE)
    labels_a = read_image_labels(tmp_path / "a" / "train.csv", format="csv")
    labels_b = read_image_labels(tmp_path / "b" / "train.csv", format="csv")
    assert labels_a.paths[3] == "train.npy#3" and np.array_equal(labels_a.labels, labels_b.labels)
    assert np.array_equal(arr[3], decode_image_file(tmp_path / "b" / labels_b.paths[3])[0].numpy())
    assert ArrayImageDataset(arr)[3][0].shape == (3, 2 * SIDE, 2 * SIDE)
    assert not (tmp_path / "a" / "val.csv").exists()


def test_existing_output_needs_overwrite_and_stays_on_error(fmnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    write_mosaics(fmnist, out, train=4, test=2, seed=0)
    before = (out / "train.csv").read_bytes()
    with pytest.raises(PartialMLError, match="--overwrite"):
        write_mosaics(fmnist, out, train=5, test=2, seed=0)
    with pytest.raises(PartialMLError, match="not a folder"):
        write_mosaics(tmp_path / "nowhere", out, train=5, test=2, seed=0, overwrite=True)
    assert (out / "train.csv").read_bytes() == before
    write_mosaics(fmnist, out, train=5, test=2, seed=0, overwrite=True)
    assert len(read_image_labels(out / "train.csv", format="csv")) == 5
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
