"""Fixtures of the analysis tests: the shared generated feature dataset (``tests/conftest.py``), smaller."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def feature_dir(tmp_path: Path, make_feature_dir: Callable[..., Path]) -> Path:
    return make_feature_dir(tmp_path / "data", n=120, n_test=40, d=8, c=4)
