"""Reader of the CUB-200-2011 attribute labels (Wah et al., Caltech tech. report CNS-TR-2011-001).

Following Cole et al. (CVPR 2021, ``preproc/format_cub.py``), the 312 binary attributes are the labels:
``is_present`` ``1`` -> positive, ``0`` -> negative; the certainty and time fields are ignored. The
labels are full (no ``-1``).

Files read, in the ``CUB_200_2011`` folder (all ids 1-based integers):

* ``images.txt``: ``<image id> <image name>``, e.g. ``1 001.Black_footed_Albatross/Black_Footed_..._796111.jpg``;
* ``train_test_split.txt``: ``<image id> <is_training_image>`` (1 train, 0 test; 5,994 / 5,794 images);
* ``attributes/image_attribute_labels.txt``: ``<image id> <attribute id> <is_present> <certainty id> <time>``,
  one line per (image, attribute) pair (11,788 x 312 lines);
* ``attributes.txt`` (in the folder or in ``attributes/``): ``<attribute id> <name>``, e.g.
  ``1 has_bill_shape::curved_(up_or_down)``; absent names become ``attribute_<id>``.

Tolerance: the official ``image_attribute_labels.txt`` has a few lines with 6 fields instead of 5 (an
extra number between the fields). A line needs at least the 5 documented fields; only the first three
(image id, attribute id, is_present) are read, so extra fields are ignored. Every (image, attribute) pair
of the chosen split must appear exactly once.

Rows follow ``images.txt`` order restricted to the split; ``paths`` are ``images/<image name>``, relative to
the ``CUB_200_2011`` folder. Columns follow the attribute ids ``1..A``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from partialml.data.image_labels import (
    ImageLabelSet,
    check_image_label_set,
    check_unique,
    read_text_file,
    split_lines,
)
from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE

__all__ = ["parse_cub_attribute_labels", "read_cub"]

CubSplit = Literal["train", "test", "all"]


def _int(token: str, *, what: str, path: Path, line: int) -> int:
    if not token.isascii() or not token.isdigit():
        raise PartialMLError(f"{what} {token!r}; expected a non-negative integer", path=path, line=line)
    return int(token)


def _id_table(path: Path, *, what: str, value: str) -> tuple[dict[int, str], list[int], list[int]]:
    """``<id> <rest>`` lines -> ({id: rest}, ids in file order, their line numbers)."""
    table: dict[int, str] = {}
    order: list[int] = []
    lines: list[int] = []
    for number, line in split_lines(read_text_file(path, what=what)):
        fields = line.split(maxsplit=1)
        if len(fields) != 2:
            raise PartialMLError(
                f"has {len(fields)} field(s); expected '<id> <{value}>'", path=path, line=number
            )
        key = _int(fields[0], what="id", path=path, line=number)
        if key in table:
            raise PartialMLError(f"repeats id {key}; expected each id once", path=path, line=number)
        table[key] = fields[1].strip()
        order.append(key)
        lines.append(number)
    return table, order, lines


def parse_cub_attribute_labels(
    text: str, *, path: Path, rows: dict[int, int], num_attributes: int | None = None
) -> np.ndarray:
    """Parse ``image_attribute_labels.txt`` into an ``(len(rows), A)`` int8 0/1 matrix.

    Args:
        text: the file's text.
        path: the file, named in errors.
        rows: image id -> row; lines of other images are skipped.
        num_attributes: ``A``; ``None`` takes the largest attribute id seen.

    Raises:
        PartialMLError: fewer than 5 fields, non-integer ids, ``is_present`` not 0/1, an attribute id
            outside ``1..A``, a pair given twice, a pair missing.
    """
    img_col: list[int] = []
    attr_col: list[int] = []
    present: list[int] = []
    line_of: list[int] = []
    for number, line in split_lines(text):
        fields = line.split()
        if len(fields) < 5:
            raise PartialMLError(
                f"has {len(fields)} fields; expected '<image id> <attribute id> <is_present> <certainty> <time>'",
                path=path,
                line=number,
            )
        image_id = _int(fields[0], what="image id", path=path, line=number)
        r = rows.get(image_id)
        if r is None:
            continue
        attribute = _int(fields[1], what="attribute id", path=path, line=number)
        if fields[2] not in ("0", "1"):
            raise PartialMLError(f"is_present {fields[2]!r}; expected 0 or 1", path=path, line=number)
        if attribute < 1 or (num_attributes is not None and attribute > num_attributes):
            limit = "" if num_attributes is None else f"..{num_attributes}"
            raise PartialMLError(f"attribute id {attribute}; expected 1{limit}", path=path, line=number)
        img_col.append(r)
        attr_col.append(attribute - 1)
        present.append(fields[2] == "1")
        line_of.append(number)
    num_a = num_attributes if num_attributes is not None else (max(attr_col) + 1 if attr_col else 0)
    if not img_col or num_a == 0:
        raise PartialMLError("has no attribute label of the selected images; expected some", path=path)
    r_arr = np.asarray(img_col, dtype=np.int64)
    a_arr = np.asarray(attr_col, dtype=np.int64)
    flat = r_arr * num_a + a_arr
    count = np.bincount(flat, minlength=len(rows) * num_a)
    if (count > 1).any():
        pair = int(np.flatnonzero(count > 1)[0])
        second = int(np.flatnonzero(flat == pair)[1])
        raise PartialMLError(
            f"repeats the label of attribute {attr_col[second] + 1} for this image; expected each pair once",
            path=path,
            line=line_of[second],
        )
    if (count == 0).any():
        pair = int(np.flatnonzero(count == 0)[0])
        image_id = next(k for k, v in rows.items() if v == pair // num_a)
        raise PartialMLError(
            f"has no line for image {image_id}, attribute {pair % num_a + 1}; expected every "
            "(image, attribute) pair",
            path=path,
        )
    labels = np.zeros(len(rows) * num_a, dtype=LABEL_DTYPE)
    labels[flat] = np.asarray(present, dtype=LABEL_DTYPE)
    return labels.reshape(len(rows), num_a)


def read_cub(path: str | Path, *, split: CubSplit = "train") -> ImageLabelSet:
    """Read the 312 CUB-200-2011 attributes of one split as full labels.

    Args:
        path: the ``CUB_200_2011`` folder.
        split: ``"train"`` (default, 5,994 images), ``"test"`` (5,794) or ``"all"``.

    Returns:
        :class:`ImageLabelSet` with ``(N, A)`` labels in ``{1, 0}`` and paths ``images/<image name>``.

    Raises:
        PartialMLError: missing files, malformed lines, ids that disagree between files.
    """
    if split not in ("train", "test", "all"):
        raise PartialMLError(f"split={split!r}; expected 'train', 'test' or 'all' for CUB-200-2011")
    root = Path(path)
    if not (root / "images.txt").is_file():
        raise PartialMLError("has no images.txt; expected the CUB_200_2011 folder", path=root)
    images_path = root / "images.txt"
    names, order, lines = _id_table(images_path, what="CUB images.txt", value="image name")
    check_unique([names[i] for i in order], path=images_path, what="image", lines=lines)
    split_path = root / "train_test_split.txt"
    is_train, _, _ = _id_table(split_path, what="CUB train_test_split.txt", value="is_training_image")
    for image_id in order:
        flag = is_train.get(image_id)
        if flag not in ("0", "1"):
            shown = "no line" if flag is None else f"{flag!r}"
            raise PartialMLError(
                f"has {shown} for image {image_id}; expected 1 (train) or 0 (test) for every image",
                path=split_path,
            )
    chosen = [i for i in order if split == "all" or (is_train[i] == "1") == (split == "train")]
    if not chosen:
        raise PartialMLError(f"has no {split} image; expected some", path=split_path)
    rows = {image_id: r for r, image_id in enumerate(chosen)}

    attr_names_path = next(
        (p for p in (root / "attributes.txt", root / "attributes" / "attributes.txt") if p.is_file()), None
    )
    num_attributes: int | None = None
    attr_names: dict[int, str] = {}
    if attr_names_path is not None:
        attr_names, attr_order, _ = _id_table(
            attr_names_path, what="CUB attributes.txt", value="attribute name"
        )
        num_attributes = len(attr_order)
        if sorted(attr_order) != list(range(1, num_attributes + 1)):
            raise PartialMLError(
                f"has ids {min(attr_order)}..{max(attr_order)} for {num_attributes} attributes; expected 1..A",
                path=attr_names_path,
            )
    labels_path = root / "attributes" / "image_attribute_labels.txt"
    labels = parse_cub_attribute_labels(
        read_text_file(labels_path, what="CUB image_attribute_labels.txt"),
        path=labels_path,
        rows=rows,
        num_attributes=num_attributes,
    )
    class_names = [attr_names.get(a, f"attribute_{a}") for a in range(1, labels.shape[1] + 1)]
    return check_image_label_set(
        ImageLabelSet(
            paths=[f"images/{names[i]}" for i in chosen],
            labels=labels,
            class_names=class_names,
            source=str(root),
        )
    )
