"""Cole/LL formatted folder: a round trip through files written in Cole's encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partialml.data.cole_images import read_cole_images
from partialml.data.image_labels import read_image_labels
from partialml.errors import PartialMLError

PATHS = np.array(["JPEGImages/2008_000002.jpg", "JPEGImages/2008_000003.jpg", "JPEGImages/2008_000007.jpg"])
FULL = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=np.float32)  # Cole stores floats
# ours: 1 positive, 0 negative, -1 unknown
OURS = np.array([[1, -1, 0], [-1, 1, -1], [-1, 1, 0]], dtype=np.int8)


def _cole(ours: np.ndarray) -> np.ndarray:
    """Our encoding -> Cole's (1 pos, 0 unknown, -1 neg), written here independently of the package."""
    out = np.zeros(ours.shape, dtype=np.float32)
    out[ours == 1] = 1
    out[ours == 0] = -1
    return out


def _make(tmp_path: Path, split: str = "train") -> Path:
    np.save(tmp_path / f"formatted_{split}_images.npy", PATHS)
    np.save(tmp_path / f"formatted_{split}_labels.npy", FULL)
    np.save(tmp_path / f"formatted_{split}_labels_obs.npy", _cole(OURS))
    return tmp_path


def test_round_trip(tmp_path: Path) -> None:
    s = read_cole_images(_make(tmp_path))
    assert s.paths == PATHS.tolist()
    np.testing.assert_array_equal(s.labels, FULL.astype(np.int8))
    assert s.observed is not None and s.observed.dtype == np.int8
    np.testing.assert_array_equal(s.observed, OURS)
    assert s.class_names == ["class_0", "class_1", "class_2"]


def test_val_split_names_and_no_observed(tmp_path: Path) -> None:
    _make(tmp_path, "val")
    (tmp_path / "formatted_val_labels_obs.npy").unlink()
    (tmp_path / "class_names.txt").write_text("aeroplane\nbicycle\nbird\n")
    s = read_image_labels(tmp_path, format="cole", split="val")
    assert s.observed is None and s.class_names == ["aeroplane", "bicycle", "bird"]
    t = read_cole_images(tmp_path, split="val", class_names=["a", "b", "c"])
    assert t.class_names == ["a", "b", "c"]
    with pytest.raises(PartialMLError, match="2 class names for 3 label columns"):
        read_cole_images(tmp_path, split="val", class_names=["a", "b"])


def test_bad_files(tmp_path: Path) -> None:
    _make(tmp_path)
    np.save(tmp_path / "formatted_train_labels_obs.npy", np.full((3, 3), 2.0))
    with pytest.raises(PartialMLError, match=r"formatted_train_labels_obs\.npy: .*expected 1, 0 or -1"):
        read_cole_images(tmp_path)
    np.save(tmp_path / "formatted_train_labels_obs.npy", np.zeros((2, 3)))
    with pytest.raises(PartialMLError, match=r"formatted_train_labels_obs\.npy: has shape \(2, 3\)"):
        read_cole_images(tmp_path)
    np.save(tmp_path / "formatted_train_images.npy", PATHS[:2])
    with pytest.raises(PartialMLError, match=r"formatted_train_labels\.npy: has 3 rows"):
        read_cole_images(tmp_path)
    np.save(tmp_path / "formatted_train_images.npy", np.array([PATHS[0], PATHS[0], PATHS[1]]))
    (tmp_path / "formatted_train_labels_obs.npy").unlink()
    with pytest.raises(PartialMLError, match="duplicate image"):
        read_cole_images(tmp_path)
    np.save(tmp_path / "formatted_train_images.npy", np.arange(3))
    with pytest.raises(
        PartialMLError, match=r"formatted_train_images\.npy: has shape \(3,\) and dtype int64"
    ):
        read_cole_images(tmp_path)
    with pytest.raises(PartialMLError, match=r"formatted_val_images\.npy: file not found"):
        read_cole_images(tmp_path, split="val")
