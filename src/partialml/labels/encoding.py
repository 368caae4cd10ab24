"""The one label encoding of partialml, and its validation.

Every label matrix in the package is an integer array of shape ``(N, C)`` with values

* ``1``  (:data:`POSITIVE`): observed positive,
* ``0``  (:data:`NEGATIVE`): observed negative,
* ``-1`` (:data:`UNKNOWN`): not annotated.

Single-positive data is all ``-1`` except one ``1`` per row. Full labels use only ``1`` and ``0``.
Readers of other formats convert on load (see :mod:`partialml.labels.convert`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch

from partialml.errors import PartialMLError

POSITIVE: Final = 1
NEGATIVE: Final = 0
UNKNOWN: Final = -1
LABEL_DTYPE: Final = np.int8
TORCH_LABEL_DTYPE: Final = torch.int8

#: What every function taking a label matrix accepts: a NumPy array, a tensor or nested sequences.
LabelsLike = np.ndarray | torch.Tensor | Sequence[Any]


def validate_labels(
    labels: LabelsLike,
    *,
    num_classes: int | None = None,
    allow_unknown: bool = True,
    source: str | Path | None = None,
    what: str = "labels",
) -> np.ndarray:
    """Check a label matrix and return it as a C-contiguous ``int8`` NumPy array.

    Args:
        labels: ``(N, C)`` array-like with values in ``{1, 0, -1}``.
        num_classes: the expected ``C``; ``None`` accepts any.
        allow_unknown: ``False`` when the matrix must be full labels (only ``1`` and ``0``).
        source: the file the labels came from, named in error messages.
        what: how to call the matrix in error messages.

    Raises:
        PartialMLError: one line naming ``source`` and what was expected.

    Example:
        >>> validate_labels([[1, -1], [0, 1]]).dtype
        dtype('int8')
    """
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if arr.ndim != 2:
        raise PartialMLError(
            f"{what} must be a 2-d (samples x classes) matrix, got shape {arr.shape}", path=source
        )
    if num_classes is not None and arr.shape[1] != num_classes:
        raise PartialMLError(f"{what} have {arr.shape[1]} classes, expected {num_classes}", path=source)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise PartialMLError(f"{what} contain NaN or infinite values; expected 1, 0 or -1", path=source)
        if not np.array_equal(arr, np.round(arr)):
            raise PartialMLError(f"{what} contain non-integer values; expected 1, 0 or -1", path=source)
    elif arr.dtype.kind not in "iub":
        raise PartialMLError(f"{what} have dtype {arr.dtype}; expected integers 1, 0 or -1", path=source)
    allowed = (POSITIVE, NEGATIVE, UNKNOWN) if allow_unknown else (POSITIVE, NEGATIVE)
    if arr.size == 0 or (arr.dtype.kind in "iu" and min(allowed) <= arr.min() and arr.max() <= max(allowed)):
        # The allowed values are a contiguous integer range: two reductions instead of an isin pass.
        return np.ascontiguousarray(arr, dtype=LABEL_DTYPE)
    bad = ~np.isin(arr, allowed)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        expected = "1, 0 or -1" if allow_unknown else "1 or 0 (full labels)"
        raise PartialMLError(
            f"{what} entry ({row}, {col}) is {arr[row, col].item()!r}; expected {expected}", path=source
        )
    return np.ascontiguousarray(arr, dtype=LABEL_DTYPE)


def row_blocks(num_rows: int, num_cols: int, max_entries: int = 1 << 20) -> list[slice]:
    """Slices of consecutive rows of an ``(num_rows, num_cols)`` matrix holding at most ``max_entries``
    entries each (at least one row): scanning a large label matrix by these blocks makes no ``(N, C)``
    temporary."""
    step = max(1, max_entries // max(num_cols, 1))
    return [slice(a, a + step) for a in range(0, num_rows, step)]
