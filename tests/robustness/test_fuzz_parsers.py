"""hypothesis fuzzing of every text parser: whatever the bytes, only PartialMLError may escape.

Each parser gets 1,000 examples (``FUZZ_EXAMPLES``; raise it with ``PARTIALML_FUZZ_EXAMPLES=20000`` to
fuzz longer). Inputs are small: random text, token soups built from the format's own syntax, and
mutations (truncation, insertion, deletion) of a valid file. A reader may also succeed; it must then
return labels in the partialml encoding.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partialml.errors import PartialMLError

FUZZ_EXAMPLES = int(os.environ.get("PARTIALML_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
pytestmark = pytest.mark.slow  # ~1,000 examples per parser; the whole file stays well under 90 s


def fuzz_text(valid: str, tokens: list[str]) -> st.SearchStrategy[str]:
    """Random text, token soups of the format's syntax, and mutations of ``valid``."""

    @st.composite
    def mutated(draw: Any) -> str:
        text = valid
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(text)))
            kind = draw(st.sampled_from(["cut", "insert", "delete", "truncate"]))
            if kind == "truncate":
                text = text[:i]
            elif kind == "insert":
                text = text[:i] + draw(st.sampled_from(tokens) | st.text(max_size=3)) + text[i:]
            elif kind == "delete":
                text = text[:i] + text[i + draw(st.integers(1, 5)) :]
            else:
                j = draw(st.integers(i, len(text)))
                text = text[:i] + text[j:]
        return text

    soup = st.lists(st.sampled_from(tokens), max_size=40).map("".join)
    return st.one_of(st.text(max_size=120), soup, mutated())


def _check_result(result: Any) -> None:
    labels = getattr(result, "labels", None)
    if labels is None and isinstance(result, tuple):
        labels = result[1]
    if isinstance(labels, np.ndarray) and labels.size:
        assert set(np.unique(labels).tolist()) <= {-1, 0, 1}


def _only_partialml_errors(call: Callable[[], Any]) -> None:
    try:
        result = call()
    except PartialMLError as err:
        assert "\n" not in str(err), str(err)
        return
    _check_result(result)


_DIR = Path(tempfile.mkdtemp(prefix="partialml-fuzz-"))


def _file(name: str, text: str) -> Path:
    path = _DIR / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


# -- ARFF (through the Mulan reader) ----------------------------------------------------------------------

XML = '<?xml version="1.0"?>\n<labels xmlns="http://mulan.sourceforge.net/labels"><label name="a"/><label name="b"/></labels>\n'
ARFF = (
    "@relation toy\n@attribute f0 numeric\n@attribute f1 numeric\n@attribute a {0,1}\n@attribute b {0,1}\n"
    "@data\n0.1,0.2,1,0\n0.3,0.4,0,1\n{0 1.5,2 1}\n"
)
ARFF_TOKENS = ["@relation", "@attribute", "@data", " numeric", " {0,1}", "{", "}", ",", "\n", "%", "?", "'", '"',
               "0", "1", "-1", "2", "1e999", "nan", " a", " b", "f0", " real", " string", " ", "\t"]  # fmt: skip


@FUZZ
@given(text=fuzz_text(ARFF, ARFF_TOKENS))
def test_fuzz_arff_via_mulan_reader(text: str) -> None:
    from partialml.data import read_mulan_files

    xml = _file("toy.xml", XML)
    arff = _file("toy.arff", text)
    _only_partialml_errors(lambda: read_mulan_files(xml, arff))


@FUZZ
@given(text=fuzz_text(XML, ["<label", ' name="', '"/>', "</labels>", "<labels>", "<", ">", "&", "x"]))
def test_fuzz_mulan_xml(text: str) -> None:
    from partialml.data import read_mulan_xml

    _only_partialml_errors(lambda: read_mulan_xml(_file("fuzz.xml", text)))


# -- text lists -------------------------------------------------------------------------------------------

LISTS = "img1.jpg,0 2\nimg2.jpg, 1\nimg3.jpg,\n"


@FUZZ
@given(
    text=fuzz_text(LISTS, [",", " ", "\n", "0", "1", "2", "3", "-1", "a", "\ufeff", "\r\n", "+1", "x.jpg"])
)
def test_fuzz_read_text_lists(text: str) -> None:
    from partialml.labels import read_text_lists

    _only_partialml_errors(lambda: read_text_lists(_file("lists.txt", text), 3))


# -- CSV features -----------------------------------------------------------------------------------------

CSV = "id,f0,f1,label:a,label:b,split\ns1,0.5,1.0,1,0,train\ns2,0.1,0.2,,1,test\ns3,1,2,0,-1,train\n"
CSV_TOKENS = [",", "\n", '"', "id", "f0", "label:a", "observed:a", "split", "train", "test", "0", "1", "-1",
              "", "nan", "inf", "1e5", "x", " ", "label:"]  # fmt: skip


@FUZZ
@given(text=fuzz_text(CSV, CSV_TOKENS))
def test_fuzz_csv_feature_reader(text: str) -> None:
    from partialml.data import read_csv

    _only_partialml_errors(lambda: read_csv(_file("toy.csv", text)))


# -- image-label readers ----------------------------------------------------------------------------------

VOC = "000005 -1\n000007  1\n000009  0\n"
COCO = (
    '{"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}], '
    '"annotations": [{"image_id": 1, "category_id": 3}], "categories": [{"id": 3, "name": "cat"}]}'
)
IMAGE_CSV = "path,labels\na.jpg,cat dog\nb.jpg,\n"
JSONL = '{"path": "a.jpg", "labels": ["cat"]}\n{"path": "b.jpg", "labels": []}\n'
JSON_TOKENS = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"',
    "1",
    "-1",
    "null",
    "true",
    '"id"',
    '"images"',
    '"name"',
    "\n",
]


@FUZZ
@given(text=fuzz_text(VOC, [" ", "\n", "1", "-1", "0", "2", "000005", "\t", "x"]))
def test_fuzz_voc_class_file(text: str) -> None:
    from partialml.data.voc import parse_voc_class_file

    _only_partialml_errors(lambda: parse_voc_class_file(text, path="cls_trainval.txt"))


@FUZZ
@given(text=fuzz_text(COCO, JSON_TOKENS))
def test_fuzz_coco_instances(text: str) -> None:
    from partialml.data.coco import parse_coco_text

    _only_partialml_errors(lambda: parse_coco_text(text, path="instances.json"))


@FUZZ
@given(text=fuzz_text(IMAGE_CSV, [",", "\n", '"', "path", "labels", "cat", "dog", " ", "1", "0", "-1", ";"]))
def test_fuzz_generic_image_csv(text: str) -> None:
    from partialml.data.generic import parse_image_csv

    _only_partialml_errors(lambda: parse_image_csv(text, path="labels.csv"))


@FUZZ
@given(text=fuzz_text(JSONL, [*JSON_TOKENS, '"path"', '"labels"', '"cat"']))
def test_fuzz_generic_image_jsonl(text: str) -> None:
    from partialml.data.generic import parse_image_jsonl

    _only_partialml_errors(lambda: parse_image_jsonl(text, path="labels.jsonl"))
