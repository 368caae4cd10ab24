"""AP's class chunks and row-block input checks: the results do not depend on the chunk size, errors in
any block are found, and the working memory stays bounded (no ``(N, C)`` temporary)."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from partialml.errors import PartialMLError
from partialml.metrics import average_precision, map_report

AP_MODULE = sys.modules["partialml.metrics.average_precision"]


def _sklearn(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        keep = labels[:, c] != -1
        if (labels[keep, c] == 1).any():
            out[c] = average_precision_score(labels[keep, c], scores[keep, c])
    return out


@pytest.mark.parametrize("chunk", [1, 150, 450, 1000, 1 << 22])
def test_float32_path_same_ap_for_every_chunk_size(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """float32 scores (the packed-key sort), 8 distinct values (many ties), a quarter ignored; one class
    without positive. ``chunk=1`` and ``150`` (below the row count) mean one class per chunk."""
    rng = np.random.default_rng(5)
    scores = (rng.integers(0, 8, size=(300, 11)) / 8).astype(np.float32)
    labels = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(300, 11), p=[0.25, 0.5, 0.25])
    labels[:, 3] = np.where(labels[:, 3] == 1, 0, labels[:, 3])
    whole = average_precision(scores, labels).numpy()  # default chunk: 300 x 11 in one chunk
    monkeypatch.setattr(AP_MODULE, "CHUNK_ELEMENTS", chunk)
    chunked = average_precision(scores, labels).numpy()
    np.testing.assert_array_equal(chunked, whole)  # bit for bit, NaN at the same class
    assert np.isnan(whole[3]) and np.isfinite(np.delete(whole, 3)).all()
    ref = _sklearn(scores.astype(np.float64), labels)
    np.testing.assert_allclose(whole[~np.isnan(ref)], ref[~np.isnan(ref)], atol=1e-12, rtol=0)


@pytest.mark.parametrize("row", [0, 57, 299])
def test_checks_by_row_blocks_find_errors_in_any_block(monkeypatch: pytest.MonkeyPatch, row: int) -> None:
    monkeypatch.setattr(AP_MODULE, "CHUNK_ELEMENTS", 40)  # 10 rows of 4 classes per block
    rng = np.random.default_rng(6)
    scores = rng.random((300, 4)).astype(np.float32)
    labels = rng.integers(-1, 2, size=(300, 4)).astype(np.int8)
    bad_scores = scores.copy()
    bad_scores[row, 2] = np.nan
    with pytest.raises(PartialMLError, match="NaN"):
        average_precision(bad_scores, labels)
    bad_labels = labels.copy()
    bad_labels[row, 1] = 2
    with pytest.raises(PartialMLError, match=rf"entry \({row}, 1\) is 2"):
        average_precision(scores, bad_labels)


def test_map_report_working_memory_is_bounded_by_the_chunk() -> None:
    """60,000 x 200 (12 M entries): four classes per chunk (default ``CHUNK_ELEMENTS = 1 << 18``), about
    31 B x 240,000 = 7 MB of working memory. One ``(N, C)`` temporary of the checks (a boolean mask: 12 MB)
    breaks the 11 MB bound, as did the former chunk of ``1 << 22`` entries (~120 MB)."""
    rng = np.random.default_rng(7)
    n, c = 60_000, 200
    scores = rng.random((n, c), dtype=np.float32)
    u = rng.random((n, c), dtype=np.float32)
    labels = np.where(u < 0.05, 1, np.where(u > 0.9, -1, 0)).astype(np.int8)
    del u
    tracemalloc.start()
    try:
        report = map_report(scores, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.05 < report.mAP < 0.06  # random scores: AP near the positive rate of kept rows, 0.05 / 0.9
    assert peak < 11 * 2**20, f"map_report held {peak / 2**20:.1f} MB"
