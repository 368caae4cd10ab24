"""Generic CSV (name lists and per-class columns) and JSONL image lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from partialml.data.generic import parse_image_csv, parse_image_jsonl, read_image_csv, read_image_jsonl
from partialml.data.image_labels import read_image_labels
from partialml.errors import PartialMLError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csv_name_lists_inferred_classes(tmp_path: Path) -> None:
    p = _write(tmp_path, "l.csv", 'path,labels,negatives\nimg/1.jpg,dog | cat,car\n"img/2, b.jpg",,cat\n\n')
    s = read_image_csv(p)
    assert s.class_names == ["car", "cat", "dog"] and s.paths == ["img/1.jpg", "img/2, b.jpg"]
    np.testing.assert_array_equal(s.labels, [[0, 1, 1], [-1, 0, -1]])
    neg = read_image_labels(p, format="csv", unlisted="negative")
    np.testing.assert_array_equal(neg.labels, [[0, 1, 1], [0, 0, 0]])


def test_csv_name_lists_with_class_file(tmp_path: Path) -> None:
    classes = _write(tmp_path, "classes.txt", "dog\ncat\nbird\n")
    p = _write(tmp_path, "l.csv", "path,labels\na.jpg,cat\nb.jpg,\n")
    s = read_image_csv(p, classes=classes)
    assert s.class_names == ["dog", "cat", "bird"]
    np.testing.assert_array_equal(s.labels, [[-1, 1, -1], [-1, -1, -1]])
    p2 = _write(tmp_path, "bad.csv", "path,labels\na.jpg,cat|horse\n")
    with pytest.raises(PartialMLError, match=r"bad\.csv:2: unknown class 'horse' in labels"):
        read_image_csv(p2, classes=classes)
    assert read_image_csv(p, classes=["cat"]).class_names == ["cat"]


def test_csv_per_class_columns(tmp_path: Path) -> None:
    p = _write(tmp_path, "c.csv", "path,cat,dog,bird\na.jpg,1,, -1\nb.jpg,0,1,0\n")
    s = read_image_csv(p)
    assert s.class_names == ["cat", "dog", "bird"]
    np.testing.assert_array_equal(s.labels, [[1, -1, -1], [0, 1, 0]])
    reordered = read_image_csv(p, classes=["bird", "cat", "dog"])
    np.testing.assert_array_equal(reordered.labels, [[-1, 1, -1], [0, 0, 1]])
    with pytest.raises(PartialMLError, match=r"c\.csv:1: no column for class 'horse'"):
        read_image_csv(p, classes=["bird", "cat", "dog", "horse"])
    with pytest.raises(PartialMLError, match=r"c\.csv:1: unknown class column 'bird'"):
        read_image_csv(p, classes=["cat", "dog"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("path,labels\n", "lists no image"),
        ("image,labels\na.jpg,cat\n", ":1: first column is 'image'"),
        ("path,labels\na.jpg,cat\nb.jpg\n", ":3: has 1 fields; expected 2"),
        ("path,labels\na.jpg,cat\na.jpg,dog\n", ":3: duplicate image 'a.jpg'"),
        ("path,labels\n,cat\n", ":2: has an empty path"),
        ("path,labels,negatives\na.jpg,cat,cat\n", ":2: class 'cat' is both"),
        ("path,labels\na.jpg,cat||dog\n", ":2: empty class name"),
        ("path,labels\na.jpg,\n", "names no class"),
        ("path,cat,dog\na.jpg,1,2\n", ":2: column 'dog' is '2'"),
        ("path,cat,cat\na.jpg,1,0\n", "duplicate column 'cat'"),
        ("path\na.jpg\n", "has only a path column"),
    ],
)
def test_csv_bad_inputs(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, "bad.csv", text)
    with pytest.raises(PartialMLError, match=message) as info:
        read_image_csv(p)
    assert str(info.value).startswith(str(p)) and "\n" not in str(info.value)


def test_jsonl_both_kinds_of_labels(tmp_path: Path) -> None:
    rows = [
        {"path": "a.jpg", "labels": ["cat"], "negatives": ["dog"]},
        {"path": "b.jpg", "labels": ["dog", "bird"]},
        {"path": "c.jpg"},
    ]
    p = _write(tmp_path, "l.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    s = read_image_jsonl(p)
    assert s.class_names == ["bird", "cat", "dog"] and s.paths == ["a.jpg", "b.jpg", "c.jpg"]
    np.testing.assert_array_equal(s.labels, [[-1, 1, 0], [1, -1, 1], [-1, -1, -1]])
    t = read_image_labels(p, format="jsonl", classes=["dog", "cat", "bird", "fish"], unlisted="negative")
    np.testing.assert_array_equal(t.labels, [[0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"path": "a.jpg", "labels": ["cat"]}\n{"path": "a.jpg"}\n', ":2: duplicate image"),
        (
            '{"path": "a.jpg", "labels": ["cat"]}\n{"path": "b.jpg", "negative": ["cat"]}\n',
            ":2: has key 'negative'",
        ),
        ('{"path": "a.jpg", "labels": "cat"}\n', ":1: 'labels' is 'cat'"),
        ('{"labels": ["cat"]}\n', ":1: 'path' is None"),
        ('["a.jpg"]\n', ":1: is a JSON list"),
        ('{"path": "a.jpg", "labels": ["cat"]\n', ":1: is not valid JSON"),
        ('{"path": "a.jpg", "labels": ["cat"], "negatives": ["cat"]}\n', ":1: class 'cat' is both"),
    ],
)
def test_jsonl_bad_inputs(tmp_path: Path, text: str, message: str) -> None:
    p = _write(tmp_path, "bad.jsonl", text)
    with pytest.raises(PartialMLError, match=message) as info:
        read_image_jsonl(p)
    assert str(info.value).startswith(str(p))


def test_parsers_with_classes_sequence_errors() -> None:
    with pytest.raises(PartialMLError, match="classes is empty"):
        parse_image_csv("path,labels\na,cat\n", path="x.csv", classes=[])
    with pytest.raises(PartialMLError, match="duplicate class"):
        parse_image_jsonl('{"path": "a"}\n', path="x.jsonl", classes=["a", "a"])
    with pytest.raises(PartialMLError, match="unlisted="):
        parse_image_jsonl('{"path": "a", "labels": ["c"]}\n', path="x.jsonl", unlisted="zero")  # type: ignore[arg-type]
