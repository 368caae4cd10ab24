"""Reader of OpenImages V3 human-verified image-level labels (Krasin et al. 2017), the "real partial labels"
benchmark of LL (Kim et al., CVPR 2022) and BoostLU.

Files:

* labels CSV (``<split>/annotations-human.csv`` in the V3 release), with a header naming at least
  ``ImageID``, ``LabelName`` and ``Confidence`` (V3: ``ImageID,Source,LabelName,Confidence``). Each row is one
  human verification: ``Confidence`` ``1`` -> positive, ``0`` -> negative (``1.0``/``0.0`` accepted; any other
  value is an error: machine-generated scores are not read). Pairs (image, class) without a row are unknown
  (``-1``): this is what makes the labels partial.
* class descriptions CSV (``class-descriptions.csv``): ``LabelName,DisplayName`` rows (``/m/0100nhbf,Sprenger's
  tulip``), with or without that header; quoted names with commas are fine. Every ``LabelName`` of the labels
  CSV must be described.
* optional trainable classes (``classes-trainable.txt``): one ``LabelName`` per line (5,000 in V3).

Conventions:

* classes: the trainable list in file order when given (rows of other classes are skipped); otherwise the
  described classes that occur in the labels CSV, in the order of the descriptions file.
* class names: the ``DisplayName``; display names are not unique in OpenImages, so a repeated one gets its
  ``LabelName`` appended (``"Jaguar (/m/0449p)"``). ``names="mid"`` uses the ``LabelName`` instead.
* rows: the images with at least one row of a kept class, in order of first appearance; ``paths`` are the
  ``ImageID`` values (the image file is ``<split>/<ImageID>.jpg`` in the downloaders).
* repeated (image, class) rows with the same confidence are merged; rows that disagree are an error, or
  unknown with ``conflicts="unknown"``.

Scale: the labels CSV is parsed in one pass with :mod:`csv` into integer arrays (a few million rows take
seconds); the label matrix is filled with one NumPy scatter.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Final, Literal

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

__all__ = ["parse_class_descriptions", "read_openimages"]

_CONFIDENCE: Final = {"1": POSITIVE, "0": NEGATIVE, "1.0": POSITIVE, "0.0": NEGATIVE}
DESCRIPTIONS_NAMES: Final = ("class-descriptions.csv", "oidv6-class-descriptions.csv")


def _reader(text: str) -> Any:  # a csv reader (it has .line_num)
    return csv.reader(io.StringIO(text, newline=""))


def parse_class_descriptions(text: str, *, path: str | Path) -> dict[str, str]:
    """``LabelName,DisplayName`` rows -> ``{LabelName: DisplayName}`` in file order (header optional)."""
    out: dict[str, str] = {}
    reader = _reader(text)
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 2:
                raise PartialMLError(
                    f"has {len(row)} fields; expected 'LabelName,DisplayName'",
                    path=path,
                    line=reader.line_num,
                )
            mid, name = row[0].strip(), row[1].strip()
            if reader.line_num == 1 and (mid, name) == ("LabelName", "DisplayName"):
                continue
            if not mid:
                raise PartialMLError("has an empty LabelName; expected one", path=path, line=reader.line_num)
            if mid in out:
                raise PartialMLError(
                    f"repeats LabelName {mid!r}; expected each class once", path=path, line=reader.line_num
                )
            out[mid] = name
    except csv.Error as err:
        raise PartialMLError(f"is not valid CSV ({err})", path=path, line=reader.line_num) from None
    if not out:
        raise PartialMLError("describes no class; expected 'LabelName,DisplayName' rows", path=path)
    return out


def _find_descriptions(labels_path: Path) -> Path:
    for folder in (labels_path.parent, labels_path.parent.parent, labels_path.parent.parent.parent):
        for name in DESCRIPTIONS_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise PartialMLError(
        "no class-descriptions.csv next to it or up to two folders above; pass classes=<descriptions CSV>",
        path=labels_path,
    )


def _unique_names(mids: list[str], described: dict[str, str], names: str) -> list[str]:
    if names == "mid":
        return mids
    display = [described[m] or m for m in mids]
    counts: dict[str, int] = {}
    for d in display:
        counts[d] = counts.get(d, 0) + 1
    return [f"{d} ({m})" if counts[d] > 1 else d for d, m in zip(display, mids, strict=True)]


def read_openimages(
    path: str | Path,
    *,
    split: str = "train",
    classes: str | Path | None = None,
    trainable: str | Path | None = None,
    names: Literal["display", "mid"] = "display",
    conflicts: Literal["error", "unknown"] = "error",
) -> ImageLabelSet:
    """Read OpenImages human-verified image-level labels as partial labels.

    Args:
        path: the labels CSV, or a folder holding ``<split>/annotations-human.csv``.
        split: with a folder, ``"train"`` (default), ``"validation"`` or ``"test"``; ignored for a file.
        classes: the class descriptions CSV; default ``class-descriptions.csv`` next to the labels CSV or up
            to two folders above.
        trainable: optional list of trainable ``LabelName`` values (one per line): the columns, in its order.
        names: class names from ``"display"`` names (default) or the ``"mid"`` label names.
        conflicts: ``"error"`` (default) or ``"unknown"`` for (image, class) rows that disagree.

    Returns:
        :class:`ImageLabelSet` with ``(N, C)`` labels in ``{1, 0, -1}``; ``paths`` are image ids.

    Raises:
        PartialMLError: a missing column, a ragged row, an unknown class, a confidence other than 0/1,
            disagreeing rows, no row of a kept class.
    """
    if names not in ("display", "mid"):
        raise PartialMLError(f"names={names!r}; expected 'display' or 'mid'")
    if conflicts not in ("error", "unknown"):
        raise PartialMLError(f"conflicts={conflicts!r}; expected 'error' or 'unknown'")
    labels_path = Path(path)
    if labels_path.is_dir():
        labels_path = labels_path / split / "annotations-human.csv"
    desc_path = Path(classes) if classes is not None else _find_descriptions(labels_path)
    described = parse_class_descriptions(
        read_text_file(desc_path, what="OpenImages class descriptions (LabelName,DisplayName)"),
        path=desc_path,
    )
    kept: list[str] | None = None
    if trainable is not None:
        t_path = Path(trainable)
        entries = split_lines(read_text_file(t_path, what="trainable classes, one LabelName per line"))
        kept = [line for _, line in entries]
        check_unique(kept, path=t_path, what="class", lines=[n for n, _ in entries])
        for number, mid in entries:
            if mid not in described:
                raise PartialMLError(
                    f"class {mid!r} is not in {desc_path.name}; expected described classes",
                    path=t_path,
                    line=number,
                )
    column = {m: i for i, m in enumerate(kept if kept is not None else described)}

    text = read_text_file(labels_path, what="OpenImages human-verified labels CSV")
    reader = _reader(text)
    image_row: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[int] = []
    lines: list[int] = []
    try:
        header = [h.strip() for h in next(reader)]
        missing = [h for h in ("ImageID", "LabelName", "Confidence") if h not in header]
        if missing:
            raise PartialMLError(
                f"header {','.join(header)!r} lacks {', '.join(missing)}; expected "
                "'ImageID,Source,LabelName,Confidence'",
                path=labels_path,
                line=1,
            )
        i_img, i_lab, i_conf = header.index("ImageID"), header.index("LabelName"), header.index("Confidence")
        width = len(header)
        for row in reader:
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                raise PartialMLError(
                    f"has {len(row)} fields; expected {width} as in the header",
                    path=labels_path,
                    line=reader.line_num,
                )
            mid = row[i_lab]
            c = column.get(mid)
            if c is None:
                if mid not in described:
                    raise PartialMLError(
                        f"unknown class {mid!r}; expected a LabelName of {desc_path.name}",
                        path=labels_path,
                        line=reader.line_num,
                    )
                continue  # described but not trainable
            value = _CONFIDENCE.get(row[i_conf].strip())
            if value is None:
                raise PartialMLError(
                    f"confidence {row[i_conf]!r}; expected 1 (verified present) or 0 (verified absent)",
                    path=labels_path,
                    line=reader.line_num,
                )
            image = row[i_img]
            r = image_row.get(image)
            if r is None:
                if not image:
                    raise PartialMLError(
                        "has an empty ImageID; expected one", path=labels_path, line=reader.line_num
                    )
                r = image_row[image] = len(image_row)
            rows.append(r)
            cols.append(c)
            vals.append(value)
            lines.append(reader.line_num)
    except csv.Error as err:
        raise PartialMLError(f"is not valid CSV ({err})", path=labels_path, line=reader.line_num) from None
    if not rows:
        raise PartialMLError("has no label row of a kept class; expected some", path=labels_path)

    r_arr = np.asarray(rows, dtype=np.int64)
    c_arr = np.asarray(cols, dtype=np.int64)
    v_arr = np.asarray(vals, dtype=LABEL_DTYPE)
    mids = kept if kept is not None else list(described)
    if kept is None:  # keep only the described classes that occur, in descriptions order
        used = np.unique(c_arr)
        c_arr = np.searchsorted(used, c_arr)
        mids = [mids[i] for i in used.tolist()]
    num_classes = len(mids)
    flat = r_arr * num_classes + c_arr
    order = np.argsort(flat, kind="stable")
    same = flat[order][1:] == flat[order][:-1]
    clash = same & (v_arr[order][1:] != v_arr[order][:-1])
    if clash.any() and conflicts == "error":
        second = int(order[1:][clash][0])
        mid_of = mids[int(c_arr[second])]
        raise PartialMLError(
            f"image {list(image_row)[rows[second]]!r}, class {mid_of!r} ({described[mid_of]}) was verified both "
            "present and absent; expected one answer (or conflicts='unknown')",
            path=labels_path,
            line=lines[second],
        )
    labels = np.full(len(image_row) * num_classes, UNKNOWN, dtype=LABEL_DTYPE)
    labels[flat] = v_arr
    if clash.any():
        labels[flat[order][1:][clash]] = UNKNOWN
    return check_image_label_set(
        ImageLabelSet(
            paths=list(image_row),
            labels=labels.reshape(len(image_row), num_classes),
            class_names=_unique_names(mids, described, names),
            source=str(labels_path),
        )
    )
