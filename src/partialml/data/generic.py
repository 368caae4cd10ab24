"""Readers of generic image lists with labels: CSV and JSON lines, for practitioners' own data.

CSV (UTF-8, comma-separated, standard quoting, a header row required, the first column named ``path``);
the header picks one of two conventions:

1. **Name lists** -- header ``path,labels`` or ``path,labels,negatives`` (those columns in any order after
   ``path``). ``labels`` holds the observed positives and ``negatives`` the observed negatives, each as class
   names separated by ``|`` (spaces around a name are dropped; an empty cell lists none)::

       path,labels,negatives
       img/1.jpg,cat|dog,car
       img/2.jpg,,cat

   Classes listed in neither column are ``unlisted`` (default ``"unknown"``: ``-1``; ``"negative"``: ``0``,
   for exhaustive annotations). A class in both columns of a row is an error.
2. **One column per class** -- any other header: ``path,<class 1>,<class 2>,...``; cells ``1`` (positive),
   ``0`` (negative), ``-1`` or blank (unknown)::

       path,cat,dog
       img/1.jpg,1,
       img/2.jpg,0,-1

JSON lines: one object per non-blank line, ``{"path": "img/1.jpg", "labels": ["cat"], "negatives": ["dog"]}``;
``labels`` and ``negatives`` are optional lists of class names with the same meaning as the name-list CSV;
any other key is an error (so that a misspelt ``"negative"`` is not silently ignored).

Classes: ``classes`` (a file with one name per line, or a sequence of names) fixes the columns and their order;
a name outside it is an error. Without it the classes are inferred: the header order for per-class columns,
else the sorted (by code point) set of all names listed. ``paths`` are the ``path`` values as written,
relative to the image root of the user's choice; each may appear once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
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

__all__ = ["parse_image_csv", "parse_image_jsonl", "read_image_csv", "read_image_jsonl"]

Unlisted = Literal["unknown", "negative"]
ClassesArg = str | Path | Sequence[str] | None
_CELLS: Final = {"1": POSITIVE, "0": NEGATIVE, "-1": UNKNOWN, "": UNKNOWN}
_UNLISTED: Final = {"unknown": UNKNOWN, "negative": NEGATIVE}
_JSONL_KEYS: Final = ("path", "labels", "negatives")


def _load_classes(classes: ClassesArg) -> tuple[list[str], str] | None:
    """(names, where) from a class file or a sequence; ``None`` when not given."""
    if classes is None:
        return None
    if isinstance(classes, str | Path):
        p = Path(classes)
        entries = split_lines(read_text_file(p, what="class names, one per line"))
        names = [line for _, line in entries]
        check_unique(names, path=p, what="class", lines=[n for n, _ in entries])
        return names, str(p)
    names = [str(c) for c in classes]
    if not names:
        raise PartialMLError("classes is empty; expected at least one class name")
    for i, n in enumerate(names):
        if not n.strip() or n != n.strip():
            raise PartialMLError(
                f"classes[{i}] is {n!r}; expected a non-empty name without surrounding spaces"
            )
    check_unique(names, path="classes", what="class")
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return names, f"the given class list ({shown})"


def _assemble(
    paths: list[str],
    lines: list[int],
    positives: list[list[str]],
    negatives: list[list[str]],
    *,
    path: str | Path,
    classes: ClassesArg,
    unlisted: Unlisted,
) -> ImageLabelSet:
    """Build the label matrix of the name-list conventions (CSV lists and JSONL)."""
    if unlisted not in _UNLISTED:
        raise PartialMLError(f"unlisted={unlisted!r}; expected 'unknown' or 'negative'")
    if not paths:
        raise PartialMLError("lists no image; expected at least one row", path=path)
    check_unique(paths, path=path, what="image", lines=lines)
    given = _load_classes(classes)
    if given is None:
        names = sorted({n for row in positives + negatives for n in row})
        if not names:
            raise PartialMLError("names no class; expected class names (or pass classes=)", path=path)
    else:
        names = given[0]
    column = {n: c for c, n in enumerate(names)}
    labels = np.full((len(paths), len(names)), _UNLISTED[unlisted], dtype=LABEL_DTYPE)
    for r, (pos, neg, line) in enumerate(zip(positives, negatives, lines, strict=True)):
        for kind, listed, value in (("labels", pos, POSITIVE), ("negatives", neg, NEGATIVE)):
            for n in listed:
                c = column.get(n)
                if c is None:
                    raise PartialMLError(
                        f"unknown class {n!r} in {kind}; expected one of the {len(names)} classes of {given[1]}"
                        if given is not None
                        else f"unknown class {n!r}",
                        path=path,
                        line=line,
                    )
                labels[r, c] = value
        both = set(pos) & set(neg)
        if both:
            raise PartialMLError(
                f"class {sorted(both)[0]!r} is both in labels and in negatives; expected one of them",
                path=path,
                line=line,
            )
    return check_image_label_set(
        ImageLabelSet(paths=paths, labels=labels, class_names=names, source=str(path))
    )


def _split_names(cell: str, *, path: str | Path, line: int) -> list[str]:
    if not cell.strip():
        return []
    names = [n.strip() for n in cell.split("|")]
    if any(not n for n in names):
        raise PartialMLError(
            f"empty class name in {cell!r}; expected names separated by '|'", path=path, line=line
        )
    return names


def parse_image_csv(
    text: str, *, path: str | Path, classes: ClassesArg = None, unlisted: Unlisted = "unknown"
) -> ImageLabelSet:
    """Parse the text of an image-list CSV (both conventions of the module docstring).

    Raises:
        PartialMLError: no header or rows, a first column not named ``path``, a ragged row, an empty or repeated
            path, an unknown class name, a cell other than ``1``/``0``/``-1``/blank, invalid CSV.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise PartialMLError("has no header row; expected 'path,labels' or 'path,<class>,...'", path=path)
        header = [h.strip() for h in header]
        if header[0] != "path":
            raise PartialMLError(
                f"first column is {header[0]!r}; expected 'path' (header 'path,labels' or 'path,<class>,...')",
                path=path,
                line=1,
            )
        check_unique(header, path=path, what="column")
        rows: list[tuple[int, list[str]]] = []
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise PartialMLError(
                    f"has {len(row)} fields; expected {len(header)} as in the header",
                    path=path,
                    line=reader.line_num,
                )
            if not row[0].strip():
                raise PartialMLError(
                    "has an empty path; expected an image path", path=path, line=reader.line_num
                )
            rows.append((reader.line_num, row))
    except csv.Error as err:
        raise PartialMLError(f"is not valid CSV ({err})", path=path, line=reader.line_num) from None
    lines = [n for n, _ in rows]
    paths = [row[0].strip() for _, row in rows]
    rest = header[1:]
    if "labels" in rest and set(rest) <= {"labels", "negatives"}:
        i_pos = header.index("labels")
        i_neg = header.index("negatives") if "negatives" in header else None
        positives = [_split_names(row[i_pos], path=path, line=n) for n, row in rows]
        negatives = [[] if i_neg is None else _split_names(row[i_neg], path=path, line=n) for n, row in rows]
        return _assemble(paths, lines, positives, negatives, path=path, classes=classes, unlisted=unlisted)
    return _per_class_columns(header, rows, paths, lines, path=path, classes=classes)


def _per_class_columns(
    header: list[str],
    rows: list[tuple[int, list[str]]],
    paths: list[str],
    lines: list[int],
    *,
    path: str | Path,
    classes: ClassesArg,
) -> ImageLabelSet:
    columns = header[1:]
    if not columns:
        raise PartialMLError(
            "has only a path column; expected 'path,labels' or 'path,<class>,...'", path=path
        )
    for name in columns:
        if not name:
            raise PartialMLError("has an empty column name; expected a class name", path=path, line=1)
    if not rows:
        raise PartialMLError("lists no image; expected at least one row", path=path)
    check_unique(paths, path=path, what="image", lines=lines)
    given = _load_classes(classes)
    names = columns if given is None else given[0]
    if given is not None and set(columns) != set(names):
        extra = sorted(set(columns) - set(names))
        lacking = sorted(set(names) - set(columns))
        detail = f"unknown class column {extra[0]!r}" if extra else f"no column for class {lacking[0]!r}"
        raise PartialMLError(f"{detail}; expected one column per class of {given[1]}", path=path, line=1)
    order = [columns.index(n) + 1 for n in names]
    labels = np.empty((len(rows), len(names)), dtype=LABEL_DTYPE)
    for r, (line, row) in enumerate(rows):
        for c, j in enumerate(order):
            value = _CELLS.get(row[j].strip())
            if value is None:
                raise PartialMLError(
                    f"column {header[j]!r} is {row[j]!r}; expected 1, 0, -1 or blank (unknown)",
                    path=path,
                    line=line,
                )
            labels[r, c] = value
    return check_image_label_set(
        ImageLabelSet(paths=paths, labels=labels, class_names=names, source=str(path))
    )


def _name_list(value: Any, key: str, *, path: str | Path, line: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PartialMLError(
            f"{key!r} is {value!r:.60}; expected a list of class names", path=path, line=line
        )
    names = [v.strip() for v in value]
    if any(not n for n in names):
        raise PartialMLError(f"{key!r} holds an empty class name; expected names", path=path, line=line)
    return names


def parse_image_jsonl(
    text: str, *, path: str | Path, classes: ClassesArg = None, unlisted: Unlisted = "unknown"
) -> ImageLabelSet:
    """Parse the text of an image-list JSONL file (see the module docstring).

    Raises:
        PartialMLError: invalid JSON, a line that is not an object, a missing or empty ``path``, an
            unexpected key, labels that are not lists of names, an unknown class, a repeated path.
    """
    paths: list[str] = []
    lines: list[int] = []
    positives: list[list[str]] = []
    negatives: list[list[str]] = []
    for number, line in split_lines(text):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise PartialMLError(
                f"is not valid JSON ({err.msg}); expected one object per line", path=path, line=number
            ) from None
        except RecursionError:
            raise PartialMLError(
                "is nested too deeply; expected one object per line", path=path, line=number
            ) from None
        if not isinstance(obj, dict):
            raise PartialMLError(
                f"is a JSON {type(obj).__name__}; expected an object", path=path, line=number
            )
        extra = [k for k in obj if k not in _JSONL_KEYS]
        if extra:
            raise PartialMLError(
                f"has key {extra[0]!r}; expected only {', '.join(_JSONL_KEYS)}", path=path, line=number
            )
        image = obj.get("path")
        if not isinstance(image, str) or not image.strip():
            raise PartialMLError(f"'path' is {image!r:.60}; expected an image path", path=path, line=number)
        paths.append(image.strip())
        lines.append(number)
        positives.append(_name_list(obj.get("labels", []), "labels", path=path, line=number))
        negatives.append(_name_list(obj.get("negatives", []), "negatives", path=path, line=number))
    return _assemble(paths, lines, positives, negatives, path=path, classes=classes, unlisted=unlisted)


def read_image_csv(
    path: str | Path, *, classes: ClassesArg = None, unlisted: Unlisted = "unknown"
) -> ImageLabelSet:
    """Read an image-list CSV (conventions in the module docstring).

    Args:
        path: the CSV file.
        classes: a class file (one name per line) or a sequence of names; default inferred.
        unlisted: the label of classes a name-list row does not mention: ``"unknown"`` (default) or ``"negative"``.

    Example:
        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     p = os.path.join(tmp, "labels.csv")
        ...     _ = open(p, "w").write("path,labels\\na.jpg,dog|cat\\nb.jpg,cat\\n")
        ...     s = read_image_csv(p)
        >>> s.class_names, s.labels.tolist()
        (['cat', 'dog'], [[1, 1], [1, -1]])
    """
    p = Path(path)
    return parse_image_csv(
        read_text_file(p, what="an image list CSV"), path=p, classes=classes, unlisted=unlisted
    )


def read_image_jsonl(
    path: str | Path, *, classes: ClassesArg = None, unlisted: Unlisted = "unknown"
) -> ImageLabelSet:
    """Read an image-list JSONL file (conventions in the module docstring); arguments as :func:`read_image_csv`."""
    p = Path(path)
    return parse_image_jsonl(
        read_text_file(p, what="an image list in JSON lines"), path=p, classes=classes, unlisted=unlisted
    )
