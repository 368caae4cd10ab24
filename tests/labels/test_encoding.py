"""partialml.labels.encoding helpers."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("rows", "cols", "cap"), [(0, 5, 10), (7, 3, 10), (10, 4, 8), (3, 50, 10), (5, 0, 10)]
)
def test_row_blocks_cover_every_row_once_within_the_cap(rows: int, cols: int, cap: int) -> None:
    from partialml.labels.encoding import row_blocks

    blocks = row_blocks(rows, cols, cap)
    covered = [r for s in blocks for r in range(rows)[s]]
    assert covered == list(range(rows))
    assert all(len(range(rows)[s]) * cols <= max(cap, cols) for s in blocks)  # one row when a row exceeds it
