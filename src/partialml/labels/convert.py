"""Converters between other label formats and the partialml encoding (``1`` / ``0`` / ``-1``).

Every converter validates its input and raises :class:`~partialml.errors.PartialMLError` with one line
that names the file (and line, for text files) and what was expected.

Formats:

* **Cole/LL ``.npy``** (Cole et al., CVPR 2021; Kim et al., CVPR 2022): observed labels with ``1``
  positive, ``0`` unknown, ``-1`` negative. Converting swaps ``0`` and ``-1``
  (:func:`from_cole`, :func:`to_cole`, :func:`read_cole_npy`). Their full labels
  (``formatted_*_labels.npy``) are dense ``0``/``1`` matrices (:func:`from_dense01`).
* **robust-loss-mlml text lists** (Zhang et al. 2021, the Hill/SPLC code): one sample per line,
  ``name,i j k`` with the indices of the listed positives, e.g.
  ``COCO_train2014_000000050518.jpg, 8 41`` (a space after the comma is optional; a line may list no
  index). Unlisted entries are unknown (``-1``) by default or negative (``0``, what that code's loss
  assumes) with ``unlisted="negative"`` (:func:`read_text_lists`, :func:`write_text_lists`).
* **dense 0/1 matrices** (full labels): :func:`from_dense01`, :func:`to_dense01`.
* **CSL matrices** (Ben-Baruch et al., PartialLabelingCSL): ``1`` positive, ``0`` negative, ``-1``
  unknown, i.e. our encoding; :func:`from_csl` / :func:`to_csl` only validate.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE, NEGATIVE, POSITIVE, UNKNOWN, LabelsLike, validate_labels

Unlisted = Literal["unknown", "negative"]

_INDEX = re.compile(r"[0-9]+\Z")
_FORBIDDEN_IN_NAMES = (",", "\n", "\r")


# -- Cole / LL .npy ---------------------------------------------------------------------------------------


def from_cole(arr: LabelsLike, *, source: str | Path | None = None) -> np.ndarray:
    """Cole/LL observed labels (``1`` pos, ``0`` unknown, ``-1`` neg) -> partialml ``(N, C)`` int8.

    Args:
        arr: ``(N, C)`` with values in ``{1, 0, -1}`` (float arrays with integral values are accepted, as
            Cole's ``.npy`` files store floats).
        source: the file the array came from, named in error messages.

    Example:
        >>> from_cole([[1, 0, -1]]).tolist()
        [[1, -1, 0]]
    """
    cole = validate_labels(arr, source=source, what="Cole observed labels")
    out = cole.copy()
    out[cole == 0] = UNKNOWN
    out[cole == -1] = NEGATIVE
    return out


def to_cole(labels: LabelsLike) -> np.ndarray:
    """partialml labels ``(N, C)`` -> Cole/LL observed labels (``1`` pos, ``0`` unknown, ``-1`` neg), int8.

    Example:
        >>> to_cole([[1, -1, 0]]).tolist()
        [[1, 0, -1]]
    """
    arr = validate_labels(labels)
    out = arr.copy()
    out[arr == UNKNOWN] = 0
    out[arr == NEGATIVE] = -1
    return out


def _load_npy(path: str | Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PartialMLError("file not found; expected a .npy label matrix", path=path) from None
    except Exception as err:  # any failure to parse is a problem with the user's file
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise PartialMLError(
            f"not a readable .npy array ({reason}); expected a label matrix", path=path
        ) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise PartialMLError("is an .npz archive; expected a single .npy label matrix", path=path)
    return arr


def read_cole_npy(path: str | Path, *, kind: Literal["observed", "full"] = "observed") -> np.ndarray:
    """Read a Cole/LL label file into the partialml encoding, ``(N, C)`` int8.

    Args:
        path: ``formatted_{train,val}_labels_obs.npy`` (``kind="observed"``: ``1`` pos, ``0`` unknown,
            ``-1`` neg) or ``formatted_{train,val}_labels.npy`` (``kind="full"``: ``0``/``1``).
        kind: which of the two files it is.

    Raises:
        PartialMLError: missing or unreadable file, not 2-d, or values outside the format.
    """
    arr = _load_npy(path)
    if kind == "full":
        return from_dense01(arr, source=path)
    if kind == "observed":
        return from_cole(arr, source=path)
    raise PartialMLError(f"unknown kind {kind!r}; expected 'observed' or 'full'")


# -- robust-loss-mlml text lists ---------------------------------------------------------------------------


def read_text_lists(
    path: str | Path, num_classes: int, *, unlisted: Unlisted = "unknown"
) -> tuple[list[str], np.ndarray]:
    """Read a robust-loss-mlml label list: one line ``name,i j k`` per sample (listed positives).

    Args:
        path: the text file (UTF-8; a byte-order mark is ignored). Lines holding only whitespace are
            skipped; spaces around the name and the indices are ignored.
        num_classes: ``C``; every index must be in ``0 .. C-1``.
        unlisted: what the entries that a line does not list become: ``"unknown"`` (``-1``, default: the
            file says nothing about them) or ``"negative"`` (``0``, what the Hill/SPLC code's loss assumes).

    Returns:
        ``(names, labels)``: the sample names in file order and ``(N, C)`` int8 labels.

    Raises:
        PartialMLError: ``path:line`` and the problem: a missing comma, an empty name, an index that is
        not a non-negative integer or is ``>= num_classes``, an index listed twice, a duplicate sample
        name, an empty file, a file that is not UTF-8.

    Example: the line ``COCO_train2014_000000050518.jpg, 8 41`` gives a row with ``1`` at 8 and 41.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise PartialMLError(f"num_classes must be a positive integer, got {num_classes!r}", path=path)
    if unlisted not in ("unknown", "negative"):
        raise PartialMLError(f"unlisted must be 'unknown' or 'negative', got {unlisted!r}", path=path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().split("\n")  # universal newlines: \r\n and \r arrive as \n
    except FileNotFoundError:
        raise PartialMLError("file not found; expected a label list `name,i j k`", path=path) from None
    except UnicodeDecodeError as err:
        raise PartialMLError(f"not UTF-8 text (byte {err.start}); expected a label list", path=path) from None
    except OSError as err:
        raise PartialMLError(f"cannot read the file ({err.strerror})", path=path) from None

    names: list[str] = []
    first_line: dict[str, int] = {}
    pos_rows: list[int] = []
    pos_cols: list[int] = []
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        name, comma, rest = raw.partition(",")
        if not comma:
            raise PartialMLError(
                "missing comma; expected `name,i j k` (indices of the positive classes)",
                path=path,
                line=lineno,
            )
        name = name.strip()
        if not name:
            raise PartialMLError("empty sample name before the comma", path=path, line=lineno)
        if name in first_line:
            raise PartialMLError(
                f"duplicate sample name {name!r} (first on line {first_line[name]})", path=path, line=lineno
            )
        row = len(names)
        seen: set[int] = set()
        for token in rest.split():
            if not _INDEX.match(token):
                raise PartialMLError(
                    f"bad class index {token[:40]!r}; expected a non-negative integer", path=path, line=lineno
                )
            index = int(token)
            if index >= num_classes:
                raise PartialMLError(
                    f"class index {index} out of range; expected 0..{num_classes - 1}", path=path, line=lineno
                )
            if index in seen:
                raise PartialMLError(f"class index {index} listed twice", path=path, line=lineno)
            seen.add(index)
            pos_rows.append(row)
            pos_cols.append(index)
        first_line[name] = lineno
        names.append(name)
    if not names:
        raise PartialMLError("file is empty; expected one line `name,i j k` per sample", path=path)
    fill = UNKNOWN if unlisted == "unknown" else NEGATIVE
    labels = np.full((len(names), int(num_classes)), fill, dtype=LABEL_DTYPE)
    labels[np.asarray(pos_rows, dtype=np.int64), np.asarray(pos_cols, dtype=np.int64)] = POSITIVE
    return names, labels


def check_sample_names(names: Sequence[str], *, source: str | Path | None = None) -> None:
    """Raise :class:`PartialMLError` unless ``names`` can be written to a text list and read back.

    A name must be a non-empty string without commas or line breaks, without surrounding whitespace and
    not starting with a byte-order mark; names must be unique.
    """
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise PartialMLError(f"sample name {i} is {name!r}; expected a non-empty string", path=source)
        if any(ch in name for ch in _FORBIDDEN_IN_NAMES) or name != name.strip() or name.startswith("\ufeff"):
            raise PartialMLError(
                f"sample name {i} ({name[:40]!r}) has a comma, a line break or surrounding whitespace",
                path=source,
            )
        if name in seen:
            raise PartialMLError(f"duplicate sample name {name[:40]!r}", path=source)
        seen.add(name)


def write_text_lists(path: str | Path, names: Sequence[str], labels: LabelsLike) -> None:
    """Write labels as a robust-loss-mlml list: one line ``name,i j k`` per sample, the positives only.

    Negatives and unknowns are not written (the format cannot tell them apart). The file is written to a
    temporary name and moved into place, so an earlier file survives a failure.

    Args:
        path: the output file (UTF-8, ``\\n`` line ends).
        names: ``N`` unique sample names (see :func:`check_sample_names`).
        labels: ``(N, C)`` in ``{1, 0, -1}``.
    """
    arr = validate_labels(labels)
    if len(names) != arr.shape[0]:
        raise PartialMLError(f"{len(names)} sample names for {arr.shape[0]} label rows", path=path)
    check_sample_names(names, source=path)
    rows, cols = np.nonzero(arr == POSITIVE)
    bounds = np.searchsorted(rows, np.arange(arr.shape[0] + 1))
    col_text = cols.astype(str)
    lines = [f"{name},{' '.join(col_text[bounds[i] : bounds[i + 1]])}\n" for i, name in enumerate(names)]
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(lines)
        os.replace(tmp, target)
    except UnicodeEncodeError:
        tmp.unlink(missing_ok=True)
        raise PartialMLError("a sample name cannot be encoded as UTF-8", path=path) from None
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise PartialMLError(f"cannot write the file ({err.strerror})", path=path) from None


# -- dense 0/1 and CSL -------------------------------------------------------------------------------------


def from_dense01(arr: LabelsLike, *, source: str | Path | None = None) -> np.ndarray:
    """A dense ``0``/``1`` matrix (full labels) -> ``(N, C)`` int8; any other value is an error.

    Example:
        >>> from_dense01([[0, 1]]).tolist()
        [[0, 1]]
    """
    return validate_labels(arr, allow_unknown=False, source=source, what="dense 0/1 labels")


def to_dense01(labels: LabelsLike, *, unknown: Literal["error", "negative"] = "error") -> np.ndarray:
    """partialml labels -> dense ``0``/``1`` int8; unknown entries are an error or, with
    ``unknown="negative"``, become ``0`` (the "assume negative" reading of partial labels)."""
    arr = validate_labels(labels)
    if unknown == "negative":
        return (arr == POSITIVE).astype(LABEL_DTYPE)
    if unknown != "error":
        raise PartialMLError(f"unknown must be 'error' or 'negative', got {unknown!r}")
    return validate_labels(arr, allow_unknown=False, what="labels for a dense 0/1 matrix")


def from_csl(arr: LabelsLike, *, source: str | Path | None = None) -> np.ndarray:
    """CSL-style labels (``1`` pos, ``0`` neg, ``-1`` unknown: our encoding) -> validated int8 copy."""
    return validate_labels(arr, source=source, what="CSL labels").copy()


def to_csl(labels: LabelsLike) -> np.ndarray:
    """partialml labels -> CSL-style labels (the same encoding), validated int8 copy."""
    return validate_labels(labels).copy()
