"""Fashion-MNIST mosaics: a **semi-synthetic** multi-label image dataset that trains on a CPU.

Real garment images (Fashion-MNIST, Xiao et al. 2017, 28 x 28 grayscale, 10 classes) are tiled into 2 x 2
grids (56 x 56 grayscale). Each mosaic holds ``k`` garments, ``k`` uniform in ``{1, 2, 3, 4}``, placed in ``k``
cells drawn at random; the other cells are black (0). Its label is the set of classes present. With
``classes="distinct"`` (default) the ``k`` garments have ``k`` different classes (so a mosaic has exactly ``k``
positives; mean 2.5): the classes are drawn without replacement, then one image of each class uniformly.
With ``classes="repeated"`` the ``k`` garments are ``k`` different images drawn uniformly from the split, so
classes may repeat and a mosaic may have fewer positives than garments.

Splits: ``train`` and ``val`` mosaics are built from the IDX training set (60,000 images), ``test`` mosaics
from ``t10k`` (10,000). When a validation split is asked for, a seeded sixth of the training images (10,000)
is reserved for it, so that no garment image appears in both ``train`` and ``val`` mosaics.

On disk (:func:`write_mosaics`), in the output folder::

    train.csv, val.csv, test.csv   generic image-list CSV (header ``path,<10 class names>``, cells 1 / 0:
                                   full labels), read by ``read_image_labels(path, format="csv")``
    images/<split>/<6 digits>.png  (image_format="png") grayscale PNGs; the CSV paths are relative to the
                                   output folder (the image root)
    <split>.npy                    (image_format="npy") ``(N, 56, 56)`` uint8; the CSV path of row ``i`` is
                                   ``<split>.npy#<i>``, for :class:`~partialml.data.images.ArrayImageDataset`
    <split>_boxes.csv              one box per occupied cell, of its garment's class, in the generic box CSV
                                   format of :mod:`partialml.data.boxes` (``path,class,x0,y0,x1,y1``), for
                                   ``partialml analyze cam``
    mosaics.json                   what was built: seed, counts, policy, sources of every cell

IDX files (:func:`read_idx`): the MNIST format (big-endian header: two zero bytes, a type code, the number of
dimensions, then one 32-bit size per dimension, then the data), gzipped or not (told by the content, not the
name). The Fashion-MNIST folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each possibly with ``.gz``.

Example:
    >>> import numpy as np
    >>> images = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)
    >>> m = build_mosaics(images, np.array([0, 1, 2, 3]), count=3, seed=0)
    >>> m.images.shape, m.labels.shape, m.sources.shape
    ((3, 56, 56), (3, 10), (3, 4))
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from partialml.errors import PartialMLError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MosaicClasses",
    "MosaicSet",
    "build_mosaics",
    "load_fashion_mnist",
    "read_idx",
    "write_mosaics",
]

#: Class names by label id (Fashion-MNIST README / SOURCE.md).
FASHION_MNIST_CLASSES: Final = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MosaicClasses = Literal["distinct", "repeated"]
ImageFormat = Literal["png", "npy"]
GRID: Final = 2
_IDX_TYPES: Final[dict[int, np.dtype[Any]]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_VAL_SOURCE_FRACTION: Final = 1 / 6


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of its dtype and shape.

    Raises:
        PartialMLError: a missing file, a bad gzip stream, a header that is not IDX, a payload whose length
            differs from the header's sizes.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PartialMLError("file not found; expected an IDX file", path=p) from None
    except OSError as err:
        raise PartialMLError(
            f"cannot read ({' '.join(str(err).split())}); expected an IDX file", path=p
        ) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise PartialMLError(
                f"is not a valid gzip file ({err}); expected a gzipped IDX file", path=p
            ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise PartialMLError(
            f"header {raw[:4].hex() or '(empty)'} is not IDX; expected 0000 <type> <ndim> (e.g. 00000803)",
            path=p,
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    start = 4 + 4 * ndim
    if ndim == 0 or len(raw) < start:
        raise PartialMLError(
            f"IDX header names {ndim} dimensions; expected 1 or more and their sizes", path=p
        )
    shape = tuple(int(x) for x in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - start != expected:
        raise PartialMLError(
            f"holds {len(raw) - start} data bytes; expected {expected} for shape {shape}", path=p
        )
    return np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise PartialMLError(f"has no {stem} or {stem}.gz; expected the Fashion-MNIST IDX files", path=folder)


def load_fashion_mnist(directory: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The Fashion-MNIST IDX files of ``directory``: ``{"train": (images, labels), "test": (...)}``.

    Returns:
        ``images`` ``(N, H, W)`` uint8 (28 x 28 for Fashion-MNIST), ``labels`` ``(N,)`` int64 in ``0..9``.

    Raises:
        PartialMLError: a missing folder or file, an invalid IDX file, images and labels of different counts,
            labels outside ``0..9``.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise PartialMLError(
            "is not a folder; expected the Fashion-MNIST folder with its IDX files", path=folder
        )
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        ipath = _idx_file(folder, f"{prefix}-images-idx3-ubyte")
        lpath = _idx_file(folder, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(ipath), read_idx(lpath)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise PartialMLError(
                f"holds {images.dtype} of shape {images.shape}; expected uint8 (N, H, W)", path=ipath
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise PartialMLError(
                f"holds shape {labels.shape}; expected ({images.shape[0]},), one label per image of {ipath.name}",
                path=lpath,
            )
        labels = labels.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= len(FASHION_MNIST_CLASSES)):
            raise PartialMLError(f"holds labels outside 0..{len(FASHION_MNIST_CLASSES) - 1}", path=lpath)
        out[split] = (images, labels)
    return out


@dataclass
class MosaicSet:
    """Mosaics of one split.

    Attributes:
        images: ``(N, 2H, 2W)`` uint8; cell ``(r, c)`` (row-major index ``2 r + c``) is
            ``images[:, r H:(r+1) H, c W:(c+1) W]``.
        labels: ``(N, C)`` int8 in ``{1, 0}``: 1 for each class present (full labels).
        sources: ``(N, 4)`` int64: the index into the source images of the garment in each cell, ``-1`` for
            an empty (black) cell.
    """

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray


def build_mosaics(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    count: int,
    seed: int,
    classes: MosaicClasses = "distinct",
    pool: np.ndarray | None = None,
    num_classes: int = len(FASHION_MNIST_CLASSES),
    min_items: int = 1,
    max_items: int = GRID * GRID,
) -> MosaicSet:
    """Build ``count`` seeded 2 x 2 mosaics from single-label images (see the module docstring).

    Args:
        images: ``(M, H, W)`` uint8 source images.
        labels: ``(M,)`` their classes in ``0..num_classes-1``.
        count: number of mosaics ``N``.
        seed: seed of ``numpy.random.default_rng``; the same arguments give the same mosaics.
        classes: ``"distinct"`` (one garment per class drawn) or ``"repeated"`` (garments drawn as images).
        pool: indices of the source images allowed (default all), e.g. the training images not held out.
        num_classes: ``C``; 10 for Fashion-MNIST.
        min_items, max_items: the number of garments ``k`` is uniform in ``min_items..max_items`` (1..4).

    Raises:
        PartialMLError: bad counts, or too few source classes / images for ``max_items`` garments.
    """
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise PartialMLError(f"images {images.shape} and labels {labels.shape}; expected (M, H, W) and (M,)")
    if classes not in ("distinct", "repeated"):
        raise PartialMLError(f"classes={classes!r}; expected 'distinct' or 'repeated'")
    if count < 0:
        raise PartialMLError(f"count={count}; expected a non-negative number of mosaics")
    if not 1 <= min_items <= max_items <= GRID * GRID:
        raise PartialMLError(f"min_items={min_items}, max_items={max_items}; expected 1 <= min <= max <= 4")
    idx = np.arange(images.shape[0]) if pool is None else np.asarray(pool, dtype=np.int64)
    by_class = [idx[labels[idx] == k] for k in range(num_classes)]
    present = [k for k in range(num_classes) if by_class[k].size]
    if classes == "distinct" and len(present) < max_items:
        raise PartialMLError(f"source images have {len(present)} classes; expected at least {max_items}")
    if classes == "repeated" and idx.size < max_items:
        raise PartialMLError(f"{idx.size} source images; expected at least {max_items}")
    rng = np.random.default_rng(seed)
    h, w = images.shape[1:]
    out = np.zeros((count, GRID * h, GRID * w), dtype=np.uint8)
    target = np.zeros((count, num_classes), dtype=np.int8)
    sources = np.full((count, GRID * GRID), -1, dtype=np.int64)
    present_arr = np.asarray(present)
    for n in range(count):
        k = int(rng.integers(min_items, max_items + 1))
        cells = rng.permutation(GRID * GRID)[:k]
        if classes == "distinct":
            picked_classes = rng.choice(present_arr, size=k, replace=False)
            chosen = [int(by_class[c][rng.integers(by_class[c].size)]) for c in picked_classes]
        else:
            chosen = [int(i) for i in idx[rng.choice(idx.size, size=k, replace=False)]]
        for cell, src in zip(cells, chosen, strict=True):
            r, c = divmod(int(cell), GRID)
            out[n, r * h : (r + 1) * h, c * w : (c + 1) * w] = images[src]
            sources[n, cell] = src
            target[n, labels[src]] = 1
    return MosaicSet(images=out, labels=target, sources=sources)


def _write_csv(path: Path, names: list[str], labels: np.ndarray, class_names: tuple[str, ...]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["path", *class_names])
        for name, row in zip(names, labels, strict=True):
            writer.writerow([name, *(int(v) for v in row)])


def _write_pngs(folder: Path, images: np.ndarray) -> list[str]:
    import torch
    from torchvision.io import encode_png

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, image in enumerate(images):
        name = f"{i:06d}.png"
        data = encode_png(torch.from_numpy(np.ascontiguousarray(image))[None], compression_level=1)
        (folder / name).write_bytes(data.numpy().tobytes())
        names.append(f"images/{folder.name}/{name}")
    return names


def write_mosaics(
    fashion_mnist: str | Path,
    output: str | Path,
    *,
    train: int,
    test: int,
    val: int = 0,
    seed: int = 0,
    classes: MosaicClasses = "distinct",
    image_format: ImageFormat = "png",
    overwrite: bool = False,
) -> dict[str, object]:
    """Build the train / val / test mosaics from a Fashion-MNIST folder and write them to ``output``.

    The folder is first written next to ``output`` and then moved into place, so that a failure leaves an
    earlier ``output`` untouched; an existing non-empty ``output`` needs ``overwrite=True``.

    Args:
        fashion_mnist: the folder of the four IDX files (e.g. the Debian ``dataset-fashion-mnist`` files).
        output: the folder to write (the image root of the CSVs).
        train, val, test: number of mosaics per split (``val=0``: no validation split, all training images
            are sources of ``train``).
        seed: the seed; each split uses its own stream derived from it.
        classes: ``"distinct"`` or ``"repeated"`` classes in a mosaic.
        image_format: ``"png"`` (one file per mosaic) or ``"npy"`` (one ``uint8`` array per split).
        overwrite: replace an existing ``output``.

    Returns:
        The metadata written to ``mosaics.json`` (without the per-cell sources).
    """
    from partialml.data.boxes import mosaic_boxes, write_boxes_csv

    if image_format not in ("png", "npy"):
        raise PartialMLError(f"image_format={image_format!r}; expected 'png' or 'npy'")
    for name, value in (("train", train), ("val", val), ("test", test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PartialMLError(f"--{name}: got {value!r}; expected a non-negative number of mosaics")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise PartialMLError(
            "exists and is not a folder; expected a folder to write the mosaics to", path=out
        )
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise PartialMLError("exists and is not empty; pass --overwrite to replace it", path=out)
    data = load_fashion_mnist(fashion_mnist)
    train_images, train_labels = data["train"]
    test_images, test_labels = data["test"]
    seeds = np.random.SeedSequence(seed).spawn(4)
    all_train = np.arange(train_images.shape[0])
    if val > 0:
        order = np.random.default_rng(seeds[3]).permutation(all_train)
        n_val = round(_VAL_SOURCE_FRACTION * all_train.size)
        val_pool, train_pool = np.sort(order[:n_val]), np.sort(order[n_val:])
    else:
        val_pool, train_pool = all_train[:0], all_train
    plan = [
        ("train", train_images, train_labels, train_pool, train, seeds[0]),
        ("val", train_images, train_labels, val_pool, val, seeds[1]),
        ("test", test_images, test_labels, None, test, seeds[2]),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary data folder
    try:
        meta: dict[str, object] = {
            "dataset": "Fashion-MNIST mosaics (semi-synthetic)",
            "source": str(fashion_mnist),
            "seed": seed,
            "grid": [GRID, GRID],
            "garments_per_mosaic": [1, GRID * GRID],
            "classes_in_mosaic": classes,
            "image_format": image_format,
            "class_names": list(FASHION_MNIST_CLASSES),
            "splits": {},
        }
        sources: dict[str, list[list[int]]] = {}
        for split, images, labels, pool, count, split_seed in plan:
            if count == 0 and split == "val":
                continue
            mosaics = build_mosaics(
                images,
                labels,
                count=count,
                seed=int(split_seed.generate_state(1)[0]),
                classes=classes,
                pool=pool,
            )
            if image_format == "png":
                names = _write_pngs(tmp / "images" / split, mosaics.images)
            else:
                np.save(tmp / f"{split}.npy", mosaics.images)
                names = [f"{split}.npy#{i}" for i in range(count)]
            _write_csv(tmp / f"{split}.csv", names, mosaics.labels, FASHION_MNIST_CLASSES)
            boxes = mosaic_boxes(
                names, mosaics.sources, labels, FASHION_MNIST_CLASSES, cell=(images.shape[1], images.shape[2])
            )
            write_boxes_csv(tmp / f"{split}_boxes.csv", boxes)
            source_set = "t10k" if split == "test" else "train"
            meta["splits"][split] = {  # type: ignore[index]
                "count": count,
                "source_idx": source_set,
                "source_images": int(images.shape[0] if pool is None else len(pool)),
                "positives_per_mosaic": float(mosaics.labels.sum(1).mean()) if count else 0.0,
            }
            sources[split] = mosaics.sources.tolist()
        (tmp / "mosaics.json").write_text(json.dumps({**meta, "cell_sources": sources}) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta
