"""The container's checks and the dispatcher's handling of formats, splits and options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partialml.data.image_labels import ImageLabelSet, check_image_label_set, read_image_labels
from partialml.errors import PartialMLError

FIXTURE = Path(__file__).parent / "fixtures" / "voc2007"


def _set(**kw: object) -> ImageLabelSet:
    base: dict[str, object] = {
        "paths": ["a.jpg", "b.jpg"],
        "labels": np.array([[1, -1], [0, 1]]),
        "class_names": ["cat", "dog"],
        "source": "toy.csv",
    }
    base.update(kw)
    return ImageLabelSet(**base)  # type: ignore[arg-type]


def test_container_checks() -> None:
    s = check_image_label_set(_set())
    assert s.labels.dtype == np.int8 and len(s) == 2 and s.num_classes == 2
    with pytest.raises(PartialMLError, match=r"toy\.csv: 3 image paths for 2 label rows"):
        check_image_label_set(_set(paths=["a", "b", "c"]))
    with pytest.raises(PartialMLError, match="duplicate image 'a'"):
        check_image_label_set(_set(paths=["a", "a"]))
    with pytest.raises(PartialMLError, match="duplicate class name"):
        check_image_label_set(_set(class_names=["cat", "cat"]))
    with pytest.raises(PartialMLError, match="have 2 classes, expected 3"):
        check_image_label_set(_set(class_names=["cat", "dog", "x"]))
    with pytest.raises(PartialMLError, match=r"entry .* is 2"):
        check_image_label_set(_set(labels=np.array([[1, 2], [0, 1]])))
    with pytest.raises(PartialMLError, match=r"entry \(1, 0\) is -2"):  # the int8 fast path checks values too
        check_image_label_set(_set(labels=np.array([[1, 0], [-2, 1]], dtype=np.int8)))
    with pytest.raises(PartialMLError, match="observed labels have shape"):
        check_image_label_set(_set(observed=np.zeros((1, 2), dtype=np.int8)))


def test_dispatcher_errors(tmp_path: Path) -> None:
    with pytest.raises(PartialMLError, match="unknown image label format 'yolo'"):
        read_image_labels(tmp_path, format="yolo")  # type: ignore[arg-type]
    with pytest.raises(PartialMLError, match="option 'difficullt' is not an option of the 'voc' reader"):
        read_image_labels(FIXTURE, format="voc", difficullt="negative")
    with pytest.raises(PartialMLError, match="format 'csv' has no splits"):
        read_image_labels(tmp_path / "x.csv", format="csv", split="train")


def test_dispatcher_passes_options() -> None:
    s = read_image_labels(FIXTURE, format="voc", difficult="negative")
    assert not (s.labels == -1).any()
