"""CUB-200-2011 attribute reader on a tiny generated folder, including a 6-field line like the real file's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from partialml.data.cub import read_cub
from partialml.data.image_labels import read_image_labels
from partialml.errors import PartialMLError

IMAGES = "1 001.Albatross/a_1.jpg\n2 001.Albatross/a_2.jpg\n3 002.Auklet/b_3.jpg\n4 002.Auklet/b_4.jpg\n"
SPLIT = "1 1\n2 0\n3 1\n4 0\n"
ATTRIBUTES = "1 has_bill_shape::curved_(up_or_down)\n2 has_bill_shape::dagger\n3 has_wing_color::blue\n"
# is_present per (image, attribute): image 1: 1 0 1 / image 2: 0 0 0 / image 3: 0 1 1 / image 4: 1 1 0
PRESENT = {1: (1, 0, 1), 2: (0, 0, 0), 3: (0, 1, 1), 4: (1, 1, 0)}


def _labels_text(malformed: bool = True) -> str:
    lines = []
    for image, flags in PRESENT.items():
        for attribute, flag in enumerate(flags, start=1):
            lines.append(f"{image} {attribute} {flag} {3 if flag else 1} {11.5 + attribute:.3f}")
    if malformed:  # the real file has a few 6-field lines
        lines[4] = "2 2 0 1 0 9.263"
    return "\r\n".join(lines) + "\r\n"


def _make(tmp_path: Path, labels: str | None = None, attributes_in_subfolder: bool = False) -> Path:
    root = tmp_path / "CUB_200_2011"
    (root / "attributes").mkdir(parents=True)
    (root / "images.txt").write_text(IMAGES)
    (root / "train_test_split.txt").write_text(SPLIT)
    names = root / ("attributes" if attributes_in_subfolder else ".") / "attributes.txt"
    names.write_text(ATTRIBUTES)
    (root / "attributes" / "image_attribute_labels.txt").write_text(
        _labels_text() if labels is None else labels
    )
    return root


def test_train_test_all(tmp_path: Path) -> None:
    root = _make(tmp_path)
    train = read_cub(root)
    assert train.paths == ["images/001.Albatross/a_1.jpg", "images/002.Auklet/b_3.jpg"]
    assert train.class_names[0] == "has_bill_shape::curved_(up_or_down)" and train.num_classes == 3
    np.testing.assert_array_equal(train.labels, [PRESENT[1], PRESENT[3]])
    test = read_image_labels(root, format="cub", split="test")
    np.testing.assert_array_equal(test.labels, [PRESENT[2], PRESENT[4]])
    everything = read_cub(root, split="all")
    np.testing.assert_array_equal(everything.labels, [PRESENT[i] for i in (1, 2, 3, 4)])
    assert everything.labels.dtype == np.int8 and not (everything.labels == -1).any()


def test_attribute_names_in_subfolder_or_absent(tmp_path: Path) -> None:
    root = _make(tmp_path, attributes_in_subfolder=True)
    assert read_cub(root).class_names[2] == "has_wing_color::blue"
    (root / "attributes" / "attributes.txt").unlink()
    assert read_cub(root).class_names == ["attribute_1", "attribute_2", "attribute_3"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("1 2 0 1 13.500", "1 2 0 1"), r":2: has 4 fields"),
        (lambda t: t.replace("1 2 0 1 13.500", "1 2 2 1 13.500"), r":2: is_present '2'"),
        (lambda t: t.replace("1 2 0 1 13.500", "1 x 0 1 13.500"), r":2: attribute id 'x'"),
        (lambda t: t.replace("1 2 0 1 13.500", "1 4 0 1 13.500"), r":2: attribute id 4; expected 1..3"),
        (lambda t: t.replace("1 2 0 1 13.500", "1 1 0 1 13.500"), r":2: repeats the label of attribute 1"),
        (lambda t: t.replace("3 3 1 3 14.500", ""), ": has no line for image 3, attribute 3"),
    ],
)
def test_bad_label_lines(tmp_path: Path, edit: Callable[[str], str], message: str) -> None:
    root = _make(tmp_path, labels=edit(_labels_text()))
    with pytest.raises(PartialMLError, match=r"image_attribute_labels\.txt" + message):
        read_cub(root, split="all")


def test_bad_other_files(tmp_path: Path) -> None:
    root = _make(tmp_path)
    (root / "train_test_split.txt").write_text("1 1\n2 0\n3 1\n")
    with pytest.raises(PartialMLError, match=r"train_test_split\.txt: has no line for image 4"):
        read_cub(root)
    (root / "train_test_split.txt").write_text(SPLIT)
    (root / "images.txt").write_text(IMAGES + "5 001.Albatross/a_1.jpg\n")
    with pytest.raises(PartialMLError, match=r"images\.txt:5: duplicate image"):
        read_cub(root)
    (root / "images.txt").write_text(IMAGES + "4 001.Albatross/a_9.jpg\n")
    with pytest.raises(PartialMLError, match=r"images\.txt:5: repeats id 4"):
        read_cub(root)
    with pytest.raises(PartialMLError, match=r"has no images\.txt"):
        read_cub(tmp_path)
    with pytest.raises(PartialMLError, match="split='val'"):
        read_cub(root, split="val")  # type: ignore[arg-type]
