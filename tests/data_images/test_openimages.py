"""OpenImages V3 human-verified labels: positives, negatives and unknowns, class lists, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partialml.data.image_labels import read_image_labels
from partialml.data.openimages import read_openimages
from partialml.errors import PartialMLError

DESCRIPTIONS = (
    "/m/011k07,Tortoise\n"
    '/m/0449p,"Jaguar"\n'
    "/m/012xff,Toy\n"
    '/m/0100nhbf,"Sprenger\'s tulip, red"\n'
    "/m/01c34,Jaguar\n"
)
LABELS = (
    "ImageID,Source,LabelName,Confidence\n"
    "000002b66c9c498e,verification,/m/012xff,1\n"
    "000002b66c9c498e,verification,/m/011k07,0\n"
    "000002b97e5471a0,crowdsource-verification,/m/0449p,1\n"
    "000002b97e5471a0,verification,/m/01c34,0\n"
    "000002b66c9c498e,verification,/m/012xff,1\n"  # a repeated, agreeing row
    "00000c8b8e2e3ab1,verification,/m/012xff,0.0\n"
)


def _make(tmp_path: Path, labels: str = LABELS) -> Path:
    split = tmp_path / "2017_07" / "train"
    split.mkdir(parents=True)
    (tmp_path / "2017_07" / "class-descriptions.csv").write_text(DESCRIPTIONS)
    (split / "annotations-human.csv").write_text(labels)
    return split / "annotations-human.csv"


def test_positive_negative_unknown(tmp_path: Path) -> None:
    s = read_openimages(_make(tmp_path))
    # classes that occur, in descriptions order: Tortoise, Jaguar(/m/0449p), Toy, Jaguar(/m/01c34)
    assert s.class_names == ["Tortoise", "Jaguar (/m/0449p)", "Toy", "Jaguar (/m/01c34)"]
    assert s.paths == ["000002b66c9c498e", "000002b97e5471a0", "00000c8b8e2e3ab1"]
    np.testing.assert_array_equal(s.labels, [[0, -1, 1, -1], [-1, 1, -1, 0], [-1, -1, 0, -1]])
    mids = read_openimages(_make(tmp_path / "b"), names="mid")
    assert mids.class_names == ["/m/011k07", "/m/0449p", "/m/012xff", "/m/01c34"]


def test_trainable_list_and_folder(tmp_path: Path) -> None:
    _make(tmp_path)
    trainable = tmp_path / "classes-trainable.txt"
    trainable.write_text("/m/012xff\n/m/0100nhbf\n/m/0449p\n")
    s = read_image_labels(tmp_path / "2017_07", format="openimages", trainable=trainable)
    assert s.class_names == ["Toy", "Sprenger's tulip, red", "Jaguar"]
    assert s.paths == ["000002b66c9c498e", "000002b97e5471a0", "00000c8b8e2e3ab1"]
    np.testing.assert_array_equal(s.labels, [[1, -1, -1], [-1, -1, 1], [0, -1, -1]])
    trainable.write_text("/m/012xff\n/m/nope\n")
    with pytest.raises(PartialMLError, match=r"classes-trainable\.txt:2: class '/m/nope' is not in"):
        read_image_labels(tmp_path / "2017_07", format="openimages", trainable=trainable)


def test_conflicts(tmp_path: Path) -> None:
    p = _make(tmp_path, LABELS + "000002b66c9c498e,verification,/m/011k07,1\n")
    with pytest.raises(
        PartialMLError,
        match=r"annotations-human\.csv:8: image '000002b66c9c498e', class '/m/011k07' \(Tortoise\)",
    ):
        read_openimages(p)
    s = read_openimages(p, conflicts="unknown")
    assert s.labels[0, 0] == -1 and s.labels[0, 2] == 1


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("ImageID,Source,Label,Confidence\n", r":1: header .* lacks LabelName"),
        (LABELS + "abc,verification,/m/012xff\n", r":8: has 3 fields; expected 4"),
        (LABELS + "abc,verification,/m/999,1\n", r":8: unknown class '/m/999'"),
        (LABELS + "abc,verification,/m/012xff,0.7\n", r":8: confidence '0.7'"),
        (LABELS + ",verification,/m/012xff,1\n", r":8: has an empty ImageID"),
        ("ImageID,Source,LabelName,Confidence\n\n", "has no label row"),
        ("", "is empty"),
        (
            'ImageID,Source,LabelName,Confidence\n"abc,verification\n',
            r":2: has 1 fields",
        ),  # an unclosed quote swallows the rest
    ],
)
def test_bad_labels_csv(tmp_path: Path, labels: str, message: str) -> None:
    p = _make(tmp_path, labels)
    with pytest.raises(PartialMLError, match=message) as info:
        read_openimages(p)
    assert "annotations-human.csv" in str(info.value)


def test_bad_descriptions(tmp_path: Path) -> None:
    p = _make(tmp_path)
    desc = tmp_path / "2017_07" / "class-descriptions.csv"
    desc.write_text(DESCRIPTIONS + "/m/011k07,Again\n")
    with pytest.raises(PartialMLError, match=r"class-descriptions\.csv:6: repeats LabelName"):
        read_openimages(p)
    desc.write_text("LabelName,DisplayName\n/m/011k07,Tortoise,x\n")
    with pytest.raises(PartialMLError, match=r"class-descriptions\.csv:2: has 3 fields"):
        read_openimages(p)
    desc.unlink()
    with pytest.raises(PartialMLError, match=r"no class-descriptions\.csv"):
        read_openimages(p)
