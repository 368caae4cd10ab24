"""Label sets of image datasets: the :class:`ImageLabelSet` container and the :func:`read_image_labels` dispatcher.

Readers of image-dataset annotation files return labels only (no image is opened): a list of image paths
(or ids, for formats that give ids), an ``(N, C)`` int8 label matrix in the partialml encoding ``1`` observed
positive, ``0`` observed negative, ``-1`` unknown, the ``C`` class names, and the file or folder read.

Supported formats (one module each; see their docstrings for the exact layouts and policies):

=============== ====================================================== ===================================
``format``      what ``path`` is                                       module
=============== ====================================================== ===================================
``voc``         a VOC 2007/2012 devkit folder (``VOC2007``)            :mod:`partialml.data.voc`
``coco``        a COCO ``instances_*.json`` (or its folder + split)    :mod:`partialml.data.coco`
``cub``         the ``CUB_200_2011`` folder                            :mod:`partialml.data.cub`
``nus``         the official NUS-WIDE folder                           :mod:`partialml.data.nuswide`
``openimages``  an OpenImages V3 human-verified labels CSV (or folder) :mod:`partialml.data.openimages`
``cole``        a Cole/LL formatted folder (``formatted_*.npy``)        :mod:`partialml.data.cole_images`
``csv``         a CSV image list                                       :mod:`partialml.data.generic`
``jsonl``       a JSON-lines image list                                :mod:`partialml.data.generic`
=============== ====================================================== ===================================

Every problem with the input raises :class:`~partialml.errors.PartialMLError` with one line naming the
file (and line, for text files) and what was expected.

Example:
    >>> s = ImageLabelSet(paths=["a.jpg", "b.jpg"], labels=np.array([[1, -1], [0, 1]], dtype=np.int8),
    ...                   class_names=["cat", "dog"], source="toy")
    >>> check_image_label_set(s).num_classes, len(s)
    (2, 2)
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE, validate_labels

__all__ = [
    "ImageLabelFormat",
    "ImageLabelSet",
    "check_image_label_set",
    "check_unique",
    "read_image_labels",
    "read_text_file",
    "split_lines",
]

ImageLabelFormat = Literal["voc", "coco", "cub", "nus", "openimages", "cole", "csv", "jsonl"]
_FORMATS: tuple[str, ...] = ("voc", "coco", "cub", "nus", "openimages", "cole", "csv", "jsonl")


@dataclass
class ImageLabelSet:
    """The labels of one split of an image dataset.

    Attributes:
        paths: ``N`` image paths relative to the image root that the reader documents (or image ids, for
            formats that give ids: OpenImages), unique.
        labels: ``(N, C)`` int8 in ``{1, 0, -1}`` (positive / negative / unknown). For formats that hold both
            full and partial labels (Cole/LL), these are the full labels.
        class_names: the ``C`` class names, unique, in column order.
        source: the file or folder read.
        observed: ``(N, C)`` int8 partial labels as annotated, when the format has them besides the full
            labels (Cole/LL ``formatted_*_labels_obs.npy``); otherwise ``None``.
    """

    paths: list[str]
    labels: np.ndarray
    class_names: list[str]
    source: str
    observed: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        """``C``, the number of label columns."""
        return len(self.class_names)


def check_image_label_set(data: ImageLabelSet) -> ImageLabelSet:
    """Validate ``data`` in place (int8 labels, matching lengths, unique paths and names) and return it.

    Raises:
        PartialMLError: naming ``data.source`` and what disagrees.
    """
    src = data.source
    data.labels = _labels(data.labels, len(data.class_names), src, "labels")
    if data.labels.shape[0] != len(data.paths):
        raise PartialMLError(
            f"{len(data.paths)} image paths for {data.labels.shape[0]} label rows; expected equal", path=src
        )
    check_unique(data.paths, path=src, what="image")
    check_unique(data.class_names, path=src, what="class name")
    if data.observed is not None:
        data.observed = _labels(data.observed, len(data.class_names), src, "observed labels")
        if data.observed.shape != data.labels.shape:
            raise PartialMLError(
                f"observed labels have shape {data.observed.shape}, labels {data.labels.shape}; expected equal",
                path=src,
            )
    return data


def _labels(labels: np.ndarray, num_classes: int, source: str, what: str) -> np.ndarray:
    """:func:`validate_labels`, with a fast path for int8 arrays (min/max instead of a set test: readers
    hand over matrices of 10^9 entries for OpenImages)."""
    if (
        isinstance(labels, np.ndarray)
        and labels.dtype == LABEL_DTYPE
        and labels.ndim == 2
        and labels.shape[1] == num_classes
        and (labels.size == 0 or (int(labels.min()) >= -1 and int(labels.max()) <= 1))
    ):
        return np.ascontiguousarray(labels)
    return validate_labels(labels, num_classes=num_classes, source=source, what=what)


def check_unique(
    names: Sequence[str], *, path: str | Path, what: str, lines: Sequence[int] | None = None
) -> None:
    """Raise :class:`PartialMLError` on the first repeated entry of ``names``.

    Args:
        names: the entries (image paths, ids, class names).
        path: the file named in the message.
        what: what an entry is, for the message (``"image"``).
        lines: the 1-based line of each entry, to name the line of the repeat.
    """
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            first = seen[name]
            where = f"line {lines[first]}" if lines is not None else f"entry {first + 1}"
            raise PartialMLError(
                f"duplicate {what} {name!r} (first at {where}); expected each {what} once",
                path=path,
                line=None if lines is None else lines[i],
            )
        seen[name] = i


def read_text_file(path: str | Path, *, what: str) -> str:
    """The text of a file: UTF-8 (a byte-order mark is dropped), else Latin-1.

    Raises:
        PartialMLError: missing or unreadable file, or an empty one (only whitespace).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PartialMLError(f"file not found; expected {what}", path=p) from None
    except OSError as err:
        reason = " ".join((str(err) or type(err).__name__).split())
        raise PartialMLError(f"cannot read ({reason}); expected {what}", path=p) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.strip():
        raise PartialMLError(f"is empty; expected {what}", path=p)
    return text


def split_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` for every non-blank line of ``text``; ``\\n`` or ``\\r\\n`` ends a line.

    Only ``\\n`` splits (not the other Unicode line separators of :meth:`str.splitlines`), so that the
    line numbers are those an editor shows; a trailing ``\\r`` and surrounding spaces are stripped.
    """
    out = []
    for i, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped:
            out.append((i, stripped))
    return out


def _split_default(format: str, split: str | None, default: str | None) -> str | None:
    if split is None:
        return default
    if default is None:
        raise PartialMLError(f"format {format!r} has no splits; got split={split!r}, expected none")
    return split


def read_image_labels(
    path: str | Path, *, format: ImageLabelFormat, split: str | None = None, **options: Any
) -> ImageLabelSet:
    """Read the labels of one split of an image dataset.

    Args:
        path: the file or folder (see the table in this module's docstring).
        format: ``"voc"``, ``"coco"``, ``"cub"``, ``"nus"``, ``"openimages"``, ``"cole"``, ``"csv"`` or
            ``"jsonl"``.
        split: the split to read; ``None`` takes each format's default: VOC ``"trainval"``, CUB and NUS-WIDE
            ``"train"``, OpenImages ``"train"`` (used only when ``path`` is a folder), Cole ``"train"``,
            COCO ``"train2014"`` (used only when ``path`` is a folder). CSV and JSONL have no splits.
        **options: keyword options of the format's reader (e.g. ``difficult=`` for VOC,
            ``empty_images=`` for COCO, ``classes=`` for CSV/JSONL).

    Returns:
        :class:`ImageLabelSet`.

    Raises:
        PartialMLError: an unknown format, an option the reader does not take, or any problem with the input.
    """
    from partialml.data import coco, cole_images, cub, generic, nuswide, openimages, voc

    if format not in _FORMATS:
        raise PartialMLError(f"unknown image label format {format!r}; expected one of {', '.join(_FORMATS)}")
    readers: dict[str, Any] = {
        "voc": (voc.read_voc, "trainval"),
        "coco": (coco.read_coco, "train2014"),
        "cub": (cub.read_cub, "train"),
        "nus": (nuswide.read_nuswide, "train"),
        "openimages": (openimages.read_openimages, "train"),
        "cole": (cole_images.read_cole_images, "train"),
        "csv": (generic.read_image_csv, None),
        "jsonl": (generic.read_image_jsonl, None),
    }
    reader, default = readers[format]
    chosen = _split_default(format, split, default)
    accepted = set(inspect.signature(reader).parameters) - {"path", "split"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise PartialMLError(
            f"option {unknown[0]!r} is not an option of the {format!r} reader; expected one of "
            f"{', '.join(sorted(accepted)) or '(none)'}"
        )
    kwargs = dict(options)
    if format == "coco":
        kwargs["split"] = split  # COCO uses a split only for a folder; None keeps a file path as given
    elif chosen is not None:
        kwargs["split"] = chosen
    result: ImageLabelSet = reader(path, **kwargs)
    return result
