"""Cole/LL formatted folders: file names, the 0 <-> -1 swap of observed labels, val -> test, and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from partialml.data import load_feature_data, read_cole
from partialml.errors import PartialMLError

FULL_TRAIN = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32)  # Cole stores floats
# Cole's observed encoding: 1 positive, 0 unknown, -1 negative (single positive here, one negative added).
COLE_OBS_TRAIN = np.array([[1, 0, 0], [0, 1, -1], [0, 0, 0], [-1, 0, 1]], dtype=np.float32)
# The same in partialml's encoding (1 positive, 0 negative, -1 unknown), written out by hand.
OURS_OBS_TRAIN = np.array([[1, -1, -1], [-1, 1, 0], [-1, -1, -1], [0, -1, 1]], dtype=np.int8)
FULL_VAL = np.array([[0, 0, 1], [1, 0, 0]], dtype=np.float32)


def _cole(tmp_path: Path, *, val: bool = True, obs: bool = True, images: bool = False) -> Path:
    folder = tmp_path / "pascal"
    folder.mkdir()
    rng = np.random.default_rng(1)
    np.save(folder / "formatted_train_labels.npy", FULL_TRAIN)
    np.save(folder / "train_features_imagenet_resnet50.npy", rng.normal(size=(4, 5)).astype(np.float32))
    if obs:
        np.save(folder / "formatted_train_labels_obs.npy", COLE_OBS_TRAIN)
    if images:
        np.save(folder / "formatted_train_images.npy", np.array([f"img/{i}.jpg" for i in range(4)]))
    if val:
        np.save(folder / "formatted_val_labels.npy", FULL_VAL)
        np.save(folder / "val_features_imagenet_resnet50.npy", rng.normal(size=(2, 5)).astype(np.float32))
        if obs:
            np.save(
                folder / "formatted_val_labels_obs.npy", np.array([[0, 0, 1], [1, 0, 0]], dtype=np.float32)
            )
    return folder


def test_cole_layout(tmp_path: Path) -> None:
    folder = _cole(tmp_path, images=True)
    data = load_feature_data(folder)  # auto-detected by formatted_train_labels.npy
    assert data.name == "pascal" and data.class_names == ["class_0", "class_1", "class_2"]
    np.testing.assert_array_equal(data.train.labels, FULL_TRAIN.astype(np.int8))
    assert data.train.observed is not None
    np.testing.assert_array_equal(data.train.observed, OURS_OBS_TRAIN)
    assert isinstance(data.train.x, np.memmap)
    np.testing.assert_array_equal(data.train.x, np.load(folder / "train_features_imagenet_resnet50.npy"))
    assert data.train.ids == [f"img/{i}.jpg" for i in range(4)]
    # Cole's "val" is our test split.
    assert data.test is not None
    np.testing.assert_array_equal(data.test.labels, FULL_VAL.astype(np.int8))
    np.testing.assert_array_equal(data.test.observed, [[-1, -1, 1], [1, -1, -1]])
    assert data.test.ids is None


def test_cole_options_and_optional_files(tmp_path: Path) -> None:
    folder = _cole(tmp_path, val=False, obs=False)
    (folder / "train_features_imagenet_resnet50.npy").rename(folder / "train_clip.npy")
    data = read_cole(folder, features_pattern="{split}_clip.npy", class_names=["a", "b", "c"], name="p")
    assert data.test is None and data.train.observed is None
    assert data.class_names == ["a", "b", "c"] and data.name == "p"


def test_cole_class_names_file_and_bias_pattern(tmp_path: Path) -> None:
    folder = _cole(tmp_path, val=False, obs=False)
    (folder / "class_names.txt").write_text("aeroplane\nbicycle\nbird\n")
    np.save(folder / "formatted_train_size_labels_obs.npy", COLE_OBS_TRAIN)
    data = read_cole(folder, observed_pattern="formatted_{split}_size_labels_obs.npy")
    assert data.class_names == ["aeroplane", "bicycle", "bird"]
    np.testing.assert_array_equal(data.train.observed, OURS_OBS_TRAIN)


def _val_with_four_classes(folder: Path) -> None:
    np.save(folder / "formatted_val_labels.npy", np.ones((2, 4)))
    (folder / "formatted_val_labels_obs.npy").unlink()


def _err(call: Callable[[], Any], file_part: str, *words: str) -> None:
    with pytest.raises(PartialMLError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and file_part in message, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("setup", "file_part", "words"),
    [
        (lambda f: (f / "formatted_train_labels.npy").unlink(), "pascal", ("formatted_train_labels.npy",)),
        (lambda f: (f / "val_features_imagenet_resnet50.npy").unlink(), "pascal", ("val_features",)),
        (
            lambda f: np.save(f / "formatted_train_labels.npy", np.full((4, 3), -1.0)),
            "formatted_train_labels.npy",
            ("1 or 0",),
        ),
        (
            lambda f: np.save(f / "formatted_train_labels_obs.npy", np.full((4, 3), 2.0)),
            "formatted_train_labels_obs.npy",
            ("Cole observed",),
        ),
        (
            lambda f: np.save(f / "formatted_train_labels_obs.npy", np.zeros((3, 3))),
            "formatted_train_labels_obs.npy",
            ("(3, 3)", "(4, 3)"),
        ),
        (
            lambda f: np.save(f / "train_features_imagenet_resnet50.npy", np.ones((5, 5), np.float32)),
            "train_features_imagenet_resnet50.npy",
            ("5 rows",),
        ),
        (
            lambda f: np.save(f / "val_features_imagenet_resnet50.npy", np.ones((2, 7), np.float32)),
            "pascal",
            ("7 columns",),
        ),
        (_val_with_four_classes, "pascal", ("4 classes",)),
        (
            lambda f: np.save(
                f / "train_features_imagenet_resnet50.npy", np.full((4, 5), np.nan, np.float32)
            ),
            "train_features_imagenet_resnet50.npy",
            ("row 0, column 0", "nan"),
        ),
        (
            lambda f: np.save(f / "formatted_train_images.npy", np.array(["a", "a", "b", "c"])),
            "pascal",
            ("'a'", "twice"),
        ),
        (
            lambda f: np.save(f / "formatted_train_images.npy", np.array(["a", "b"])),
            "formatted_train_images.npy",
            ("(4,)",),
        ),
        (lambda f: (f / "class_names.txt").write_text("a\n"), "pascal", ("1 class names",)),
    ],
)
def test_cole_errors(
    tmp_path: Path, setup: Callable[[Path], Any], file_part: str, words: tuple[str, ...]
) -> None:
    folder = _cole(tmp_path)
    setup(folder)
    _err(lambda: read_cole(folder), file_part, *words)
