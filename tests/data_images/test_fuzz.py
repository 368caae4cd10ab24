"""Property tests: on arbitrary input the VOC list parsers, the COCO reader and the generic CSV reader either
return a valid label set or raise PartialMLError (never another exception)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partialml.data.coco import parse_coco_instances, parse_coco_text
from partialml.data.generic import parse_image_csv, parse_image_jsonl
from partialml.data.image_labels import ImageLabelSet
from partialml.data.voc import parse_voc_class_file, parse_voc_id_list
from partialml.errors import PartialMLError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text biased towards the characters these formats use
_ALPHABET = st.sampled_from([*"0123456789 -+1\t\r\n,|\"'abc.jpg{}[]:", "\x00", "é", "\u2028", "\ufeff"])
format_text = st.one_of(st.text(), st.text(alphabet=_ALPHABET, max_size=200))


def _check_valid(s: ImageLabelSet) -> None:
    assert s.labels.dtype == np.int8 and s.labels.shape == (len(s.paths), len(s.class_names))
    assert set(np.unique(s.labels).tolist()) <= {-1, 0, 1}
    assert len(set(s.paths)) == len(s.paths) and len(set(s.class_names)) == len(s.class_names)


def _voc_line() -> st.SearchStrategy[str]:
    ids = st.sampled_from(["000005", "000007", "000009", "a", ""])
    flags = st.sampled_from(["1", "-1", "0", " 1", "2", "", "x"])
    return st.builds(
        lambda i, f, sep, end: f"{i}{sep}{f}{end}",
        ids,
        flags,
        st.sampled_from([" ", "  ", "\t", ""]),
        st.sampled_from(["\n", "\r\n", ""]),
    )


@FUZZ
@given(st.one_of(format_text, st.lists(_voc_line(), max_size=8).map("".join)))
def test_voc_parsers_only_raise_partialml_error(text: str) -> None:
    try:
        ids, lines = parse_voc_id_list(text, path="trainval.txt")
        assert len(ids) == len(lines) == len(set(ids)) > 0
    except PartialMLError as err:
        assert "trainval.txt" in str(err) and "\n" not in str(err)
    try:
        ids, flags, lines = parse_voc_class_file(text, path="cat_trainval.txt")
        assert len(ids) == flags.shape[0] == len(lines) > 0 and set(flags.tolist()) <= {-1, 0, 1}
    except PartialMLError as err:
        assert "cat_trainval.txt" in str(err)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 100),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.sampled_from([1, 3, 90, "x.jpg", 1.0]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_ids = st.one_of(st.integers(0, 5), st.sampled_from([True, 1.0, "1", None]))
_category = st.fixed_dictionaries({"id": _ids, "name": st.sampled_from(["person", "car", "dog", 3])})
_image = st.fixed_dictionaries({"id": _ids, "file_name": st.sampled_from(["a.jpg", "b.jpg", "c.jpg", 7])})
_annotation = st.fixed_dictionaries(
    {"image_id": _ids, "category_id": _ids, "iscrowd": st.sampled_from([0, 1])}
)
_instances = st.fixed_dictionaries(
    {},
    optional={
        "categories": st.one_of(st.lists(_category, max_size=4), _json),
        "images": st.one_of(st.lists(_image, max_size=4), _json),
        "annotations": st.one_of(st.lists(_annotation, max_size=6), _json),
    },
)


@st.composite
def _plausible_instances(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid instances (unique ids, annotations on listed ids), with an occasional foreign value."""
    cat_ids = draw(st.lists(st.integers(1, 90), min_size=1, max_size=4, unique=True))
    img_ids = draw(st.lists(st.integers(0, 10**6), max_size=5, unique=True))
    junk = st.sampled_from([None, True, 1.5, "7", 10**7, -1])
    cat_ref = st.one_of(st.sampled_from(cat_ids), junk) if draw(st.booleans()) else st.sampled_from(cat_ids)
    anns = []
    if img_ids:
        img_ref = st.sampled_from(img_ids)
        for _ in range(draw(st.integers(0, 6))):
            anns.append(
                {
                    "image_id": draw(img_ref),
                    "category_id": draw(cat_ref),
                    "iscrowd": draw(st.sampled_from([0, 1])),
                }
            )
    return {
        "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids],
        "images": [{"id": i, "file_name": f"{i:012d}.jpg"} for i in img_ids],
        "annotations": anns,
    }


@FUZZ
@given(st.one_of(_instances, _json, _plausible_instances()), st.sampled_from(["drop", "keep"]))
def test_coco_reader_only_raises_partialml_error(data: Any, empty: str) -> None:
    try:
        s = parse_coco_instances(data, path="instances.json", empty_images=empty)  # type: ignore[arg-type]
    except PartialMLError as err:
        assert str(err).startswith("instances.json") and "\n" not in str(err)
        return
    _check_valid(s)
    assert set(np.unique(s.labels).tolist()) <= {0, 1}
    if empty == "drop":
        assert (s.labels == 1).any(axis=1).all()


@FUZZ
@given(st.one_of(format_text, _instances.map(json.dumps)))
def test_coco_text_only_raises_partialml_error(text: str) -> None:
    try:
        _check_valid(parse_coco_text(text, path="instances.json"))
    except PartialMLError as err:
        assert "instances.json" in str(err)


_cells = st.sampled_from(["1", "0", "-1", "", " ", "2", "cat", "dog|cat", "cat||", '"a,b"', "x.jpg", "a.jpg"])
_name_cells = st.sampled_from(["", "cat", "dog|cat", "bird", " dog "])
_value_cells = st.sampled_from(["1", "0", "-1", "", " "])
_valid_headers = ["path,labels", "path,labels,negatives", "path,cat,dog", "path,negatives,labels"]
_headers = st.sampled_from([*_valid_headers * 4, "path", "image,labels", "path,cat,cat"])


@st.composite
def _csv_doc(draw: st.DrawFn) -> str:
    """A header and rows that mostly have the header's width (a ragged row or bad cell now and then)."""
    header = draw(_headers)
    width = header.count(",") + 1
    rows = []
    good = _name_cells if "labels" in header else _value_cells
    cell = st.one_of(good, good, good, good, good, _cells)
    for r in range(draw(st.integers(0, 4)) + draw(st.integers(0, 1))):
        n = draw(st.sampled_from([*[width] * 12, width + 1, max(1, width - 1)]))
        first = draw(st.sampled_from([*[f"img{r}.jpg"] * 12, "a.jpg", ""]))
        rows.append(",".join([first, *(draw(cell) for _ in range(n - 1))]))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return header + end + end.join(rows)


@FUZZ
@given(
    st.one_of(format_text, _csv_doc(), _csv_doc()),
    st.sampled_from([None, ["cat", "dog"], ["cat"]]),
    st.sampled_from(["unknown", "negative"]),
)
def test_generic_csv_only_raises_partialml_error(text: str, classes: list[str] | None, unlisted: str) -> None:
    try:
        s = parse_image_csv(text, path="labels.csv", classes=classes, unlisted=unlisted)  # type: ignore[arg-type]
    except PartialMLError as err:
        assert "labels.csv" in str(err) or "classes" in str(err)
        assert "\n" not in str(err)
        return
    _check_valid(s)
    if classes is not None:
        assert s.class_names == classes


@FUZZ
@given(format_text)
def test_generic_jsonl_only_raises_partialml_error(text: str) -> None:
    try:
        _check_valid(parse_image_jsonl(text, path="labels.jsonl"))
    except PartialMLError as err:
        assert "labels.jsonl" in str(err)
