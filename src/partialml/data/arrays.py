"""Readers of feature arrays: NPZ archives, CSV tables and ``.npy`` files (memory mapped).

Three layouts, each returning a :class:`~partialml.data.features.FeatureData` whose labels use the
partialml encoding (``1`` positive, ``0`` negative, ``-1`` unknown):

**NPZ** (:func:`read_npz`), one ``.npz`` archive with the keys

* ``X``: ``(N, D)`` numbers (converted to float32), required;
* ``Y``: ``(N, C)`` labels in ``{1, 0, -1}``, required;
* ``split``: ``(N,)`` strings ``"train"``/``"test"`` or integers/booleans ``0`` (train) / ``1`` (test),
  optional (all rows are train without it; no test row means ``test=None``);
* ``names``: ``(C,)`` class names, optional (default ``class_0``, ``class_1``, ...);
* ``ids``: ``(N,)`` sample names (strings or integers), optional;
* ``Y_observed``: ``(N, C)`` partial labels as annotated, optional.

Any other key is an error (a misspelt key would otherwise be silently ignored). Strings must be stored as
NumPy unicode arrays (``np.array(list_of_str)``): the archive is opened with ``allow_pickle=False``.

**CSV** (:func:`read_csv`), one ``.csv`` (or ``.csv.gz``) file, comma separated, with a header row:

* columns named ``label:<class>`` are labels (class ``<class>``, in column order), or pass
  ``label_columns=[...]`` to name them (the column names are then the class names); cells ``1``, ``0``,
  ``-1``, and an **empty cell means unknown (-1)**;
* columns named ``observed:<class>`` (optional) hold the partial labels as annotated, for the same classes;
* a column named ``id`` (optional) names the samples; a column named ``split`` (optional) holds ``train`` or
  ``test``;
* every other column is a feature and must hold a finite number.

Example file::

    id,f0,f1,label:cat,label:dog,split
    a,0.5,1.0,1,0,train
    b,0.1,0.2,,1,test

**npy folder** (:func:`read_npy_dir`, or :func:`read_npy_pair` with explicit paths), for features larger
than RAM: ``train_features.npy`` (``(N, D)``, memory mapped with ``np.load(mmap_mode="r")``; only a float32
file stays on disk, any other numeric dtype is converted to float32 in RAM), ``train_labels.npy`` (``(N, C)``
in ``{1, 0, -1}``, loaded), optionally ``train_observed.npy``, ``train_ids.txt`` (one name per line), the
same four ``test_*`` files, and ``class_names.txt`` (one name per line). NaN/inf are searched in chunks, so
the features are never read into memory at once.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from partialml.data.features import (
    FeatureData,
    FeatureSplit,
    check_feature_data,
    check_finite,
    check_unique,
    default_class_names,
)
from partialml.data.mulan import read_text
from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE, validate_labels

__all__ = [
    "load_npy",
    "read_csv",
    "read_name_list",
    "read_npy_dir",
    "read_npy_pair",
    "read_npz",
]

NPZ_KEYS: Final = ("X", "Y", "split", "names", "ids", "Y_observed")
_LABEL_CELLS: Final = {"1": 1, "0": 0, "-1": -1, "": -1, "1.0": 1, "0.0": 0, "-1.0": -1, "+1": 1}


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return (text[:150] + "...") if len(text) > 150 else (text or type(err).__name__)


# -- shared helpers -----------------------------------------------------------------------------------------


def load_npy(path: str | Path, *, what: str, mmap: bool = False) -> np.ndarray:
    """Load one ``.npy`` array (``allow_pickle=False``), memory mapped when ``mmap``.

    Raises:
        PartialMLError: missing file, unreadable or pickled content, an ``.npz`` archive.
    """
    p = Path(path)
    try:
        arr = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise PartialMLError(f"file not found; expected {what}", path=p) from None
    except Exception as err:  # numpy raises several types on a bad file; all are the user's file
        raise PartialMLError(f"not a readable .npy array ({_reason(err)}); expected {what}", path=p) from None
    if not isinstance(arr, np.ndarray):
        if hasattr(arr, "close"):
            arr.close()
        raise PartialMLError(f"is an .npz archive; expected a single .npy array ({what})", path=p)
    return arr


def as_float32_features(x: np.ndarray, *, source: str | Path | None, what: str = "features") -> np.ndarray:
    """``x`` as float32 without copying when it already is (a memmap stays a memmap).

    Raises:
        PartialMLError: ``x`` is not 2-d or not numeric.
    """
    if x.ndim != 2:
        raise PartialMLError(f"{what} must be 2-d (samples x features), got shape {x.shape}", path=source)
    if x.dtype == np.float32:
        return x
    if x.dtype.kind not in "biuf":
        raise PartialMLError(
            f"{what} have dtype {x.dtype}; expected numbers (float32 preferred)", path=source
        )
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(x, dtype=np.float32)
    if x.dtype.kind == "f":
        check_finite(out, source=source, what=what)
    return out


def read_name_list(path: str | Path, *, what: str) -> list[str]:
    """One name per line (UTF-8, ``\\r\\n`` accepted, a final newline optional)."""
    return read_text(Path(path), what=what).splitlines()


def _names(arr: np.ndarray, *, source: Path, what: str, length: int | None = None) -> list[str]:
    if arr.ndim != 1:
        raise PartialMLError(f"{what} must be 1-d, got shape {arr.shape}", path=source)
    if arr.dtype.kind not in "USiu":
        raise PartialMLError(
            f"{what} have dtype {arr.dtype}; expected strings (or integers for ids)", path=source
        )
    if length is not None and arr.shape[0] != length:
        raise PartialMLError(f"{what} have {arr.shape[0]} entries; expected {length}", path=source)
    if arr.dtype.kind == "S":
        try:
            return [bytes(v).decode("utf-8") for v in arr]
        except UnicodeDecodeError:
            raise PartialMLError(f"{what} are not UTF-8; expected text", path=source) from None
    return [str(v) for v in arr.tolist()]


# -- NPZ ----------------------------------------------------------------------------------------------------


def _split_mask(split: np.ndarray, n: int, source: Path) -> np.ndarray:
    """``True`` for test rows."""
    if split.ndim != 1 or split.shape[0] != n:
        raise PartialMLError(
            f"'split' has shape {split.shape}; expected ({n},), one entry per row of X", path=source
        )
    if split.dtype.kind in "US":
        values = np.char.lower(np.char.strip(split.astype(str)))
        bad = ~np.isin(values, ["train", "test"])
        if bad.any():
            i = int(np.argmax(bad))
            raise PartialMLError(
                f"'split' entry {i} is {split[i]!r}; expected 'train' or 'test'", path=source
            )
        return np.asarray(values == "test")
    if split.dtype.kind in "biu":
        bad = ~np.isin(split, [0, 1])
        if bad.any():
            i = int(np.argmax(bad))
            raise PartialMLError(
                f"'split' entry {i} is {split[i]!r}; expected 0 (train) or 1 (test)", path=source
            )
        return np.asarray(split == 1)
    raise PartialMLError(
        f"'split' has dtype {split.dtype}; expected strings train/test or integers 0/1", path=source
    )


def read_npz(path: str | Path) -> FeatureData:
    """Read an ``.npz`` archive (keys ``X``, ``Y``, optional ``split``, ``names``, ``ids``, ``Y_observed``).

    Returns:
        :class:`FeatureData` named after the file stem; ``test`` is ``None`` when no row is a test row.

    Raises:
        PartialMLError: unreadable archive, missing ``X``/``Y``, unknown keys, object arrays, row counts that
            differ, bad label or split values, NaN/inf features, repeated ids or class names, no train row.

    Example:
        >>> import numpy as np, tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "toy.npz")
        >>> np.savez(f, X=np.eye(2), Y=[[1, 0], [0, 1]], split=["train", "test"])
        >>> d = read_npz(f)
        >>> d.train.x.shape, d.test.labels.tolist()
        ((1, 2), [[0, 1]])
    """
    p = Path(path)
    try:
        archive = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise PartialMLError("file not found; expected an .npz archive", path=p) from None
    except Exception as err:
        raise PartialMLError(f"not a readable .npz archive ({_reason(err)})", path=p) from None
    if not hasattr(archive, "files"):
        raise PartialMLError("is a single array; expected an .npz archive with keys X and Y", path=p)
    arrays: dict[str, np.ndarray] = {}
    with archive:
        unknown = [k for k in archive.files if k not in NPZ_KEYS]
        if unknown:
            raise PartialMLError(
                f"has unknown key(s) {', '.join(unknown)}; expected {', '.join(NPZ_KEYS)}", path=p
            )
        for key in ("X", "Y"):
            if key not in archive.files:
                raise PartialMLError(f"has no key {key!r}; expected X (features) and Y (labels)", path=p)
        for key in archive.files:
            try:
                arrays[key] = np.asarray(archive[key])
            except Exception as err:
                raise PartialMLError(
                    f"cannot read key {key!r} ({_reason(err)}); expected plain arrays (no Python objects)",
                    path=p,
                ) from None
    x = as_float32_features(arrays["X"], source=p, what="X")
    n = x.shape[0]
    if n == 0:
        raise PartialMLError("X has no samples; expected at least one row", path=p)
    labels = validate_labels(arrays["Y"], source=p, what="Y")
    if labels.shape[0] != n:
        raise PartialMLError(f"X has {n} rows but Y has {labels.shape[0]}; expected equal", path=p)
    observed = None
    if "Y_observed" in arrays:
        observed = validate_labels(
            arrays["Y_observed"], num_classes=labels.shape[1], source=p, what="Y_observed"
        )
        if observed.shape[0] != n:
            raise PartialMLError(
                f"X has {n} rows but Y_observed has {observed.shape[0]}; expected equal", path=p
            )
    class_names = (
        _names(arrays["names"], source=p, what="names", length=labels.shape[1])
        if "names" in arrays
        else default_class_names(labels.shape[1])
    )
    ids = _names(arrays["ids"], source=p, what="ids", length=n) if "ids" in arrays else None
    if ids is not None:
        check_unique(ids, source=p, what="sample id")
    test_mask = _split_mask(arrays["split"], n, p) if "split" in arrays else np.zeros(n, dtype=bool)

    def take(mask: np.ndarray) -> FeatureSplit:
        return FeatureSplit(
            x=np.ascontiguousarray(x[mask]),
            labels=labels[mask],
            observed=None if observed is None else observed[mask],
            ids=None if ids is None else [ids[i] for i in np.flatnonzero(mask)],
        )

    if test_mask.all():
        raise PartialMLError("has no train row (every 'split' entry is test); expected at least one", path=p)
    if test_mask.any():
        train, test = take(~test_mask), take(test_mask)
    else:
        train, test = FeatureSplit(x=x, labels=labels, observed=observed, ids=ids), None
    data = FeatureData(name=_stem(p), class_names=class_names, train=train, test=test, source=str(p))
    check_feature_data(data)
    return data


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".npz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.name


# -- CSV ----------------------------------------------------------------------------------------------------


def read_csv(
    path: str | Path,
    *,
    label_prefix: str = "label:",
    label_columns: Sequence[str] | None = None,
    observed_prefix: str = "observed:",
    id_column: str = "id",
    split_column: str = "split",
    delimiter: str = ",",
) -> FeatureData:
    """Read a CSV table with a header row (see the module docstring for the convention).

    Args:
        path: ``.csv`` or ``.csv.gz`` file (UTF-8, else Latin-1).
        label_prefix: columns whose name starts with it are labels; the rest of the name is the class.
        label_columns: the label columns by exact name instead (then ``label_prefix`` is not used).
        observed_prefix: columns ``<observed_prefix><class>`` hold the partial labels as annotated.
        id_column: the optional column of sample names.
        split_column: the optional column of ``train``/``test``.
        delimiter: the cell separator.

    Raises:
        PartialMLError: empty file, repeated header names, no label or no feature column, a row with the
            wrong number of cells, a non-numeric or non-finite feature, a label cell not in
            ``{1, 0, -1, empty}``, a bad split value, repeated ids, no train row. The message names the file
            and the line.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "toy.csv")
        >>> _ = open(f, "w").write("id,f0,label:cat,label:dog\\na,0.5,1,\\nb,0.1,0,1\\n")
        >>> d = read_csv(f)
        >>> d.class_names, d.train.labels.tolist(), d.train.ids
        (['cat', 'dog'], [[1, -1], [0, 1]], ['a', 'b'])
    """
    p = Path(path)
    text = read_text(p, what="a CSV file with a header row")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as err:
        raise PartialMLError(f"malformed CSV ({_reason(err)})", path=p, line=reader.line_num) from None
    if header is None:
        raise PartialMLError("is empty; expected a header row and data rows", path=p)
    header = [h.strip() for h in header]
    header_line = reader.line_num
    check_unique(header, source=p, what="column name")

    if label_columns is not None:
        missing = [c for c in label_columns if c not in header]
        if missing:
            raise PartialMLError(
                f"has no column {missing[0]!r} (given in label_columns)", path=p, line=header_line
            )
        label_idx = [header.index(c) for c in label_columns]
        class_names = list(label_columns)
    else:
        label_idx = [i for i, h in enumerate(header) if h.startswith(label_prefix)]
        class_names = [header[i][len(label_prefix) :] for i in label_idx]
    if not label_idx:
        raise PartialMLError(
            f"has no label column; expected columns named '{label_prefix}<class>' (or pass label_columns)",
            path=p,
            line=header_line,
        )
    check_unique(class_names, source=p, what="class name")
    observed_by_name = {
        h[len(observed_prefix) :]: i
        for i, h in enumerate(header)
        if observed_prefix and h.startswith(observed_prefix)
    }
    if observed_by_name and set(observed_by_name) != set(class_names):
        extra = sorted(set(observed_by_name) ^ set(class_names))[0]
        raise PartialMLError(
            f"observed and label columns name different classes (e.g. {extra!r}); expected the same classes",
            path=p,
            line=header_line,
        )
    observed_idx = [observed_by_name[c] for c in class_names] if observed_by_name else []
    id_idx = header.index(id_column) if id_column in header else None
    split_idx = header.index(split_column) if split_column in header else None
    used = set(label_idx) | set(observed_idx) | {id_idx, split_idx}
    feature_idx = [i for i in range(len(header)) if i not in used]
    if not feature_idx:
        raise PartialMLError(
            "has no feature column; expected numeric columns besides labels", path=p, line=header_line
        )

    xs: list[list[float]] = []
    ys: list[list[int]] = []
    obs: list[list[int]] = []
    ids: list[str] = []
    is_test: list[bool] = []
    id_lines: dict[str, int] = {}
    width = len(header)
    while True:
        try:
            row = next(reader, None)
        except csv.Error as err:
            raise PartialMLError(f"malformed CSV ({_reason(err)})", path=p, line=reader.line_num) from None
        if row is None:
            break
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            raise PartialMLError(
                f"row has {len(row)} cells; expected {width} (one per header column)", path=p, line=line
            )
        xs.append([_feature_cell(row[i], header[i], p, line) for i in feature_idx])
        ys.append([_label_cell(row[i], header[i], p, line) for i in label_idx])
        if observed_idx:
            obs.append([_label_cell(row[i], header[i], p, line) for i in observed_idx])
        if id_idx is not None:
            name = row[id_idx].strip()
            if not name:
                raise PartialMLError(
                    f"column {id_column!r} is empty; expected a sample name", path=p, line=line
                )
            if name in id_lines:
                raise PartialMLError(
                    f"sample id {name!r} repeats the one on line {id_lines[name]}; expected unique ids",
                    path=p,
                    line=line,
                )
            id_lines[name] = line
            ids.append(name)
        if split_idx is not None:
            value = row[split_idx].strip().lower()
            if value not in ("train", "test"):
                raise PartialMLError(
                    f"column {split_column!r} is {row[split_idx]!r}; expected 'train' or 'test'",
                    path=p,
                    line=line,
                )
            is_test.append(value == "test")
        else:
            is_test.append(False)
    if not xs:
        raise PartialMLError("has a header but no data row; expected at least one sample", path=p)
    x = np.asarray(xs, dtype=np.float32)
    labels = np.asarray(ys, dtype=LABEL_DTYPE)
    observed = np.asarray(obs, dtype=LABEL_DTYPE) if observed_idx else None
    test_mask = np.asarray(is_test, dtype=bool)
    if test_mask.all():
        raise PartialMLError(
            f"has no train row (every {split_column!r} is test); expected at least one", path=p
        )

    def take(mask: np.ndarray) -> FeatureSplit:
        rows = np.flatnonzero(mask)
        return FeatureSplit(
            x=np.ascontiguousarray(x[rows]),
            labels=labels[rows],
            observed=None if observed is None else observed[rows],
            ids=[ids[i] for i in rows] if ids else None,
        )

    test = take(test_mask) if test_mask.any() else None
    data = FeatureData(
        name=_stem(p), class_names=class_names, train=take(~test_mask), test=test, source=str(p)
    )
    check_feature_data(data)
    return data


def _feature_cell(cell: str, column: str, path: Path, line: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise PartialMLError(
            f"column {column!r} is {cell!r}; expected a number", path=path, line=line
        ) from None
    if not math.isfinite(value) or abs(value) > float(np.finfo(np.float32).max):
        raise PartialMLError(
            f"column {column!r} is {cell.strip()!r}; expected a finite float32 number", path=path, line=line
        )
    return value


def _label_cell(cell: str, column: str, path: Path, line: int) -> int:
    value = _LABEL_CELLS.get(cell.strip())
    if value is None:
        raise PartialMLError(
            f"column {column!r} is {cell!r}; expected 1, 0, -1 or empty (unknown)", path=path, line=line
        )
    return value


# -- npy ----------------------------------------------------------------------------------------------------


def _npy_split(
    features: Path,
    labels: Path,
    observed: Path | None,
    ids: Path | None,
    what: str,
) -> FeatureSplit:
    x = as_float32_features(load_npy(features, what=f"{what} features (N x D)", mmap=True), source=features)
    y = validate_labels(load_npy(labels, what=f"{what} labels (N x C)"), source=labels, what=f"{what} labels")
    if y.shape[0] != x.shape[0]:
        raise PartialMLError(
            f"has {y.shape[0]} rows but {features.name} has {x.shape[0]}; expected one label row per feature row",
            path=labels,
        )
    obs = None
    if observed is not None:
        obs = validate_labels(
            load_npy(observed, what=f"{what} observed labels (N x C)"),
            num_classes=y.shape[1],
            source=observed,
            what=f"{what} observed labels",
        )
        if obs.shape[0] != x.shape[0]:
            raise PartialMLError(
                f"has {obs.shape[0]} rows but {features.name} has {x.shape[0]}; expected equal", path=observed
            )
    names = None
    if ids is not None:
        names = read_name_list(ids, what="sample ids, one per line")
        if len(names) != x.shape[0]:
            raise PartialMLError(
                f"has {len(names)} lines for {x.shape[0]} samples; expected one id per row", path=ids
            )
        check_unique(names, source=ids, what="sample id")
    check_finite(x, source=features, what=f"{what} features")
    return FeatureSplit(x=x, labels=y, observed=obs, ids=names)


def read_npy_pair(
    features: str | Path,
    labels: str | Path,
    *,
    observed: str | Path | None = None,
    ids: str | Path | None = None,
    test_features: str | Path | None = None,
    test_labels: str | Path | None = None,
    test_observed: str | Path | None = None,
    test_ids: str | Path | None = None,
    class_names: Sequence[str] | None = None,
    name: str | None = None,
) -> FeatureData:
    """Read features from ``.npy`` files (memory mapped) and labels from ``.npy`` files, by explicit paths.

    Args:
        features: ``(N, D)`` ``.npy``, opened with ``mmap_mode="r"`` (stays on disk when float32).
        labels: ``(N, C)`` ``.npy`` in ``{1, 0, -1}``.
        observed: optional ``(N, C)`` partial labels as annotated.
        ids: optional text file, one sample name per line.
        test_features, test_labels, test_observed, test_ids: the same for the test split (features and
            labels together or neither).
        class_names: ``C`` names; default ``class_0``, ``class_1``, ...
        name: dataset name; default the stem of ``features``.

    Raises:
        PartialMLError: unreadable files, wrong shapes or values, row counts or dimensions that differ,
            NaN/inf features (streamed), repeated ids.
    """
    fpath = Path(features)
    if (test_features is None) != (test_labels is None):
        raise PartialMLError(
            "test_features and test_labels go together; expected both or neither", path=fpath
        )
    train = _npy_split(fpath, Path(labels), _opt(observed), _opt(ids), "train")
    test = None
    if test_features is not None and test_labels is not None:
        test = _npy_split(Path(test_features), Path(test_labels), _opt(test_observed), _opt(test_ids), "test")
        if test.labels.shape[1] != train.labels.shape[1]:
            raise PartialMLError(
                f"test labels have {test.labels.shape[1]} classes, train labels {train.labels.shape[1]}; expected "
                "the same classes",
                path=test_labels,
            )
        if test.x.shape[1] != train.x.shape[1]:
            raise PartialMLError(
                f"test features have {test.x.shape[1]} columns, train features {train.x.shape[1]}; expected the "
                "same dimension",
                path=test_features,
            )
    num_classes = train.labels.shape[1]
    names = list(class_names) if class_names is not None else default_class_names(num_classes)
    if len(names) != num_classes:
        raise PartialMLError(
            f"{len(names)} class names (class_names.txt or class_names=) for {num_classes} label columns; "
            "expected one name per column",
            path=labels,
        )
    data = FeatureData(
        name=name if name is not None else fpath.stem,
        class_names=names,
        train=train,
        test=test,
        source=str(fpath.parent),
    )
    check_feature_data(data)
    return data


def _opt(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path)


def _if_file(path: Path) -> Path | None:
    return path if path.is_file() else None


def read_npy_dir(path: str | Path) -> FeatureData:
    """Read an npy folder: ``{train,test}_features.npy``, ``{train,test}_labels.npy``, optional
    ``{train,test}_observed.npy``, ``{train,test}_ids.txt`` and ``class_names.txt``.

    Raises:
        PartialMLError: missing ``train_features.npy``/``train_labels.npy``, one of the two test files
            without the other, and every error of :func:`read_npy_pair`.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise PartialMLError(
            "not a folder; expected a folder with train_features.npy and train_labels.npy", path=folder
        )
    for required in ("train_features.npy", "train_labels.npy"):
        if not (folder / required).is_file():
            raise PartialMLError(
                f"has no {required}; expected train_features.npy and train_labels.npy", path=folder
            )
    has_tf, has_tl = (folder / "test_features.npy").is_file(), (folder / "test_labels.npy").is_file()
    if has_tf != has_tl:
        lack = "test_labels.npy" if has_tf else "test_features.npy"
        raise PartialMLError(
            f"has no {lack}; expected test_features.npy and test_labels.npy together", path=folder
        )
    names_file = _if_file(folder / "class_names.txt")
    class_names = read_name_list(names_file, what="class names, one per line") if names_file else None
    kwargs: dict[str, Any] = {}
    if has_tf:
        kwargs = {
            "test_features": folder / "test_features.npy",
            "test_labels": folder / "test_labels.npy",
            "test_observed": _if_file(folder / "test_observed.npy"),
            "test_ids": _if_file(folder / "test_ids.txt"),
        }
    return read_npy_pair(
        folder / "train_features.npy",
        folder / "train_labels.npy",
        observed=_if_file(folder / "train_observed.npy"),
        ids=_if_file(folder / "train_ids.txt"),
        class_names=class_names,
        name=folder.resolve().name,
        **kwargs,
    )
