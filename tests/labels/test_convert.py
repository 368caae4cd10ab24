"""Converters: hand-made examples, round trips, one-line errors naming file and line, and property tests."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from partialml.errors import PartialMLError
from partialml.labels import (
    from_cole,
    from_csl,
    from_dense01,
    read_cole_npy,
    read_text_lists,
    to_cole,
    to_csl,
    to_dense01,
    write_text_lists,
)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def label_matrices(max_rows: int = 8, max_cols: int = 6) -> st.SearchStrategy[np.ndarray]:
    shape = st.tuples(st.integers(0, max_rows), st.integers(1, max_cols))
    return shape.flatmap(lambda s: arrays(np.int8, s, elements=st.sampled_from([-1, 0, 1])))


# -- Cole .npy ---------------------------------------------------------------------------------------------


def test_from_cole_swaps_zero_and_minus_one() -> None:
    cole = np.array([[1, 0, -1], [0, 0, 1]], dtype=np.float32)  # Cole stores floats
    assert from_cole(cole).tolist() == [[1, -1, 0], [-1, -1, 1]]
    assert from_cole(cole).dtype == np.int8
    assert to_cole([[1, -1, 0], [-1, -1, 1]]).tolist() == [[1, 0, -1], [0, 0, 1]]


def test_read_cole_npy(tmp_path: Path) -> None:
    path = tmp_path / "formatted_train_labels_obs.npy"
    np.save(path, np.array([[0.0, 1.0], [-1.0, 0.0]]))
    assert read_cole_npy(path).tolist() == [[-1, 1], [0, -1]]
    full = tmp_path / "formatted_train_labels.npy"
    np.save(full, np.array([[0, 1], [1, 1]], dtype=np.int64))
    assert read_cole_npy(full, kind="full").tolist() == [[0, 1], [1, 1]]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (np.array([[1, 2]]), "entry (0, 1) is 2"),
        (np.array([1, 0, -1]), "2-d"),
        (np.array([[0.5, 1.0]]), "non-integer"),
        (np.array([["a", "b"]]), "dtype"),
    ],
)
def test_read_cole_npy_errors_name_the_file(tmp_path: Path, content: np.ndarray, expected: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, content)
    with pytest.raises(PartialMLError, match=re.escape(expected)) as info:
        read_cole_npy(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_read_cole_npy_missing_and_full_with_unknown(tmp_path: Path) -> None:
    with pytest.raises(PartialMLError, match="not found"):
        read_cole_npy(tmp_path / "missing.npy")
    path = tmp_path / "full.npy"
    np.save(path, np.array([[1, -1]]))
    with pytest.raises(PartialMLError, match="expected 1 or 0"):
        read_cole_npy(path, kind="full")


@SETTINGS
@given(labels=label_matrices())
def test_cole_npy_round_trip(tmp_path: Path, labels: np.ndarray) -> None:
    path = tmp_path / "obs.npy"
    np.save(path, to_cole(labels).astype(np.float32))
    np.testing.assert_array_equal(read_cole_npy(path), labels)
    np.testing.assert_array_equal(from_cole(to_cole(labels)), labels)


@SETTINGS
@given(data=st.binary(max_size=300), keep_magic=st.booleans())
def test_garbage_npy_raises_only_partialml_error(tmp_path: Path, data: bytes, keep_magic: bool) -> None:
    path = tmp_path / "garbage.npy"
    path.write_bytes((b"\x93NUMPY\x01\x00" if keep_magic else b"") + data)
    try:
        read_cole_npy(path)
    except PartialMLError as err:
        assert "\n" not in str(err)


# -- text lists --------------------------------------------------------------------------------------------

SAMPLE = "COCO_a.jpg,0\nCOCO_b.jpg, 8 41\nCOCO_c.jpg,\n\nCOCO_d.jpg ,  3 \n"


def test_read_text_lists_formats(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text(SAMPLE)
    names, labels = read_text_lists(path, 80)
    assert names == ["COCO_a.jpg", "COCO_b.jpg", "COCO_c.jpg", "COCO_d.jpg"]
    assert labels.shape == (4, 80) and labels.dtype == np.int8
    assert [np.flatnonzero(r == 1).tolist() for r in labels] == [[0], [8, 41], [], [3]]
    assert set(np.unique(labels).tolist()) == {-1, 1}
    _, negative = read_text_lists(path, 80, unlisted="negative")
    assert set(np.unique(negative).tolist()) == {0, 1}
    np.testing.assert_array_equal(negative == 1, labels == 1)


def test_read_text_lists_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "win.txt"
    path.write_bytes("\ufeffa.jpg,1 2\r\nb.jpg,0\r\n".encode())
    names, labels = read_text_lists(path, 3)
    assert names == ["a.jpg", "b.jpg"]
    assert labels.tolist() == [[-1, 1, 1], [1, -1, -1]]


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("a.jpg,1\nb.jpg 2\n", 2, "missing comma"),
        ("a.jpg,1\nb.jpg,x\n", 2, "bad class index 'x'"),
        ("a.jpg,1\nb.jpg,-1\n", 2, "bad class index '-1'"),
        ("a.jpg,1.5\n", 1, "bad class index"),
        ("a.jpg,1\n\nb.jpg,5\n", 3, "class index 5 out of range; expected 0..4"),
        ("a.jpg,1\nb.jpg,2\na.jpg,3\n", 3, "duplicate sample name 'a.jpg' (first on line 1)"),
        ("a.jpg,1 1\n", 1, "listed twice"),
        (",1\n", 1, "empty sample name"),
    ],
)
def test_read_text_lists_errors(tmp_path: Path, content: str, line: int, expected: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(PartialMLError) as info:
        read_text_lists(path, 5)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert expected in message
    assert "\n" not in message
    assert info.value.line == line


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_read_text_lists_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(PartialMLError, match="empty"):
        read_text_lists(path, 5)


def test_read_text_lists_not_utf8_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf\xe9.jpg,1\n")
    with pytest.raises(PartialMLError, match="UTF-8"):
        read_text_lists(path, 5)
    with pytest.raises(PartialMLError, match="not found"):
        read_text_lists(tmp_path / "nope.txt", 5)


def test_write_text_lists_format_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    write_text_lists(path, ["a", "b"], [[1, 0, 1], [-1, -1, -1]])
    assert path.read_text() == "a,0 2\nb,\n"
    with pytest.raises(PartialMLError, match="comma"):
        write_text_lists(path, ["a,b", "c"], [[1], [0]])
    with pytest.raises(PartialMLError, match="duplicate"):
        write_text_lists(path, ["a", "a"], [[1], [0]])
    with pytest.raises(PartialMLError, match="2 sample names for 3"):
        write_text_lists(path, ["a", "b"], [[1], [0], [1]])
    assert path.read_text() == "a,0 2\nb,\n"  # a failed write leaves the earlier file


names_strategy = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=",\n\r"),
    min_size=1,
    max_size=12,
).filter(lambda s: s == s.strip() and not s.startswith("\ufeff"))


@SETTINGS
@given(
    labels=label_matrices(max_rows=10, max_cols=12).filter(lambda a: a.shape[0] > 0),
    data=st.data(),
)
def test_text_lists_round_trip(tmp_path: Path, labels: np.ndarray, data: st.DataObject) -> None:
    names = data.draw(
        st.lists(names_strategy, min_size=labels.shape[0], max_size=labels.shape[0], unique=True)
    )
    path = tmp_path / "round.txt"
    write_text_lists(path, names, labels)
    read_names, read = read_text_lists(path, labels.shape[1])
    assert read_names == names
    np.testing.assert_array_equal(read == 1, labels == 1)  # the format keeps positives only
    assert set(np.unique(read).tolist()) <= {-1, 1}
    _, as_negative = read_text_lists(path, labels.shape[1], unlisted="negative")
    np.testing.assert_array_equal(as_negative, (labels == 1).astype(np.int8))


@SETTINGS
@given(lines=st.lists(st.text(max_size=30), max_size=6), raw=st.binary(max_size=60))
def test_garbage_text_raises_only_partialml_error(tmp_path: Path, lines: list[str], raw: bytes) -> None:
    path = tmp_path / "garbage.txt"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + raw)
    try:
        names, labels = read_text_lists(path, 7)
    except PartialMLError as err:
        assert "\n" not in str(err)
    else:
        assert labels.shape == (len(names), 7)


# -- dense 0/1 and CSL -------------------------------------------------------------------------------------


def test_dense01_and_csl() -> None:
    full = np.array([[0, 1], [1, 1]])
    assert from_dense01(full).tolist() == full.tolist()
    assert to_dense01(from_dense01(full)).tolist() == full.tolist()
    with pytest.raises(PartialMLError, match="expected 1 or 0"):
        from_dense01([[0, -1]])
    with pytest.raises(PartialMLError, match="expected 1 or 0"):
        to_dense01([[0, -1]])
    assert to_dense01([[0, -1, 1]], unknown="negative").tolist() == [[0, 0, 1]]
    csl = torch.tensor([[1, 0, -1]])
    assert from_csl(csl).tolist() == [[1, 0, -1]]
    assert to_csl(from_csl(csl)).tolist() == [[1, 0, -1]]
    with pytest.raises(PartialMLError, match="CSL labels entry"):
        from_csl([[2, 0]])


@SETTINGS
@given(labels=label_matrices())
def test_dense_and_csl_round_trips(labels: np.ndarray) -> None:
    np.testing.assert_array_equal(from_csl(to_csl(labels)), labels)
    full = (labels == 1).astype(np.int64)
    np.testing.assert_array_equal(from_dense01(to_dense01(full)), full)
