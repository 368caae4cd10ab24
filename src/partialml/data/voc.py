"""Reader of PASCAL VOC 2007 / 2012 image-level classification labels (Everingham et al., IJCV 2010).

Layout read (the official devkit, ``VOCdevkit/VOC2007`` or ``VOCdevkit/VOC2012``)::

    <root>/ImageSets/Main/<split>.txt           one image id per line, e.g. ``000005``
    <root>/ImageSets/Main/<class>_<split>.txt   one line ``<image id> <flag>`` per image, same order

``path`` may be ``<root>`` or the ``ImageSets/Main`` folder itself. ``<split>`` is ``train``, ``val``,
``trainval`` or ``test`` (VOC 2007). The flag is ``1`` (the class is present), ``-1`` (absent) or ``0``
(present only as objects marked *difficult*). Lines may end in ``\\r\\n``; ids and flags are separated by
any whitespace (the official files pad the flag to two characters).

Labels: ``1`` -> positive, ``-1`` -> negative, ``0`` -> the ``difficult`` option:

* ``"unknown"`` (default): ``-1``, so that the VOC07 protocol, which leaves difficult entries out of AP,
  falls out of ``ignore_index=-1`` in :mod:`partialml.metrics`;
* ``"negative"``: ``0``, what Cole et al.'s ``preproc/format_pascal.py`` does (only the flag 1 is positive);
* ``"positive"``: ``1``.

The 20 classes are in the standard devkit order (:data:`VOC_CLASSES`). The rows follow ``<split>.txt``;
every class file must list the same images in the same order (checked). ``paths`` are
``JPEGImages/<id>.jpg``, relative to ``<root>``. ``empty_images="drop"`` drops images with no positive
(Cole's protocol for VOC 2012; default ``"keep"``, the official one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

import numpy as np

from partialml.data.image_labels import (
    ImageLabelSet,
    check_image_label_set,
    check_unique,
    read_text_file,
    split_lines,
)
from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE, NEGATIVE, POSITIVE, UNKNOWN

__all__ = ["VOC_CLASSES", "parse_voc_class_file", "parse_voc_id_list", "read_voc"]

#: The 20 VOC classes in the devkit order (``VOCcode/VOCinit.m``).
VOC_CLASSES: Final[tuple[str, ...]] = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

Difficult = Literal["unknown", "negative", "positive"]
_DIFFICULT: Final = {"unknown": UNKNOWN, "negative": NEGATIVE, "positive": POSITIVE}
_FLAGS: Final = {"1": 1, "-1": -1, "0": 0, "+1": 1}  # raw devkit flags


def parse_voc_id_list(text: str, *, path: str | Path) -> tuple[list[str], list[int]]:
    """Parse a VOC split list (``<split>.txt``): one image id per line.

    Returns:
        ``(ids, lines)``: the ids and their 1-based line numbers (blank lines are skipped).

    Raises:
        PartialMLError: no id, a line with more than one field, a repeated id.
    """
    ids: list[str] = []
    lines: list[int] = []
    for number, line in split_lines(text):
        fields = line.split()
        if len(fields) != 1:
            raise PartialMLError(
                f"has {len(fields)} fields; expected one image id per line", path=path, line=number
            )
        ids.append(fields[0])
        lines.append(number)
    if not ids:
        raise PartialMLError("lists no image; expected one image id per line", path=path)
    check_unique(ids, path=path, what="image", lines=lines)
    return ids, lines


def parse_voc_class_file(text: str, *, path: str | Path) -> tuple[list[str], np.ndarray, list[int]]:
    """Parse a VOC class file (``<class>_<split>.txt``): lines ``<image id> <flag>``.

    Returns:
        ``(ids, flags, lines)``: ids, an int8 array of the raw flags in ``{1, -1, 0}`` and the 1-based
        line numbers.

    Raises:
        PartialMLError: a line without exactly two fields, a flag other than ``1``, ``-1``, ``0``, no line.
    """
    ids: list[str] = []
    flags: list[int] = []
    lines: list[int] = []
    for number, line in split_lines(text):
        fields = line.split()
        if len(fields) != 2:
            raise PartialMLError(
                f"has {len(fields)} fields; expected '<image id> <flag>'", path=path, line=number
            )
        flag = _FLAGS.get(fields[1])
        if flag is None:
            raise PartialMLError(
                f"flag {fields[1]!r}; expected 1 (present), -1 (absent) or 0 (difficult)",
                path=path,
                line=number,
            )
        ids.append(fields[0])
        flags.append(flag)
        lines.append(number)
    if not ids:
        raise PartialMLError("lists no image; expected lines '<image id> <flag>'", path=path)
    return ids, np.asarray(flags, dtype=LABEL_DTYPE), lines


def _main_dir(path: Path, split: str) -> tuple[Path, Path]:
    """(devkit root, ImageSets/Main folder)."""
    if (path / "ImageSets" / "Main").is_dir():
        return path, path / "ImageSets" / "Main"
    if path.is_dir() and (path / f"{split}.txt").is_file():
        root = path.parent.parent if path.name == "Main" and path.parent.name == "ImageSets" else path
        return root, path
    if not path.exists():
        raise PartialMLError("not found; expected a VOC devkit folder (with ImageSets/Main)", path=path)
    raise PartialMLError(
        f"has no ImageSets/Main/{split}.txt; expected a VOC devkit folder such as VOCdevkit/VOC2007",
        path=path,
    )


def read_voc(
    path: str | Path,
    *,
    split: str = "trainval",
    difficult: Difficult = "unknown",
    empty_images: Literal["keep", "drop"] = "keep",
) -> ImageLabelSet:
    """Read the image-level labels of one VOC split.

    Args:
        path: the devkit year folder (``VOCdevkit/VOC2007``) or its ``ImageSets/Main`` folder.
        split: ``"train"``, ``"val"``, ``"trainval"`` (default) or ``"test"``.
        difficult: label of the flag ``0`` (difficult only): ``"unknown"`` (default, ``-1``: the VOC07
            protocol ignores these entries), ``"negative"`` (Cole's formatting) or ``"positive"``.
        empty_images: ``"keep"`` (default) or ``"drop"`` images with no positive after the mapping above
            (Cole's VOC protocol lists only images with a positive).

    Returns:
        :class:`ImageLabelSet` with ``(N, 20)`` labels, rows in ``<split>.txt`` order, paths
        ``JPEGImages/<id>.jpg``.

    Raises:
        PartialMLError: missing files, malformed lines, class files whose images differ from ``<split>.txt``.
    """
    if difficult not in _DIFFICULT:
        raise PartialMLError(f"difficult={difficult!r}; expected 'unknown', 'negative' or 'positive'")
    if empty_images not in ("keep", "drop"):
        raise PartialMLError(f"empty_images={empty_images!r}; expected 'keep' or 'drop'")
    root, main = _main_dir(Path(path), split)
    list_path = main / f"{split}.txt"
    ids, _ = parse_voc_id_list(read_text_file(list_path, what="a VOC image list"), path=list_path)
    labels = np.empty((len(ids), len(VOC_CLASSES)), dtype=LABEL_DTYPE)
    for c, name in enumerate(VOC_CLASSES):
        class_path = main / f"{name}_{split}.txt"
        text = read_text_file(class_path, what=f"the VOC label file of class {name!r}")
        class_ids, flags, lines = parse_voc_class_file(text, path=class_path)
        for i, (got, want) in enumerate(zip(class_ids, ids, strict=False)):
            if got != want:
                raise PartialMLError(
                    f"image {got!r} where {list_path.name} has {want!r} (row {i + 1}); expected the images "
                    f"of {list_path.name} in its order",
                    path=class_path,
                    line=lines[i],
                )
        if len(class_ids) != len(ids):
            raise PartialMLError(
                f"lists {len(class_ids)} images, {list_path.name} {len(ids)}; expected the same images",
                path=class_path,
            )
        labels[:, c] = np.where(flags == 1, POSITIVE, np.where(flags == -1, NEGATIVE, _DIFFICULT[difficult]))
    paths = [f"JPEGImages/{i}.jpg" for i in ids]
    if empty_images == "drop":
        keep = (labels == POSITIVE).any(axis=1)
        labels = labels[keep]
        paths = [paths[i] for i in np.flatnonzero(keep).tolist()]
    return check_image_label_set(
        ImageLabelSet(paths=paths, labels=labels, class_names=list(VOC_CLASSES), source=str(root))
    )
