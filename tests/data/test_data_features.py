"""The FeatureData container, its validation, and the load_feature_data dispatcher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partialml.data import (
    FeatureData,
    FeatureSplit,
    check_feature_data,
    load_feature_data,
    read_mulan,
)
from partialml.errors import PartialMLError


def _split(n: int = 3, d: int = 2, c: int = 2, ids: list[str] | None = None) -> FeatureSplit:
    return FeatureSplit(
        x=np.zeros((n, d), np.float32), labels=np.zeros((n, c), np.int8), observed=None, ids=ids
    )


def _data(
    train: FeatureSplit, test: FeatureSplit | None = None, names: list[str] | None = None
) -> FeatureData:
    return FeatureData(name="t", class_names=names or ["a", "b"], train=train, test=test, source="src.npz")


def test_properties() -> None:
    data = _data(_split(d=5, c=2))
    check_feature_data(data)
    assert (data.num_classes, data.num_features, data.train.num_samples) == (2, 5, 3)


def test_check_converts_labels_to_int8() -> None:
    split = _split()
    split.labels = np.array([[1, 0], [0, -1], [1, 1]], dtype=np.int64)
    check_feature_data(_data(split))
    assert split.labels.dtype == np.int8


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_data(_split(), _split(d=3)), ("3 columns", "train features have 2")),
        (_data(_split(), _split(c=3)), ("test labels", "3 classes", "expected 2")),
        (_data(_split(c=3)), ("train labels", "3 classes")),
        (_data(_split(), names=["a", "a"]), ("'a'", "twice")),
        (_data(_split(ids=["x", "y", "x"])), ("sample id 'x'", "twice")),
        (_data(_split(ids=["x", "y"])), ("2 sample ids", "3 rows")),
        (_data(_split(n=0)), ("no samples",)),
        (_data(_split(d=0)), ("no feature",)),
        (
            _data(FeatureSplit(np.zeros((3, 2)), np.zeros((3, 2), np.int8), None, None)),
            ("float64", "float32"),
        ),
        (
            _data(FeatureSplit(np.zeros((3, 2), np.float32), np.zeros((2, 2), np.int8), None, None)),
            ("3 rows",),
        ),
        (
            _data(FeatureSplit(np.zeros((3, 2), np.float32), np.full((3, 2), 5, np.int8), None, None)),
            ("(0, 0)",),
        ),
        (
            _data(
                FeatureSplit(np.zeros((3, 2), np.float32), np.zeros((3, 2), np.int8), np.zeros((2, 2)), None)
            ),
            ("observed labels have 2",),
        ),
        (
            _data(FeatureSplit(np.full((3, 2), np.inf, np.float32), np.zeros((3, 2), np.int8), None, None)),
            ("row 0, column 0", "inf"),
        ),
    ],
)
def test_check_errors_name_the_source(data: FeatureData, words: tuple[str, ...]) -> None:
    with pytest.raises(PartialMLError) as info:
        check_feature_data(data)
    message = str(info.value)
    assert message.startswith("src.npz: ") and "\n" not in message
    for word in words:
        assert word in message, message


def test_dispatch_by_format_option(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"  # a name that says nothing about the format
    with path.open("wb") as fh:
        np.savez(fh, X=np.eye(2), Y=np.eye(2, dtype=np.int8))
    assert load_feature_data(path, format="npz").num_classes == 2
    with pytest.raises(PartialMLError, match=r"data\.bin"):
        load_feature_data(path)
    with pytest.raises(PartialMLError, match="unknown feature format 'xls'"):
        load_feature_data(path, format="xls")  # type: ignore[arg-type]


def test_dispatch_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PartialMLError, match=r"nope\.npz"):
        load_feature_data(tmp_path / "nope.npz")
    with pytest.raises(PartialMLError, match="no such file"):
        load_feature_data(tmp_path / "nope", format="csv")


def test_dispatch_unknown_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(PartialMLError, match="cannot tell the format of this folder"):
        load_feature_data(tmp_path)


def test_dispatch_mulan_folder_and_arff(dense_mulan: Path) -> None:
    by_folder = load_feature_data(dense_mulan)
    assert by_folder.class_names == read_mulan(dense_mulan).class_names
    single = load_feature_data(dense_mulan / "tiny-train.arff")
    assert single.test is None and single.name == "tiny"
    np.testing.assert_array_equal(single.train.labels, by_folder.train.labels)


def test_dispatch_npy_folder(tmp_path: Path) -> None:
    np.save(tmp_path / "train_features.npy", np.ones((2, 3), np.float32))
    np.save(tmp_path / "train_labels.npy", np.array([[1], [-1]], np.int8))
    data = load_feature_data(tmp_path)
    assert data.train.labels.tolist() == [[1], [-1]] and data.test is None
