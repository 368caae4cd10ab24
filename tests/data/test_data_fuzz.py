"""Property tests: the ARFF (Mulan) and CSV readers, fed mutated small files, raise only PartialMLError.

Each example applies a few random edits (delete, insert, replace, duplicate or swap lines, insert tokens that
matter to the grammar) to a valid file. Whatever the reader does with it, it either returns a dataset that
passes :func:`check_feature_data` or raises :class:`PartialMLError` with a one-line message naming the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partialml.data import FeatureData, check_feature_data, read_csv, read_mulan
from partialml.errors import PartialMLError

DENSE = """@relation tiny
@attribute f1 numeric
@attribute 'f 2' real
@attribute colour {red,green}
@attribute A {0,1}
@attribute B {0,1}
@data
0.5,1.0,red,1,0
1.5,-2.0,green,0,1
% comment
2.5,3e0,green,1,1
"""

SPARSE = """@relation sp
@attribute f0 numeric
@attribute f1 {1,0}
@attribute A {0,1}
@attribute B numeric
@data
{0 1.5,3 1}
{1 0,2 1}
{ }
"""

XML = '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="B"/><label name="A"/></labels>\n'

CSV = """id,f0,f1,label:cat,label:dog,observed:cat,observed:dog,split
a,0.5,1.0,1,0,1,,train
b,0.1,-2e-1,,1,,,test
c,3,4,0,1,-1,1,train
"""

TOKENS = [
    ",", "{", "}", "'", '"', "?", "%", " ", "\n", "\r\n", "\t", "@data", "@attribute", "@relation", "numeric",
    "string", "date", "{0,1}", "nan", "inf", "-inf", "1e999", "-1", "2", "0", "1", "label:", "observed:", "id",
    "split", "test", "train", "\\", "\x00", "é", "\ufeff", "<label name='C'/>", "</labels>",
]  # fmt: skip

EDITS = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 12)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.sampled_from(TOKENS)),
    st.tuples(st.just("text"), st.integers(0, 10_000), st.text(max_size=6)),
    st.tuples(st.just("replace"), st.integers(0, 10_000), st.sampled_from(TOKENS)),
    st.tuples(st.just("dup_line"), st.integers(0, 10_000), st.just("")),
    st.tuples(st.just("swap_lines"), st.integers(0, 10_000), st.just("")),
    st.tuples(st.just("drop_line"), st.integers(0, 10_000), st.just("")),
)


def mutate(text: str, edits: list[tuple[str, int, object]]) -> str:
    for kind, where, arg in edits:
        if kind in ("dup_line", "swap_lines", "drop_line"):
            lines = text.split("\n")
            i = where % len(lines)
            if kind == "dup_line":
                lines.insert(i, lines[i])
            elif kind == "drop_line":
                del lines[i]
            else:
                j = (i + 1) % len(lines)
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
            continue
        pos = where % (len(text) + 1)
        if kind == "delete":
            assert isinstance(arg, int)
            text = text[:pos] + text[pos + arg :]
        elif kind == "replace":
            text = text[:pos] + str(arg) + text[pos + len(str(arg)) :]
        else:
            text = text[:pos] + str(arg) + text[pos:]
    return text


def assert_ok_or_clean_error(read: object, path: Path) -> None:
    try:
        data = read()  # type: ignore[operator]
    except PartialMLError as err:
        message = str(err)
        assert "\n" not in message and "\r" not in message, message
        assert path.name in message or str(path.parent) in message, message
        return
    assert isinstance(data, FeatureData)
    check_feature_data(data)
    assert data.train.x.dtype == np.float32 and np.isfinite(data.train.x).all()
    assert set(np.unique(data.train.labels)) <= {-1, 0, 1}


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    base=st.sampled_from([DENSE, SPARSE]),
    edits=st.lists(EDITS, min_size=1, max_size=4),
    mutate_xml=st.booleans(),
    xml_edits=st.lists(EDITS, min_size=1, max_size=2),
)
def test_arff_reader_fuzz(
    base: str,
    edits: list[tuple[str, int, object]],
    mutate_xml: bool,
    xml_edits: list[tuple[str, int, object]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "fz"
        folder.mkdir()
        arff_path = folder / "fz.arff"
        arff_path.write_text(mutate(base, edits), encoding="utf-8", errors="surrogatepass")
        (folder / "fz.xml").write_text(mutate(XML, xml_edits) if mutate_xml else XML, encoding="utf-8")
        assert_ok_or_clean_error(lambda: read_mulan(folder), arff_path)


@FUZZ
@given(edits=st.lists(EDITS, min_size=1, max_size=4))
def test_csv_reader_fuzz(edits: list[tuple[str, int, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fz.csv"
        path.write_text(mutate(CSV, edits), encoding="utf-8", errors="surrogatepass", newline="")
        assert_ok_or_clean_error(lambda: read_csv(path), path)


def test_mutate_changes_text() -> None:
    """The mutation helper does what the fuzz tests assume (so the fuzzing is not vacuous)."""
    assert mutate("abc\ndef", [("delete", 1, 1)]) == "ac\ndef"
    assert mutate("abc\ndef", [("insert", 0, "{")]) == "{abc\ndef"
    assert mutate("abc\ndef", [("swap_lines", 0, "")]) == "def\nabc"
    assert mutate("abc\ndef", [("drop_line", 1, "")]) == "abc"
    assert mutate("abc", [("replace", 1, "XY")]) == "aXY"
