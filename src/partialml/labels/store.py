"""``LabelStore``: where the training labels live.

Datasets return ``(input, sample_index)``; the trainer reads ``targets = store[indices]``, a ``(B, C)`` int8
tensor in the partialml encoding (``1`` observed positive, ``0`` observed negative, ``-1`` unknown). The
store holds

* the **observed** labels (what the loss sees),
* optional **full** labels (``1``/``0``; for oracle baselines, clean validation and analyses),
* the **corrections** that LL-Cp (Kim et al., CVPR 2022) writes: unknown entries turned into positives,
  kept as an overlay so that they can be listed, counted and checkpointed.

Storage. Each label matrix is immutable and kept either

* ``"dense"``: an ``(N, C)`` int8 array (the fast path for small data, at most ``DENSE_MAX_ENTRIES``
  entries under ``layout="auto"``), or
* ``"csr"``: compressed sparse rows of the entries that differ from a per-matrix ``default`` value
  (``indptr`` int64 ``(N + 1,)``, column ``indices`` in the smallest integer dtype that holds ``C - 1``:
  uint8, int16 or int32, and int8 ``values``). The default is chosen automatically as the most frequent
  value (``-1`` for sparse annotations, ``0`` for full labels with rare positives) or given.

  2,000,000 x 5,000 labels with 1 % annotated take 8 B x 2 M + (2 + 1) B x 100 M ~ 0.32 GB.

Corrections are sorted flat keys ``row * C + col`` (int64) plus a small sorted pending buffer that is
merged into the main array when it grows past ``_PENDING_MAX`` keys (a linear merge), so writing a
batch of corrections costs ``O(pending)``, not ``O(all corrections)``; lookups reach the main array
through a per-row offset table rebuilt after each merge. Both layouts give identical results (tested).

Measured (``benchmarks/label_store.py``, 2-core CPU): 2,000,000 x 5,000 with 1 % annotated holds
0.315 GB of arrays, and a 256-row lookup takes 0.44 ms. With 2.5 M corrections on 200,000 x 5,000,
writing LL-Cp's 1,280 corrections of a 256 x 5,000 batch takes about 1.2 ms.

Processes and threads. The store lives in the **main process**: DataLoader workers only return indices,
and the trainer looks labels up (and writes corrections) in the training loop. It is not thread-safe
for concurrent writes. Under DDP every rank holds its own copy; corrections made on one rank reach the
others only if the trainer gathers them (``corrections()`` / ``apply_corrections``) - the engine's job.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch

from partialml.errors import PartialMLError
from partialml.labels.encoding import (
    LABEL_DTYPE,
    NEGATIVE,
    POSITIVE,
    UNKNOWN,
    LabelsLike,
    row_blocks,
    validate_labels,
)

Layout = Literal["auto", "dense", "csr"]
IndexLike = torch.Tensor | np.ndarray | Sequence[int] | slice

#: Under ``layout="auto"`` a matrix with at most this many entries (16 MiB as int8) is stored dense.
DENSE_MAX_ENTRIES = 1 << 24
#: Entries processed at a time by statistics and checks over CSR matrices (bounds temporary memory).
_CHUNK_ENTRIES = 1 << 22
#: Pending corrections merged into the main sorted array once there are more than this many.
_PENDING_MAX = 1 << 16
STATE_FORMAT = "partialml.LabelStore"
STATE_VERSION = 1
_EMPTY_KEYS = np.zeros(0, dtype=np.int64)


# -- small array helpers -----------------------------------------------------------------------------------


def _index_dtype(num_classes: int) -> np.dtype:
    """The smallest integer dtype (that torch also supports) holding column indices ``0 .. C-1``."""
    if num_classes <= 1 << 8:
        return np.dtype(np.uint8)
    if num_classes <= 1 << 15:
        return np.dtype(np.int16)
    return np.dtype(np.int32)


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat positions ``starts[j] + 0 .. lengths[j]-1`` for every ``j``, concatenated (int64)."""
    total = int(lengths.sum())
    if total == 0:
        return _EMPTY_KEYS
    shift = starts - (np.cumsum(lengths) - lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Merge two sorted int64 arrays with no common element, in ``O(len(a) + len(b) log len(a))``."""
    if b.size == 0:
        return a
    if a.size == 0:
        return b
    out = np.empty(a.size + b.size, dtype=np.int64)
    at = np.searchsorted(a, b) + np.arange(b.size)
    from_a = np.ones(out.size, dtype=bool)
    from_a[at] = False
    out[at] = b
    out[from_a] = a
    return out


def _first_not_increasing(rows: np.ndarray, cols: np.ndarray) -> int | None:
    """First ``i`` with ``(rows[i+1], cols[i+1]) <= (rows[i], cols[i])`` lexicographically, else None."""
    n = rows.size
    for a in range(0, max(n - 1, 0), _CHUNK_ENTRIES):
        b = min(a + _CHUNK_ENTRIES + 1, n)
        dr = np.diff(rows[a:b].astype(np.int64))
        dc = np.diff(cols[a:b].astype(np.int64))
        bad = np.flatnonzero((dr < 0) | ((dr == 0) & (dc <= 0)))
        if bad.size:
            return a + int(bad[0])
    return None


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_int_vector(x: Any, what: str, *, allow_bool: bool = False) -> np.ndarray:
    arr = _to_numpy(x)
    if arr.ndim != 1:
        raise PartialMLError(f"{what} must be a 1-d array, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    kind = arr.dtype.kind
    if kind == "b" and allow_bool:
        return arr.astype(np.int8)
    if kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise PartialMLError(f"{what} contain non-integer values")
        return arr.astype(np.int64)
    if kind not in "iu":
        raise PartialMLError(f"{what} have dtype {arr.dtype}; expected integers")
    return arr


def _most_common(arr: np.ndarray) -> int:
    """The most frequent of ``-1, 0, 1`` in ``(N, C)`` ``arr`` (ties: that order), by row blocks."""
    counts = [0, 0, 0]
    for s in row_blocks(arr.shape[0], arr.shape[1], _CHUNK_ENTRIES):
        block = arr[s]
        for i, v in enumerate((UNKNOWN, NEGATIVE, POSITIVE)):
            counts[i] += int(np.count_nonzero(block == v))
    return max(zip(counts, (UNKNOWN, NEGATIVE, POSITIVE), strict=True), key=lambda cv: cv[0])[1]


def _check_default(default: Any, allowed: tuple[int, ...], what: str) -> int:
    if isinstance(default, bool) or not isinstance(default, int | np.integer) or int(default) not in allowed:
        raise PartialMLError(f"{what} default must be one of {', '.join(map(str, allowed))}, got {default!r}")
    return int(default)


# -- one immutable label matrix ----------------------------------------------------------------------------


class _LabelMatrix:
    """An immutable ``(N, C)`` int8 label matrix, dense or CSR (entries different from ``default``)."""

    def __init__(
        self,
        num_rows: int,
        num_cols: int,
        *,
        default: int,
        dense: np.ndarray | None = None,
        indptr: np.ndarray | None = None,
        indices: np.ndarray | None = None,
        values: np.ndarray | None = None,
    ) -> None:
        self.num_rows = num_rows
        self.num_cols = num_cols
        self.default = default
        self.dense = dense
        self.indptr = indptr
        self.indices = indices
        self.values = values

    @property
    def layout(self) -> Literal["dense", "csr"]:
        return "dense" if self.dense is not None else "csr"

    @staticmethod
    def resolve_layout(layout: str, num_rows: int, num_cols: int) -> Literal["dense", "csr"]:
        if layout == "auto":
            return "dense" if num_rows * num_cols <= DENSE_MAX_ENTRIES else "csr"
        if layout in ("dense", "csr"):
            return "dense" if layout == "dense" else "csr"
        raise PartialMLError(f"unknown layout {layout!r}; expected 'auto', 'dense' or 'csr'")

    @classmethod
    def from_dense(
        cls, arr: np.ndarray, *, layout: str, default: int | None = None, copy: bool = True
    ) -> _LabelMatrix:
        """``arr``: a validated C-contiguous int8 ``(N, C)`` matrix, copied for the dense layout unless
        ``copy=False`` (then the matrix keeps ``arr`` itself and the caller must not change it)."""
        n, c = arr.shape
        default = _most_common(arr) if default is None else default
        if cls.resolve_layout(layout, n, c) == "dense":
            return cls(n, c, default=default, dense=arr.copy() if copy else arr)
        mask = arr != default
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(mask.sum(axis=1, dtype=np.int64), out=indptr[1:])
        _, cols = np.nonzero(mask)
        return cls(
            n,
            c,
            default=default,
            indptr=indptr,
            indices=cols.astype(_index_dtype(c)),
            values=np.ascontiguousarray(arr[mask], dtype=LABEL_DTYPE),
        )

    @classmethod
    def from_entries(
        cls,
        num_rows: int,
        num_cols: int,
        rows: np.ndarray,
        cols: np.ndarray,
        values: np.ndarray,
        *,
        default: int,
        layout: str,
    ) -> _LabelMatrix:
        """Entries sorted strictly by ``(row, col)``, in range, with values ``!= default``."""
        if cls.resolve_layout(layout, num_rows, num_cols) == "dense":
            arr = np.full((num_rows, num_cols), default, dtype=LABEL_DTYPE)
            arr[rows.astype(np.int64), cols.astype(np.int64)] = values
            return cls(num_rows, num_cols, default=default, dense=arr)
        if rows.size and num_rows + 1 > np.iinfo(rows.dtype).max:
            rows = rows.astype(np.int64)
        bounds = np.arange(num_rows + 1, dtype=rows.dtype if rows.size else np.int64)
        indptr = np.searchsorted(rows, bounds, side="left").astype(np.int64)
        return cls(
            num_rows,
            num_cols,
            default=default,
            indptr=indptr,
            indices=np.ascontiguousarray(cols, dtype=_index_dtype(num_cols)),
            values=np.ascontiguousarray(values, dtype=LABEL_DTYPE),
        )

    # -- reading ---------------------------------------------------------------------------------------

    @property
    def nnz(self) -> int:
        """Entries stored explicitly (CSR), or ``N * C`` for a dense matrix."""
        if self.dense is not None:
            return int(self.dense.size)
        assert self.values is not None
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        arrays = (self.dense, self.indptr, self.indices, self.values)
        return int(sum(a.nbytes for a in arrays if a is not None))

    def _csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self.indptr is not None and self.indices is not None and self.values is not None
        return self.indptr, self.indices, self.values

    def take_rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (int64, in range) as a new ``(B, C)`` int8 array."""
        if self.dense is not None:
            return self.dense[idx]
        indptr, indices, values = self._csr()
        out = np.full((idx.size, self.num_cols), self.default, dtype=LABEL_DTYPE)
        starts = indptr[idx]
        lengths = indptr[idx + 1] - starts
        pos = _segments(starts, lengths)
        if pos.size:  # flat positions row * C + col: one fancy assignment into the flat view
            flat = np.repeat(np.arange(0, idx.size * self.num_cols, self.num_cols), lengths) + indices[pos]
            out.reshape(-1)[flat] = values[pos]
        return out

    def row_blocks(self, rows_per_block: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start_row, dense block)`` over all rows, about ``_CHUNK_ENTRIES`` entries per block."""
        step = rows_per_block or max(1, _CHUNK_ENTRIES // max(self.num_cols, 1))
        for start in range(0, self.num_rows, step):
            stop = min(start + step, self.num_rows)
            if self.dense is not None:
                yield start, self.dense[start:stop]
            else:
                yield start, self.take_rows(np.arange(start, stop, dtype=np.int64))

    def to_dense(self) -> np.ndarray:
        if self.dense is not None:
            return self.dense.copy()
        return self.take_rows(np.arange(self.num_rows, dtype=np.int64))

    def entries(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Explicit CSR entries ``(rows int64, cols int64, values int8)`` in chunks, sorted by (row, col)."""
        indptr, indices, values = self._csr()
        for a in range(0, values.size, _CHUNK_ENTRIES):
            b = min(a + _CHUNK_ENTRIES, values.size)
            rows = np.searchsorted(indptr, np.arange(a, b, dtype=np.int64), side="right") - 1
            yield rows, indices[a:b].astype(np.int64), values[a:b]

    def values_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Values at the entries ``(rows[i], cols[i])`` (int64 arrays, in range), int8."""
        if self.dense is not None:
            return self.dense[rows, cols]
        indptr, indices, values = self._csr()
        out = np.empty(rows.size, dtype=LABEL_DTYPE)
        order = np.argsort(rows * self.num_cols + cols, kind="stable")
        step = 1 << 16
        for a in range(0, order.size, step):
            sel = order[a : a + step]
            q_rows, q_cols = rows[sel], cols[sel]
            uniq = np.unique(q_rows)
            starts = indptr[uniq]
            lengths = indptr[uniq + 1] - starts
            pos = _segments(starts, lengths)
            ekeys = np.repeat(uniq, lengths) * self.num_cols + indices[pos].astype(np.int64)
            qkeys = q_rows * self.num_cols + q_cols
            j = np.searchsorted(ekeys, qkeys)
            jc = np.minimum(j, max(ekeys.size - 1, 0))
            found = (j < ekeys.size) & (ekeys[jc] == qkeys) if ekeys.size else np.zeros(sel.size, dtype=bool)
            out[sel] = np.where(found, values[pos[jc]] if pos.size else self.default, self.default)
        return out

    def count_per_class(self, value: int) -> np.ndarray:
        """``(C,)`` int64: how many rows hold ``value`` in each column."""
        if self.dense is not None:
            return np.count_nonzero(self.dense == value, axis=0).astype(np.int64)
        _, indices, values = self._csr()
        counts = np.zeros(self.num_cols, dtype=np.int64)
        for a in range(0, values.size, _CHUNK_ENTRIES):
            ind = indices[a : a + _CHUNK_ENTRIES]
            if value != self.default:
                ind = ind[values[a : a + _CHUNK_ENTRIES] == value]
            counts += np.bincount(ind, minlength=self.num_cols)
        return self.num_rows - counts if value == self.default else counts

    def count_per_row(self, value: int) -> np.ndarray:
        """``(N,)`` int64: how many columns hold ``value`` in each row."""
        if self.dense is not None:
            return np.count_nonzero(self.dense == value, axis=1).astype(np.int64)
        indptr, _, values = self._csr()
        if value == self.default:
            return self.num_cols - np.diff(indptr)
        out = np.zeros(self.num_rows, dtype=np.int64)
        r0 = 0
        while r0 < self.num_rows:
            r1 = int(np.searchsorted(indptr, indptr[r0] + _CHUNK_ENTRIES, side="right")) - 1
            r1 = min(max(r1, r0 + 1), self.num_rows)
            a, b = int(indptr[r0]), int(indptr[r1])
            cum = np.zeros(b - a + 1, dtype=np.int64)
            np.cumsum(values[a:b] == value, out=cum[1:])
            local = indptr[r0 : r1 + 1] - a
            out[r0:r1] = cum[local[1:]] - cum[local[:-1]]
            r0 = r1
        return out

    # -- state -----------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        if self.dense is not None:
            return {"layout": "dense", "default": self.default, "data": torch.from_numpy(self.dense)}
        indptr, indices, values = self._csr()
        return {
            "layout": "csr",
            "default": self.default,
            "indptr": torch.from_numpy(indptr),
            "indices": torch.from_numpy(indices),
            "values": torch.from_numpy(values),
        }

    @classmethod
    def from_state(cls, state: Any, num_rows: int, num_cols: int, *, what: str, full: bool) -> _LabelMatrix:
        err = f"label store state: {what}"
        if not isinstance(state, dict) or "layout" not in state or "default" not in state:
            raise PartialMLError(f"{err} must be a dict with 'layout' and 'default'")
        allowed = (NEGATIVE, POSITIVE) if full else (UNKNOWN, NEGATIVE, POSITIVE)
        default = _check_default(state["default"], allowed, err)

        def array(key: str) -> np.ndarray:
            value = state.get(key)
            if not isinstance(value, torch.Tensor):
                raise PartialMLError(f"{err}: '{key}' must be a tensor, got {type(value).__name__}")
            return np.ascontiguousarray(value.detach().cpu().numpy())

        if state["layout"] == "dense":
            data = array("data")
            if data.shape != (num_rows, num_cols):
                raise PartialMLError(f"{err} has shape {data.shape}, expected {(num_rows, num_cols)}")
            dense = validate_labels(data, allow_unknown=not full, what=err)
            return cls(num_rows, num_cols, default=default, dense=dense)
        if state["layout"] != "csr":
            raise PartialMLError(f"{err} layout {state['layout']!r}; expected 'dense' or 'csr'")
        indptr, indices, values = array("indptr"), array("indices"), array("values")
        if indptr.shape != (num_rows + 1,) or indptr.dtype != np.int64:
            raise PartialMLError(f"{err} indptr must be int64 of shape ({num_rows + 1},), got {indptr.shape}")
        if indices.ndim != 1 or values.ndim != 1 or indices.size != values.size:
            raise PartialMLError(f"{err} indices and values must be 1-d arrays of the same length")
        if indptr[0] != 0 or indptr[-1] != values.size or (np.diff(indptr) < 0).any():
            raise PartialMLError(f"{err} indptr must rise from 0 to {values.size}")
        if indices.dtype.kind not in "iu" or values.dtype != LABEL_DTYPE:
            raise PartialMLError(f"{err} indices must be integers and values int8")
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= num_cols):
            raise PartialMLError(f"{err} column index out of range 0..{num_cols - 1}")
        if (~np.isin(values, allowed)).any() or (values == default).any():
            raise PartialMLError(f"{err} values must be in {allowed} and differ from the default {default}")
        matrix = cls(
            num_rows,
            num_cols,
            default=default,
            indptr=indptr,
            indices=indices.astype(_index_dtype(num_cols)),
            values=values,
        )
        for rows, cols, _ in matrix.entries():
            if _first_not_increasing(rows, cols) is not None:
                raise PartialMLError(f"{err} columns are not strictly increasing within rows")
        return matrix


def _check_agreement(observed: _LabelMatrix, full: _LabelMatrix) -> None:
    """Raise unless every observed ``1``/``0`` equals the full label at the same entry."""

    def fail(row: int, col: int, obs: int, ful: int) -> None:
        raise PartialMLError(
            f"observed label ({row}, {col}) is {obs} but the full label is {ful}; "
            "observed positives and negatives must agree with the full labels"
        )

    sparse_ok = observed.layout == "csr" and full.layout == "csr"
    if sparse_ok and observed.default in (UNKNOWN, full.default):
        for rows, cols, vals in observed.entries():  # explicit observed entries
            known = vals != UNKNOWN
            fvals = full.values_at(rows[known], cols[known])
            bad = np.flatnonzero(fvals != vals[known])
            if bad.size:
                i = bad[0]
                fail(int(rows[known][i]), int(cols[known][i]), int(vals[known][i]), int(fvals[i]))
        if observed.default != UNKNOWN:  # implicit observed entries equal full.default: check full's explicit
            for rows, cols, fvals in full.entries():
                ovals = observed.values_at(rows, cols)
                bad = np.flatnonzero(ovals == observed.default)
                if bad.size:
                    i = bad[0]
                    fail(int(rows[i]), int(cols[i]), int(ovals[i]), int(fvals[i]))
        return
    full_blocks = full.row_blocks()
    for start, obs in observed.row_blocks():
        _, ful = next(full_blocks)
        wrong = np.argwhere((obs != UNKNOWN) & (obs != ful))
        if wrong.size:
            r, c = (int(v) for v in wrong[0])
            fail(start + r, c, int(obs[r, c]), int(ful[r, c]))


# -- the corrections overlay -------------------------------------------------------------------------------


class _Corrections:
    """Sorted flat keys ``row * C + col`` of the entries LL-Cp turned positive, plus a pending buffer.

    Lookups find a row's corrections in the main array through a per-row offset table (built lazily
    after each merge, ``O(N + K)``), and in the small pending array by binary search.
    """

    def __init__(self, num_rows: int, num_cols: int, keys: np.ndarray | None = None) -> None:
        self.num_rows = num_rows
        self.num_cols = num_cols
        self.main = _EMPTY_KEYS if keys is None else keys
        self.pending = _EMPTY_KEYS
        self._main_indptr: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.main.size + self.pending.size)

    @property
    def nbytes(self) -> int:
        table = 0 if self._main_indptr is None else self._main_indptr.nbytes
        return int(self.main.nbytes + self.pending.nbytes + table)

    def add(self, keys: np.ndarray) -> None:
        """``keys``: sorted, unique, none already present."""
        self.pending = _merge_sorted(self.pending, keys)
        if self.pending.size > _PENDING_MAX:
            self.flush()

    def flush(self) -> None:
        if self.pending.size:
            self.main = _merge_sorted(self.main, self.pending)
            self.pending = _EMPTY_KEYS
            self._main_indptr = None

    def keys(self) -> np.ndarray:
        self.flush()
        return self.main

    def _indptr(self) -> np.ndarray:
        if self._main_indptr is None:
            table = np.zeros(self.num_rows + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.main // self.num_cols, minlength=self.num_rows), out=table[1:])
            self._main_indptr = table
        return self._main_indptr

    def flat_positions(self, idx: np.ndarray) -> list[np.ndarray]:
        """Positions ``b * C + col`` in a ``(B, C)`` batch of rows ``idx`` of the corrected entries."""
        found = []
        starts = idx * self.num_cols
        shift = np.arange(idx.size, dtype=np.int64) * self.num_cols - starts  # key -> batch position
        if self.main.size:
            table = self._indptr()
            lo = table[idx]
            lengths = table[idx + 1] - lo
            pos = _segments(lo, lengths)
            if pos.size:
                found.append(self.main[pos] + np.repeat(shift, lengths))
        if self.pending.size:
            lo = np.searchsorted(self.pending, starts)
            lengths = np.searchsorted(self.pending, starts + self.num_cols) - lo
            pos = _segments(lo, lengths)
            if pos.size:
                found.append(self.pending[pos] + np.repeat(shift, lengths))
        return found


# -- the store ---------------------------------------------------------------------------------------------


class LabelStore:
    """Observed labels, optional full labels and LL-Cp corrections for ``N`` samples and ``C`` classes.

    Build it with :meth:`from_dense`, :meth:`from_sparse` or :meth:`from_state_dict` (the constructor only
    stores already-validated parts). Lookups return CPU ``torch.int8`` tensors; move them to the device
    in the training loop.

    Example:
        >>> store = LabelStore.from_dense([[1, -1, -1], [-1, 0, 1]])
        >>> store[[1]].tolist()
        [[-1, 0, 1]]
        >>> store.apply_corrections([0], torch.tensor([[True, True, False]]))
        1
        >>> store[[0]].tolist()
        [[1, 1, -1]]
    """

    def __init__(
        self,
        observed: _LabelMatrix,
        *,
        full: _LabelMatrix | None,
        class_names: list[str],
        corrections: np.ndarray | None = None,
    ) -> None:
        self._observed = observed
        self._full = full
        self._class_names = class_names
        self._corrections = _Corrections(observed.num_rows, observed.num_cols, corrections)

    # -- construction ----------------------------------------------------------------------------------

    @classmethod
    def from_dense(
        cls,
        observed: LabelsLike,
        *,
        full: LabelsLike | None = None,
        class_names: Sequence[str] | None = None,
        layout: Layout = "auto",
        copy: bool = True,
    ) -> LabelStore:
        """A store from an ``(N, C)`` observed matrix in ``{1, 0, -1}``.

        Args:
            observed: ``(N, C)`` observed labels (any integer/float array or tensor with those values).
            full: optional ``(N, C)`` full labels in ``{1, 0}``; must agree with ``observed`` wherever
                ``observed`` is not ``-1``.
            class_names: ``C`` unique names; default ``class_0 .. class_{C-1}``.
            layout: ``"auto"`` (dense up to :data:`DENSE_MAX_ENTRIES` entries, else CSR), ``"dense"``
                or ``"csr"``; the results are identical.
            copy: ``True`` (default): a dense store holds its own copies. ``False``: C-contiguous int8
                arrays are kept as they are, without a copy (for a caller that built them for the
                store and will not change them; the trainer's training-row subsets), so one
                ``(N, C)`` int8 matrix per label set is held instead of two.

        Raises:
            PartialMLError: invalid values or shapes, or full labels that contradict the observed ones.
        """
        obs = validate_labels(observed, what="observed labels")
        n, c = obs.shape
        obs_matrix = _LabelMatrix.from_dense(obs, layout=layout, copy=copy)
        full_matrix = None
        if full is not None:
            ful = validate_labels(full, num_classes=c, allow_unknown=False, what="full labels")
            if ful.shape[0] != n:
                raise PartialMLError(f"full labels have {ful.shape[0]} samples, observed labels {n}")
            full_matrix = _LabelMatrix.from_dense(ful, layout=layout, copy=copy)
            _check_agreement(obs_matrix, full_matrix)
        return cls(obs_matrix, full=full_matrix, class_names=_class_names(class_names, c))

    @classmethod
    def from_sparse(
        cls,
        num_samples: int,
        num_classes: int,
        rows: LabelsLike,
        cols: LabelsLike,
        values: LabelsLike,
        *,
        default: int = UNKNOWN,
        full: LabelsLike | tuple[LabelsLike, LabelsLike] | None = None,
        class_names: Sequence[str] | None = None,
        layout: Layout = "auto",
    ) -> LabelStore:
        """A store from the entries ``(rows[i], cols[i]) = values[i]``; every other entry is ``default``.

        For huge data: nothing dense is built under the CSR layout, entries already sorted by
        ``(row, col)`` are not re-sorted, and ``rows`` may be any integer dtype (int32 halves the input).

        Args:
            num_samples, num_classes: ``N`` and ``C``.
            rows, cols, values: 1-d arrays of equal length; values in ``{1, 0, -1}``. An entry may
                appear once. Entries equal to ``default`` are dropped.
            default: the value of unlisted entries: ``-1`` (sparse annotations, the default) or ``0``
                (full labels where positives are rare), or ``1``.
            full: optional full labels, a dense ``(N, C)`` ``0``/``1`` matrix or a tuple
                ``(rows, cols)`` of the positive entries (all others negative).
            class_names, layout: as in :meth:`from_dense`.
        """
        n, c = _check_shape(num_samples, num_classes)
        default = _check_default(default, (UNKNOWN, NEGATIVE, POSITIVE), "observed labels")
        obs_matrix = _matrix_from_entries(n, c, rows, cols, values, default=default, layout=layout, what="")
        full_matrix = None
        if isinstance(full, tuple):
            if len(full) != 2:
                raise PartialMLError("full labels as a tuple must be (rows, cols) of the positive entries")
            f_rows = _as_int_vector(full[0], "full label rows")
            ones = np.ones(f_rows.size, dtype=LABEL_DTYPE)
            full_matrix = _matrix_from_entries(
                n, c, f_rows, full[1], ones, default=NEGATIVE, layout=layout, what="full label "
            )
        elif full is not None:
            ful = validate_labels(full, num_classes=c, allow_unknown=False, what="full labels")
            if ful.shape[0] != n:
                raise PartialMLError(f"full labels have {ful.shape[0]} samples, expected {n}")
            full_matrix = _LabelMatrix.from_dense(ful, layout=layout)
        if full_matrix is not None:
            _check_agreement(obs_matrix, full_matrix)
        return cls(obs_matrix, full=full_matrix, class_names=_class_names(class_names, c))

    # -- shape -----------------------------------------------------------------------------------------

    @property
    def num_samples(self) -> int:
        return self._observed.num_rows

    @property
    def num_classes(self) -> int:
        return self._observed.num_cols

    def __len__(self) -> int:
        return self.num_samples

    @property
    def class_names(self) -> list[str]:
        return list(self._class_names)

    @property
    def has_full(self) -> bool:
        return self._full is not None

    @property
    def layout(self) -> Literal["dense", "csr"]:
        """How the observed labels are stored."""
        return self._observed.layout

    @property
    def default(self) -> int:
        """The value of the observed entries a CSR matrix does not list."""
        return self._observed.default

    @property
    def nbytes(self) -> int:
        """Bytes held in arrays: observed + full labels + corrections."""
        full = 0 if self._full is None else self._full.nbytes
        return self._observed.nbytes + full + self._corrections.nbytes

    def __repr__(self) -> str:
        return (
            f"LabelStore(num_samples={self.num_samples}, num_classes={self.num_classes}, layout={self.layout!r}, "
            f"has_full={self.has_full}, num_corrections={self.num_corrections})"
        )

    # -- lookups ---------------------------------------------------------------------------------------

    def _indices(self, indices: IndexLike) -> np.ndarray:
        n = self.num_samples
        if isinstance(indices, slice):
            return np.arange(n, dtype=np.int64)[indices]
        arr = _to_numpy(indices)
        if arr.ndim != 1:
            raise TypeError(
                f"sample indices must be 1-d (a tensor, array, list or slice), got shape {arr.shape}"
            )
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"sample indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n:
            raise IndexError(f"sample index {lo if lo < 0 else hi} out of range for {n} samples")
        return arr

    def _observed_rows(self, idx: np.ndarray) -> np.ndarray:
        out = self._observed.take_rows(idx)
        if len(self._corrections):
            flat = out.reshape(-1)
            for positions in self._corrections.flat_positions(idx):
                flat[positions] = POSITIVE
        return out

    def observed(self, indices: IndexLike) -> torch.Tensor:
        """Observed labels of ``indices`` with corrections applied: ``(B, C)`` int8 CPU tensor.

        ``indices``: a 1-d integer tensor, NumPy array or list, or a slice; repeats are allowed.
        """
        return torch.from_numpy(self._observed_rows(self._indices(indices)))

    __getitem__ = observed

    def full(self, indices: IndexLike) -> torch.Tensor:
        """Full labels of ``indices``: ``(B, C)`` int8 CPU tensor in ``{1, 0}``."""
        return torch.from_numpy(self._require_full().take_rows(self._indices(indices)))

    def _require_full(self) -> _LabelMatrix:
        if self._full is None:
            raise PartialMLError("this label store has no full labels (build it with full=...)")
        return self._full

    def to_dense(self, *, full: bool = False) -> torch.Tensor:
        """All labels as an ``(N, C)`` int8 tensor (observed with corrections, or ``full=True``)."""
        if full:
            return torch.from_numpy(self._require_full().to_dense())
        out = self._observed.to_dense()
        keys = self._corrections.keys()
        out.reshape(-1)[keys] = POSITIVE
        return torch.from_numpy(out)

    # -- corrections -----------------------------------------------------------------------------------

    def apply_corrections(self, indices: IndexLike, mask: LabelsLike) -> int:
        """Write ``1`` (LL-Cp's permanent correction) where ``mask`` is true and the entry is unknown.

        Args:
            indices: ``(B,)`` sample indices of the batch.
            mask: ``(B, C)`` bool; entries that are observed ``1``/``0`` (or already corrected) are left
                unchanged.

        Returns:
            How many entries were newly written (a sample repeated in the batch counts once).
        """
        idx = self._indices(indices)
        arr = _to_numpy(mask)
        if arr.shape != (idx.size, self.num_classes):
            raise ValueError(
                f"correction mask has shape {arr.shape}, expected {(idx.size, self.num_classes)}"
            )
        if arr.dtype != np.bool_:
            raise TypeError(f"correction mask must be bool, got dtype {arr.dtype}")
        flat = np.flatnonzero(arr)  # positions b * C + c; the mask is sparse in practice
        if flat.size == 0:
            return 0
        flat = flat[self._observed_rows(idx).reshape(-1)[flat] == UNKNOWN]
        if flat.size == 0:
            return 0
        b, c = np.divmod(flat, self.num_classes)
        keys = np.unique(idx[b] * self.num_classes + c)
        self._corrections.add(keys)
        return int(keys.size)

    @property
    def num_corrections(self) -> int:
        return len(self._corrections)

    def corrections(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, cols)`` int64 tensors of every corrected entry, sorted by row then column."""
        keys = self._corrections.keys()
        return torch.from_numpy(keys // self.num_classes), torch.from_numpy(keys % self.num_classes)

    # -- statistics ------------------------------------------------------------------------------------

    def _matrix(self, full: bool) -> _LabelMatrix:
        return self._require_full() if full else self._observed

    def _corrected_per_class(self) -> np.ndarray:
        return np.bincount(self._corrections.keys() % self.num_classes, minlength=self.num_classes)

    def positives_per_class(self, *, full: bool = False, corrections: bool = True) -> torch.Tensor:
        """``(C,)`` int64: positives per class (observed, with LL-Cp's corrections unless
        ``corrections=False``; or full)."""
        counts = self._matrix(full).count_per_class(POSITIVE)
        if not full and corrections:
            counts = counts + self._corrected_per_class()
        return torch.from_numpy(counts)

    def negatives_per_class(self, *, full: bool = False) -> torch.Tensor:
        """``(C,)`` int64: observed (or full) negatives per class."""
        return torch.from_numpy(self._matrix(full).count_per_class(NEGATIVE))

    def unknown_per_class(self, *, full: bool = False) -> torch.Tensor:
        """``(C,)`` int64: unknown entries per class after corrections (all zero for full labels)."""
        counts = self._matrix(full).count_per_class(UNKNOWN)
        if not full:
            counts = counts - self._corrected_per_class()
        return torch.from_numpy(counts)

    def positives_per_sample(self, *, full: bool = False) -> torch.Tensor:
        """``(N,)`` int64: positives per sample (observed with corrections, or full)."""
        counts = self._matrix(full).count_per_row(POSITIVE)
        if not full:
            counts = counts + np.bincount(
                self._corrections.keys() // self.num_classes, minlength=self.num_samples
            )
        return torch.from_numpy(counts)

    def class_prior(self, *, full: bool = False) -> torch.Tensor:
        """``(C,)`` float64: positives per class divided by ``N`` (``rho_k`` in LTML, Guo & Wang 2021)."""
        return self.positives_per_class(full=full).double() / max(self.num_samples, 1)

    def expected_positives(self, *, full: bool = False) -> float:
        """Mean positives per sample (label cardinality; EPR's ``k`` when computed on full labels)."""
        return float(self.positives_per_class(full=full).sum()) / max(self.num_samples, 1)

    def summary(self) -> dict[str, Any]:
        """Plain numbers for reports (JSON-serializable)."""
        n, c = self.num_samples, self.num_classes
        pos = self.positives_per_class()
        neg = self.negatives_per_class()
        out: dict[str, Any] = {
            "num_samples": n,
            "num_classes": c,
            "layout": self.layout,
            "default": self.default,
            "stored_entries": self._observed.nnz,
            "nbytes": self.nbytes,
            "positives": int(pos.sum()),
            "negatives": int(neg.sum()),
            "unknown": int(n * c - pos.sum() - neg.sum()),
            "annotated_fraction": float(pos.sum() + neg.sum()) / max(n * c, 1),
            "positives_per_sample": float(pos.sum()) / max(n, 1),
            "classes_without_positive": int((pos == 0).sum()),
            "num_corrections": self.num_corrections,
            "has_full": self.has_full,
        }
        if self._full is not None:
            full_pos = self.positives_per_class(full=True)
            out["full_positives"] = int(full_pos.sum())
            out["full_positives_per_sample"] = float(full_pos.sum()) / max(n, 1)
            out["full_classes_without_positive"] = int((full_pos == 0).sum())
        return out

    # -- checkpointing ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only (``torch.load(..., weights_only=True)`` reads it back).

        The tensors share memory with the store; the store never writes into them.
        """
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "num_samples": self.num_samples,
            "num_classes": self.num_classes,
            "class_names": list(self._class_names),
            "observed": self._observed.state(),
            "full": None if self._full is None else self._full.state(),
            "corrections": torch.from_numpy(self._corrections.keys()),
        }

    @classmethod
    def from_state_dict(cls, state: Any) -> LabelStore:
        """Rebuild a store from :meth:`state_dict`'s output, checking every part.

        The CSR arrays share memory with ``state``'s tensors (no copy of a large store): do not modify
        them afterwards.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise PartialMLError(f"label store state: not a {STATE_FORMAT} state dict")
        if state.get("version") != STATE_VERSION:
            raise PartialMLError(
                f"label store state: version {state.get('version')!r}, this partialml reads {STATE_VERSION}"
            )
        n, c = _check_shape(state.get("num_samples"), state.get("num_classes"))
        names = _class_names(state.get("class_names"), c)
        observed = _LabelMatrix.from_state(state.get("observed"), n, c, what="observed labels", full=False)
        full = None
        if state.get("full") is not None:
            full = _LabelMatrix.from_state(state["full"], n, c, what="full labels", full=True)
            _check_agreement(observed, full)
        keys_t = state.get("corrections")
        if not isinstance(keys_t, torch.Tensor) or keys_t.dtype != torch.int64 or keys_t.ndim != 1:
            raise PartialMLError("label store state: corrections must be a 1-d int64 tensor")
        keys = np.ascontiguousarray(keys_t.detach().cpu().numpy())
        if keys.size:
            if int(keys[0]) < 0 or int(keys[-1]) >= n * c or (np.diff(keys) <= 0).any():
                raise PartialMLError("label store state: corrections must be increasing keys in [0, N*C)")
            base = observed.values_at(keys // c, keys % c)
            if (base != UNKNOWN).any():
                raise PartialMLError(
                    "label store state: a correction sits on an observed (not unknown) entry"
                )
        return cls(observed, full=full, class_names=names, corrections=keys.copy())

    def load_state_dict(self, state: Any) -> None:
        """Replace labels and corrections by ``state``'s; its shape and class names must match this store's."""
        other = LabelStore.from_state_dict(state)
        if (other.num_samples, other.num_classes) != (self.num_samples, self.num_classes):
            raise PartialMLError(
                f"label store state is {other.num_samples} x {other.num_classes}, "
                f"this store is {self.num_samples} x {self.num_classes}"
            )
        if other.class_names != self.class_names:
            raise PartialMLError("label store state has different class names from this store")
        self._observed, self._full, self._corrections = other._observed, other._full, other._corrections


# -- construction helpers ----------------------------------------------------------------------------------


def _check_shape(num_samples: Any, num_classes: Any) -> tuple[int, int]:
    for name, value, low in (("num_samples", num_samples, 0), ("num_classes", num_classes, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise PartialMLError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(num_samples), int(num_classes)


def _class_names(names: Any, num_classes: int) -> list[str]:
    if names is None:
        return [f"class_{i}" for i in range(num_classes)]
    names = list(names)
    if len(names) != num_classes:
        raise PartialMLError(f"{len(names)} class names for {num_classes} classes")
    if not all(isinstance(x, str) for x in names):
        raise PartialMLError("class names must be strings")
    if len(set(names)) != len(names):
        dup = next(x for i, x in enumerate(names) if x in names[:i])
        raise PartialMLError(f"duplicate class name {dup!r}")
    return names


def _matrix_from_entries(
    n: int,
    c: int,
    rows: Any,
    cols: Any,
    values: Any,
    *,
    default: int,
    layout: str,
    what: str,
) -> _LabelMatrix:
    r = _as_int_vector(rows, f"{what}rows")
    k = _as_int_vector(cols, f"{what}cols")
    v = _as_int_vector(values, f"{what}values", allow_bool=True)
    if not r.size == k.size == v.size:
        raise PartialMLError(f"{what}rows, cols and values have lengths {r.size}, {k.size}, {v.size}")
    if r.size:
        if int(r.min()) < 0 or int(r.max()) >= n:
            bad = int(r.min()) if int(r.min()) < 0 else int(r.max())
            raise PartialMLError(f"{what}row index {bad} out of range for {n} samples")
        if int(k.min()) < 0 or int(k.max()) >= c:
            bad = int(k.min()) if int(k.min()) < 0 else int(k.max())
            raise PartialMLError(f"{what}column index {bad} out of range for {c} classes")
        if int(v.min()) < UNKNOWN or int(v.max()) > POSITIVE:
            bad = int(v.min()) if int(v.min()) < UNKNOWN else int(v.max())
            raise PartialMLError(f"{what}value {bad}; expected 1, 0 or -1")
    v = v.astype(LABEL_DTYPE, copy=False)
    keep = v != default
    if not keep.all():
        r, k, v = r[keep], k[keep], v[keep]
    i = _first_not_increasing(r, k)
    if i is not None:
        order = np.lexsort((k, r))
        r, k, v = r[order], k[order], v[order]
        i = _first_not_increasing(r, k)
        if i is not None:
            raise PartialMLError(f"{what}entry ({int(r[i])}, {int(k[i])}) is given more than once")
    return _LabelMatrix.from_entries(n, c, r, k, v, default=default, layout=layout)
