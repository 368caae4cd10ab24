"""NPZ, CSV and npy (memory-mapped) readers: hand-written fixtures, expected arrays, and every bad input."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from partialml.data import load_feature_data, read_csv, read_npy_dir, read_npy_pair, read_npz
from partialml.data.features import check_finite
from partialml.errors import PartialMLError


def expect_error(
    call: Callable[[], Any], file_part: str, *words: str, line: int | None = None
) -> PartialMLError:
    with pytest.raises(PartialMLError) as info:
        call()
    err = info.value
    message = str(err)
    assert "\n" not in message, message
    assert file_part in message, message
    for word in words:
        assert word in message, message
    if line is not None:
        assert err.line == line, message
    return err


# -- NPZ ----------------------------------------------------------------------------------------------------

X4 = np.arange(12, dtype=np.float64).reshape(4, 3) / 4
Y4 = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])


def _npz(tmp_path: Path, name: str = "toy.npz", **arrays: Any) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_npz_minimal_is_all_train(tmp_path: Path) -> None:
    data = read_npz(_npz(tmp_path, X=X4, Y=Y4))
    assert data.name == "toy" and data.test is None
    assert data.class_names == ["class_0", "class_1"]
    assert data.train.x.dtype == np.float32 and data.train.labels.dtype == np.int8
    np.testing.assert_array_equal(data.train.x, X4.astype(np.float32))
    np.testing.assert_array_equal(data.train.labels, Y4)
    assert data.train.ids is None and data.train.observed is None


@pytest.mark.parametrize(
    "split", [["train", "test", "train", "test"], [0, 1, 0, 1], [False, True, False, True]]
)
def test_npz_split_names_ids_observed(tmp_path: Path, split: list[Any]) -> None:
    obs = np.array([[1, -1], [-1, -1], [-1, 1], [0, -1]])
    path = _npz(
        tmp_path, X=X4, Y=Y4, split=np.array(split), names=np.array(["cat", "dog"]), ids=np.array(["a", "b", "c", "d"]),
        Y_observed=obs,
    )  # fmt: skip
    data = load_feature_data(path)
    assert data.class_names == ["cat", "dog"]
    assert data.train.ids == ["a", "c"] and data.test is not None and data.test.ids == ["b", "d"]
    np.testing.assert_array_equal(data.train.x, X4[[0, 2]].astype(np.float32))
    np.testing.assert_array_equal(data.test.labels, Y4[[1, 3]])
    assert data.train.observed is not None and data.test.observed is not None
    np.testing.assert_array_equal(data.train.observed, obs[[0, 2]])
    np.testing.assert_array_equal(data.test.observed, obs[[1, 3]])


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        ({"Y": Y4}, ("'X'",)),
        ({"X": X4}, ("'Y'",)),
        ({"X": X4, "Y": Y4, "labels": Y4}, ("unknown key", "labels")),
        ({"X": X4, "Y": Y4[:3]}, ("4 rows", "3")),
        ({"X": X4, "Y": Y4 * 2}, ("expected 1, 0 or -1",)),
        ({"X": X4[:, :0], "Y": Y4}, ("no feature",)),
        ({"X": X4[:0], "Y": Y4[:0]}, ("no samples",)),
        ({"X": X4, "Y": Y4, "split": np.array(["train", "tst", "train", "test"])}, ("'split' entry 1",)),
        ({"X": X4, "Y": Y4, "split": np.array([0, 2, 0, 1])}, ("'split' entry 1",)),
        ({"X": X4, "Y": Y4, "split": np.array(["test"] * 4)}, ("no train row",)),
        ({"X": X4, "Y": Y4, "split": np.array([0, 1])}, ("'split'", "(4,)")),
        ({"X": X4, "Y": Y4, "names": np.array(["a"])}, ("names", "expected 2")),
        ({"X": X4, "Y": Y4, "names": np.array(["a", "a"])}, ("'a'", "twice")),
        ({"X": X4, "Y": Y4, "ids": np.array(["a", "b", "a", "c"])}, ("sample id", "'a'", "twice")),
        ({"X": X4, "Y": Y4, "Y_observed": Y4[:2]}, ("Y_observed",)),
        ({"X": X4, "Y": Y4, "Y_observed": np.full((4, 3), -1)}, ("Y_observed", "3 classes")),
        ({"X": np.array([["a"], ["b"]]), "Y": Y4[:2]}, ("X", "dtype")),
        ({"X": np.arange(4.0), "Y": Y4}, ("X", "2-d")),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict[str, Any], words: tuple[str, ...]) -> None:
    path = _npz(tmp_path, "bad.npz", **arrays)
    expect_error(lambda: read_npz(path), "bad.npz", *words)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_npz_non_finite_feature_named_by_row_and_column(tmp_path: Path, bad: float) -> None:
    x = X4.copy()
    x[2, 1] = bad
    path = _npz(tmp_path, "bad.npz", X=x, Y=Y4)
    expect_error(lambda: read_npz(path), "bad.npz", "row 2, column 1", "finite")


def test_npz_pickled_object_array_rejected(tmp_path: Path) -> None:
    path = _npz(tmp_path, "bad.npz", X=X4, Y=Y4, ids=np.array(["a", 1, None, 2.0], dtype=object))
    expect_error(lambda: read_npz(path), "bad.npz", "'ids'")


def test_npz_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip file")
    expect_error(lambda: read_npz(path), "bad.npz", "npz")


# -- CSV ----------------------------------------------------------------------------------------------------

CSV_TEXT = """id,f0,f1,label:cat,label:dog,observed:cat,observed:dog,split
a,0.5,1.0,1,0,1,,train
b,0.1,-2e-1,,1,,,test

c,3,4,0,1,-1,1,train
"""


def test_csv_convention(tmp_path: Path) -> None:
    path = tmp_path / "toy.csv"
    path.write_text(CSV_TEXT)
    data = load_feature_data(path)
    assert data.name == "toy" and data.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(data.train.x, np.array([[0.5, 1.0], [3, 4]], dtype=np.float32))
    np.testing.assert_array_equal(data.train.labels, [[1, 0], [0, 1]])
    assert data.train.observed is not None
    np.testing.assert_array_equal(data.train.observed, [[1, -1], [-1, 1]])
    assert data.train.ids == ["a", "c"]
    assert data.test is not None and data.test.ids == ["b"]
    np.testing.assert_array_equal(data.test.x, np.array([[0.1, -0.2]], dtype=np.float32))
    np.testing.assert_array_equal(data.test.labels, [[-1, 1]])


def test_csv_gz_and_label_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"x1,x2,y1,y2\n1,2,1,0\n3,4,0,\n"))
    data = read_csv(path, label_columns=["y2", "y1"])
    assert data.name == "t" and data.class_names == ["y2", "y1"] and data.test is None
    np.testing.assert_array_equal(data.train.labels, [[0, 1], [-1, 0]])
    np.testing.assert_array_equal(data.train.x, [[1, 2], [3, 4]])
    assert data.train.ids is None


def test_csv_agrees_with_npz(tmp_path: Path) -> None:
    rows = [",".join([repr(float(v)) for v in X4[i]] + [str(v) for v in Y4[i]]) for i in range(4)]
    csv_path = tmp_path / "same.csv"
    csv_path.write_text("a,b,c,label:p,label:q\n" + "\n".join(rows) + "\n")
    from_csv = read_csv(csv_path)
    from_npz = read_npz(_npz(tmp_path, X=X4, Y=Y4, names=np.array(["p", "q"])))
    np.testing.assert_array_equal(from_csv.train.x, from_npz.train.x)
    np.testing.assert_array_equal(from_csv.train.labels, from_npz.train.labels)
    assert from_csv.class_names == from_npz.class_names


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        ("", ("empty",), None),
        ("f0,label:a\n", ("no data row",), None),
        ("f0,f1\n1,2\n", ("no label column",), 1),
        ("id,label:a\nx,1\n", ("no feature column",), 1),
        ("f0,f0,label:a\n1,2,1\n", ("'f0'", "twice"), None),
        ("f0,label:a,label:a\n1,1,1\n", ("twice",), None),
        ("f0,label:a\n1,1\n2\n", ("1 cells", "expected 2"), 3),
        ("f0,label:a\n1,1\nx,0\n", ("'f0'", "'x'", "number"), 3),
        ("f0,label:a\n1,1\nnan,0\n", ("'f0'", "finite"), 3),
        ("f0,label:a\n1,1\n-inf,0\n", ("'f0'", "finite"), 3),
        ("f0,label:a\n1e39,1\n", ("'f0'", "finite"), 2),
        ("f0,label:a\n1,2\n", ("'label:a'", "'2'", "1, 0, -1 or empty"), 2),
        ("f0,label:a\n1,yes\n", ("'label:a'", "'yes'"), 2),
        ("f0,label:a,observed:b\n1,1,1\n", ("different classes",), 1),
        ("f0,label:a,observed:a\n1,1,3\n", ("'observed:a'",), 2),
        ("id,f0,label:a\nx,1,1\nx,2,0\n", ("'x'", "line 2"), 3),
        ("id,f0,label:a\n,1,1\n", ("'id'", "empty"), 2),
        ("f0,label:a,split\n1,1,val\n", ("'split'", "'val'"), 2),
        ("f0,label:a,split\n1,1,test\n", ("no train row",), None),
        ('f0,label:a\n"1,1\n', ("1 cells",), 2),  # an unclosed quote runs to the end
    ],
)
def test_csv_errors(tmp_path: Path, text: str, words: tuple[str, ...], line: int | None) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    expect_error(lambda: read_csv(path), "bad.csv", *words, line=line)


def test_csv_missing_label_columns_option(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("f0,y\n1,1\n")
    expect_error(lambda: read_csv(path, label_columns=["z"]), "bad.csv", "'z'", line=1)


# -- npy folder / memmap ------------------------------------------------------------------------------------


def _npy_folder(tmp_path: Path, *, test: bool = True, n: int = 6, d: int = 4, c: int = 3) -> Path:
    folder = tmp_path / "feats"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.save(folder / "train_features.npy", rng.normal(size=(n, d)).astype(np.float32))
    np.save(folder / "train_labels.npy", rng.integers(-1, 2, size=(n, c)).astype(np.int8))
    if test:
        np.save(folder / "test_features.npy", rng.normal(size=(2, d)).astype(np.float32))
        np.save(folder / "test_labels.npy", rng.integers(0, 2, size=(2, c)).astype(np.int8))
    return folder


def test_npy_folder_memory_maps_features(tmp_path: Path) -> None:
    folder = _npy_folder(tmp_path)
    (folder / "class_names.txt").write_text("a\nb\nc\n")
    (folder / "train_ids.txt").write_text("\n".join(f"s{i}" for i in range(6)) + "\n")
    np.save(folder / "train_observed.npy", np.full((6, 3), -1, dtype=np.int8))
    data = load_feature_data(folder)
    assert data.name == "feats" and data.class_names == ["a", "b", "c"]
    assert isinstance(data.train.x, np.memmap) and isinstance(data.test.x, np.memmap)  # type: ignore[union-attr]
    np.testing.assert_array_equal(data.train.x, np.load(folder / "train_features.npy"))
    np.testing.assert_array_equal(data.train.labels, np.load(folder / "train_labels.npy"))
    assert data.train.ids == [f"s{i}" for i in range(6)]
    assert data.train.observed is not None and (data.train.observed == -1).all()
    assert data.test is not None and data.test.observed is None and data.test.ids is None


def test_npy_float64_features_converted(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.ones((2, 2)))
    np.save(tmp_path / "l.npy", np.array([[1], [0]]))
    data = read_npy_pair(tmp_path / "f.npy", tmp_path / "l.npy", class_names=["only"], name="n")
    assert data.train.x.dtype == np.float32 and data.name == "n" and data.class_names == ["only"]


def test_npy_nan_found_in_a_late_chunk(tmp_path: Path) -> None:
    folder = _npy_folder(tmp_path, test=False, n=5000, d=8)
    x = np.load(folder / "train_features.npy")
    x[4321, 5] = np.nan
    np.save(folder / "train_features.npy", x)
    expect_error(lambda: read_npy_dir(folder), "train_features.npy", "row 4321, column 5", "nan")


class _Recording(np.ndarray):
    """An ndarray that records the number of rows of every slice taken from it."""

    rows_read: list[int]

    def __getitem__(self, key: Any) -> Any:
        out = super().__getitem__(key)
        if isinstance(key, slice):
            self.rows_read.append(len(range(*key.indices(self.shape[0]))))
        return out


def test_check_finite_streams_in_chunks() -> None:
    x = np.zeros((1000, 16), dtype=np.float32).view(_Recording)
    x.rows_read = []
    x[999, 15] = np.inf
    with pytest.raises(PartialMLError, match=r"row 999, column 15"):
        check_finite(x, source="mem", chunk_bytes=64 * 16 * 4)
    assert x.rows_read and max(x.rows_read) == 64
    assert sum(x.rows_read) == 1000


@pytest.mark.parametrize(
    ("setup", "file_part", "words"),
    [
        (lambda f: (f / "train_labels.npy").unlink(), "feats", ("train_labels.npy",)),
        (lambda f: (f / "test_labels.npy").unlink(), "feats", ("test_labels.npy", "together")),
        (
            lambda f: np.save(f / "train_labels.npy", np.ones((5, 3), np.int8)),
            "train_labels.npy",
            ("5 rows", "6"),
        ),
        (
            lambda f: np.save(f / "train_labels.npy", np.full((6, 3), 3)),
            "train_labels.npy",
            ("expected 1, 0 or -1",),
        ),
        (
            lambda f: np.save(f / "test_labels.npy", np.ones((2, 4), np.int8)),
            "test_labels.npy",
            ("4 classes",),
        ),
        (
            lambda f: np.save(f / "test_features.npy", np.ones((2, 5), np.float32)),
            "test_features.npy",
            ("5 columns",),
        ),
        (lambda f: (f / "class_names.txt").write_text("a\nb\n"), "train_labels.npy", ("2 class names",)),
        (lambda f: (f / "class_names.txt").write_text("a\nb\na\n"), "feats", ("'a'", "twice")),
        (lambda f: (f / "train_ids.txt").write_text("a\nb\n"), "train_ids.txt", ("2 lines", "6 samples")),
        (lambda f: (f / "train_ids.txt").write_text("a\nb\nc\nd\ne\na\n"), "train_ids.txt", ("'a'", "twice")),
        (
            lambda f: (f / "train_features.npy").write_bytes(b"junk"),
            "train_features.npy",
            ("not a readable",),
        ),
        (lambda f: np.save(f / "train_features.npy", np.ones(6, np.float32)), "train_features.npy", ("2-d",)),
        (
            lambda f: np.save(f / "train_features.npy", np.ones((0, 4), np.float32)),
            "train_labels.npy",
            ("0",),
        ),
        (
            lambda f: np.save(f / "train_observed.npy", np.ones((6, 2), np.int8)),
            "train_observed.npy",
            ("classes",),
        ),
    ],
)
def test_npy_errors(
    tmp_path: Path, setup: Callable[[Path], Any], file_part: str, words: tuple[str, ...]
) -> None:
    folder = _npy_folder(tmp_path)
    setup(folder)
    expect_error(lambda: read_npy_dir(folder), file_part, *words)


def test_npy_empty_split(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.ones((0, 3), np.float32))
    np.save(tmp_path / "l.npy", np.ones((0, 2), np.int8))
    expect_error(lambda: read_npy_pair(tmp_path / "f.npy", tmp_path / "l.npy"), str(tmp_path), "no samples")
