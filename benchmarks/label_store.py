"""Memory and lookup time of a ``LabelStore`` at 2,000,000 samples x 5,000 classes, 1 % annotated.

Protocol: every sample gets 50 class indices drawn uniformly with replacement (seeded), duplicates removed
(so slightly under 1 %: about 49.76 annotations per sample); each annotation is a positive with
probability 0.1, else a negative; everything else is unknown (default -1). Built with
``LabelStore.from_sparse`` (rows int32, sorted input, CSR layout). Memory: the sum of the store's array
``nbytes`` and the growth of the process's resident set (RSS) from before the inputs were generated to
after they were freed. Lookup: mean wall time of 1,000 lookups ``store[idx]`` of 256 random indices
(a long tensor, as from a DataLoader), after 20 warm-up lookups; about 64 corrections are written before
timing (a random mask) so that the corrections overlay is on the lookup path. ``quick`` uses 200,000 samples.
Goals (issue #2): < 1 GB, < 1 ms.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import numpy as np
import torch

from partialml.labels import LabelStore

NUM_CLASSES = 5_000
PER_ROW = 50  # 1 % of 5,000
BATCH = 256
LOOKUPS = 1_000
CHUNK_ROWS = 100_000


def _rss_bytes() -> int | None:
    """Resident set size of this process (Linux ``/proc/self/statm``), or None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _entries(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted (rows int32, cols int16, values int8) with about PER_ROW distinct columns per row."""
    rng = np.random.default_rng(seed)
    rows, cols, values = [], [], []
    for start in range(0, n, CHUNK_ROWS):
        m = min(CHUNK_ROWS, n - start)
        c = np.sort(rng.integers(0, NUM_CLASSES, size=(m, PER_ROW), dtype=np.int16), axis=1)
        keep = np.ones(c.shape, dtype=bool)
        keep[:, 1:] = c[:, 1:] != c[:, :-1]
        rows.append(np.broadcast_to(np.arange(start, start + m, dtype=np.int32)[:, None], c.shape)[keep])
        cols.append(c[keep])
        values.append((rng.random(int(keep.sum())) < 0.1).astype(np.int8))
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 200_000 if quick else 2_000_000
    gc.collect()
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    rows, cols, values = _entries(n, seed=0)
    t_gen = time.perf_counter() - t0
    nnz = rows.size
    t0 = time.perf_counter()
    store = LabelStore.from_sparse(n, NUM_CLASSES, rows, cols, values, layout="csr")
    t_build = time.perf_counter() - t0
    del rows, cols, values
    gc.collect()
    rss1 = _rss_bytes()

    g = torch.Generator().manual_seed(1)
    fix_idx = torch.randint(0, n, (BATCH,), generator=g)
    store.apply_corrections(fix_idx, torch.rand(BATCH, NUM_CLASSES, generator=g) < 64 / (BATCH * NUM_CLASSES))
    batches = [torch.randint(0, n, (BATCH,), generator=g) for _ in range(LOOKUPS)]
    for idx in batches[:20]:
        store[idx]
    t0 = time.perf_counter()
    for idx in batches:
        store[idx]
    lookup_ms = (time.perf_counter() - t0) / LOOKUPS * 1e3

    gb = store.nbytes / 1e9
    size = f"{n:,} x {NUM_CLASSES:,}, {nnz:,} annotated ({nnz / (n * NUM_CLASSES):.3%})"
    rows_out: list[dict[str, Any]] = [
        {
            "benchmark": "label_store",
            "metric": "memory (array nbytes)",
            "value": gb,
            "unit": "GB",
            "goal": "< 1 GB",
            "passed": gb < 1.0,
            "notes": f"{size}; CSR int64 indptr, int16 columns, int8 values; built in {t_build:.1f} s "
            f"(inputs generated in {t_gen:.1f} s)",
        },
    ]
    if rss0 is not None and rss1 is not None:
        rss_gb = (rss1 - rss0) / 1e9
        rows_out.append(
            {
                "benchmark": "label_store",
                "metric": "memory (RSS growth)",
                "value": rss_gb,
                "unit": "GB",
                "goal": "< 1 GB",
                "passed": rss_gb < 1.0,
                "notes": "resident set after the store is built and its inputs freed, minus before",
            }
        )
    rows_out.append(
        {
            "benchmark": "label_store",
            "metric": f"lookup of {BATCH} rows (mean of {LOOKUPS:,})",
            "value": lookup_ms,
            "unit": "ms",
            "goal": "< 1 ms",
            "passed": lookup_ms < 1.0,
            "notes": f"store[idx] with a random long tensor, {store.num_corrections} corrections in the overlay; "
            f"{torch.get_num_threads()} torch threads",
        }
    )
    return rows_out


if __name__ == "__main__":
    for row in run():
        print(row)
