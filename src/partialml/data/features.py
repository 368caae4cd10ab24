"""The common container of precomputed-feature datasets, its validation, and the format dispatcher.

Every feature reader of :mod:`partialml.data` returns a :class:`FeatureData`: a train split, an optional
test split, the class names and where the data came from. Labels use the one partialml encoding
(``1`` observed positive, ``0`` observed negative, ``-1`` unknown; see :mod:`partialml.labels.encoding`).

Readers build the splits, then call :func:`check_feature_split` on each and :func:`check_feature_data` on
the whole; both raise :class:`~partialml.errors.PartialMLError` with one line that names the file and what
was expected. The checks never copy the features: a memory-mapped ``x`` is scanned for NaN/inf in chunks
of about :data:`FINITE_CHECK_CHUNK_BYTES` bytes.

Example:
    >>> import numpy as np
    >>> split = FeatureSplit(x=np.zeros((2, 3), np.float32), labels=np.array([[1, 0], [0, 1]], np.int8),
    ...                      observed=None, ids=None)
    >>> data = FeatureData(name="toy", class_names=["a", "b"], train=split, test=None, source="memory")
    >>> check_feature_data(data)
    >>> (data.num_classes, data.num_features)
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np

from partialml.errors import PartialMLError
from partialml.labels.encoding import validate_labels

FeatureFormat = Literal["auto", "mulan", "npz", "csv", "npy", "cole"]

#: The formats :func:`load_feature_data` knows, besides ``"auto"``.
FEATURE_FORMATS: Final = ("mulan", "npz", "csv", "npy", "cole")

#: Bytes of features read at a time when scanning for NaN/inf (a memory map is never loaded whole).
FINITE_CHECK_CHUNK_BYTES: Final = 8 << 20


@dataclass
class FeatureSplit:
    """One split (train or test) of a feature dataset.

    Attributes:
        x: ``(N, D)`` float32 features; may be an ``np.memmap`` (readers never copy it into RAM).
        labels: ``(N, C)`` int8 in ``{1, 0, -1}``: the best labels the source has (full labels when known).
        observed: ``(N, C)`` int8 in ``{1, 0, -1}``: the partial labels as annotated, when the source has
            them; ``None`` otherwise.
        ids: ``N`` sample names; ``None`` means samples are named by their 0-based row in the source file.
    """

    x: np.ndarray
    labels: np.ndarray
    observed: np.ndarray | None
    ids: list[str] | None

    @property
    def num_samples(self) -> int:
        """``N``, the number of rows."""
        return int(self.x.shape[0])


@dataclass
class FeatureData:
    """A feature dataset: a train split, an optional test split and the class names.

    Attributes:
        name: a short name (the Mulan dataset name, the file or folder stem).
        class_names: the ``C`` class names, in column order of the label matrices.
        train: the training split.
        test: the test split, or ``None`` when the source has none.
        source: where the data came from (a path), for messages and run records.
    """

    name: str
    class_names: list[str]
    train: FeatureSplit
    test: FeatureSplit | None
    source: str

    @property
    def num_classes(self) -> int:
        """``C``, the number of classes."""
        return len(self.class_names)

    @property
    def num_features(self) -> int:
        """``D``, the feature dimension."""
        return int(self.train.x.shape[1])


def default_class_names(num_classes: int) -> list[str]:
    """Names for classes a source does not name: ``class_0``, ``class_1``, ...

    Example:
        >>> default_class_names(2)
        ['class_0', 'class_1']
    """
    return [f"class_{i}" for i in range(num_classes)]


def check_finite(
    x: np.ndarray,
    *,
    source: str | Path | None,
    what: str = "features",
    chunk_bytes: int = FINITE_CHECK_CHUNK_BYTES,
) -> None:
    """Raise unless every entry of the 2-d array ``x`` is finite, reading it in row chunks.

    A memory-mapped ``x`` is read ``chunk_bytes`` at a time, never loaded whole. The message names the
    0-based row and column of the first NaN or infinite value.

    Raises:
        PartialMLError: ``"<source>: features row 3, column 7 (0-based) is nan; expected finite numbers"``.
    """
    if x.ndim != 2:
        raise PartialMLError(f"{what} must be 2-d (samples x features), got shape {x.shape}", path=source)
    if x.dtype.kind not in "fc":
        return
    row_bytes = max(1, x.shape[1] * x.dtype.itemsize)
    step = max(1, chunk_bytes // row_bytes)
    for start in range(0, x.shape[0], step):
        chunk = np.asarray(x[start : start + step])
        finite = np.isfinite(chunk)
        if not finite.all():
            r, c = (int(i) for i in np.argwhere(~finite)[0])
            raise PartialMLError(
                f"{what} row {start + r}, column {c} (0-based) is {chunk[r, c].item()!r}; expected finite numbers",
                path=source,
            )


def check_unique(names: Sequence[str], *, source: str | Path | None, what: str) -> None:
    """Raise on an empty or repeated name in ``names`` (sample ids, class names)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name == "":
            raise PartialMLError(f"{what} entry {i} is empty; expected a non-empty name", path=source)
        if name in seen:
            raise PartialMLError(
                f"{what} {name!r} appears twice (entries {seen[name]} and {i}); expected unique names",
                path=source,
            )
        seen[name] = i


def check_feature_split(
    split: FeatureSplit, *, source: str | Path | None, num_classes: int | None = None, what: str = "split"
) -> None:
    """Validate one split in place (shapes, dtypes, label values, finiteness, ids).

    Checks: ``x`` is a 2-d float32 array with at least one row and one column; ``labels`` (and
    ``observed`` when given) are ``(N, C)`` int8 in ``{1, 0, -1}`` with the same ``N`` as ``x``; ``C``
    equals ``num_classes`` when given; features are finite (streamed over a memmap); ``ids`` has ``N``
    unique non-empty names.

    Raises:
        PartialMLError: one line naming ``source`` and what was expected.
    """
    x = split.x
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        shape = getattr(x, "shape", None)
        raise PartialMLError(
            f"{what} features must be 2-d (samples x features), got shape {shape}", path=source
        )
    if x.shape[0] == 0:
        raise PartialMLError(f"{what} has no samples; expected at least one row", path=source)
    if x.shape[1] == 0:
        raise PartialMLError(f"{what} has no feature columns; expected at least one", path=source)
    if x.dtype != np.float32:
        raise PartialMLError(f"{what} features have dtype {x.dtype}; expected float32", path=source)
    labels = validate_labels(split.labels, num_classes=num_classes, source=source, what=f"{what} labels")
    if labels.shape[1] == 0:
        raise PartialMLError(f"{what} labels have no classes; expected at least one", path=source)
    if labels.shape[0] != x.shape[0]:
        raise PartialMLError(
            f"{what} features have {x.shape[0]} rows but its labels have {labels.shape[0]}; expected equal",
            path=source,
        )
    split.labels = labels
    if split.observed is not None:
        observed = validate_labels(
            split.observed, num_classes=labels.shape[1], source=source, what=f"{what} observed labels"
        )
        if observed.shape[0] != x.shape[0]:
            raise PartialMLError(
                f"{what} features have {x.shape[0]} rows but its observed labels have {observed.shape[0]}; "
                "expected equal",
                path=source,
            )
        split.observed = observed
    if split.ids is not None:
        if len(split.ids) != x.shape[0]:
            raise PartialMLError(
                f"{what} has {len(split.ids)} sample ids for {x.shape[0]} rows; expected one id per row",
                path=source,
            )
        check_unique(split.ids, source=source, what=f"{what} sample id")
    check_finite(x, source=source, what=f"{what} features")


def check_feature_data(data: FeatureData) -> None:
    """Validate a whole dataset: each split, class names, and train/test agreement.

    Raises:
        PartialMLError: a split fails :func:`check_feature_split`; class names are repeated or their count
            is not the label width; train and test differ in feature dimension or class count.
    """
    check_unique(data.class_names, source=data.source, what="class name")
    check_feature_split(data.train, source=data.source, num_classes=len(data.class_names), what="train")
    if data.test is not None:
        check_feature_split(data.test, source=data.source, num_classes=len(data.class_names), what="test")
        if data.test.x.shape[1] != data.train.x.shape[1]:
            raise PartialMLError(
                f"test features have {data.test.x.shape[1]} columns but train features have "
                f"{data.train.x.shape[1]}; expected the same feature dimension",
                path=data.source,
            )


def detect_format(path: Path) -> Literal["mulan", "npz", "csv", "npy", "cole"]:
    """Guess the format of ``path`` (see :func:`load_feature_data`)."""
    name = path.name.lower()
    if path.is_dir():
        if (path / "formatted_train_labels.npy").is_file():
            return "cole"
        if (path / "train_features.npy").is_file():
            return "npy"
        if any(path.glob("*.xml")):
            return "mulan"
        raise PartialMLError(
            "cannot tell the format of this folder; expected a Mulan folder (NAME.xml + ARFF files), a Cole "
            "folder (formatted_train_labels.npy) or an npy folder (train_features.npy + train_labels.npy)",
            path=path,
        )
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".xml", ".arff", ".arff.gz")):
        return "mulan"
    if not path.exists():
        raise PartialMLError("no such file or folder", path=path)
    raise PartialMLError(
        "cannot tell the format from the name; expected a folder, .npz, .csv, .csv.gz, .xml, .arff or "
        ".arff.gz (or pass format=...)",
        path=path,
    )


def load_feature_data(path: str | Path, *, format: FeatureFormat = "auto") -> FeatureData:
    """Read a feature dataset in any supported format.

    Args:
        path: a file or folder:

            * ``mulan`` (:func:`partialml.data.mulan.read_mulan`): a folder with ``NAME.xml`` and
              ``NAME-train.arff``/``NAME-test.arff`` (or ``.arff.gz``, or a single ``NAME.arff``), or the
              XML or an ARFF file of such a folder;
            * ``npz`` (:func:`partialml.data.arrays.read_npz`): one ``.npz`` archive;
            * ``csv`` (:func:`partialml.data.arrays.read_csv`): one ``.csv``/``.csv.gz`` with a header;
            * ``npy`` (:func:`partialml.data.arrays.read_npy_dir`): a folder with ``train_features.npy``
              (memory mapped) and ``train_labels.npy``, optionally ``test_*``;
            * ``cole`` (:func:`partialml.data.cole.read_cole`): a Cole/LL formatted folder.
        format: one of ``"auto"`` (the default: guessed from the name and the folder's files),
            ``"mulan"``, ``"npz"``, ``"csv"``, ``"npy"``, ``"cole"``.

    Raises:
        PartialMLError: unknown format, missing or malformed files (one line naming the file).
    """
    p = Path(path)
    if format == "auto":
        fmt = detect_format(p)
    elif format in FEATURE_FORMATS:
        fmt = format
    else:
        raise PartialMLError(
            f"unknown feature format {format!r}; expected one of auto, {', '.join(FEATURE_FORMATS)}"
        )
    if not p.exists():
        raise PartialMLError(f"no such file or folder; expected {fmt} data", path=p)
    if fmt == "mulan":
        from partialml.data.mulan import read_mulan

        return read_mulan(p)
    if fmt == "npz":
        from partialml.data.arrays import read_npz

        return read_npz(p)
    if fmt == "csv":
        from partialml.data.arrays import read_csv

        return read_csv(p)
    if fmt == "npy":
        from partialml.data.arrays import read_npy_dir

        return read_npy_dir(p)
    from partialml.data.cole import read_cole

    return read_cole(p)
