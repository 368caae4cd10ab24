"""Mulan reader: dense and sparse ARFF, labels matched by name, gzip, and every bad-input case."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from partialml.data import load_feature_data, read_mulan, read_mulan_files, read_mulan_xml
from partialml.errors import PartialMLError


def test_dense_labels_follow_xml_order_by_name(dense_mulan: Path, tiny: SimpleNamespace) -> None:
    data = read_mulan(dense_mulan)
    assert data.name == "tiny"
    assert data.class_names == ["C", "A", "B"]
    assert data.train.x.dtype == np.float32
    np.testing.assert_array_equal(data.train.x, np.array(tiny.DENSE_TRAIN_X, dtype=np.float32))
    np.testing.assert_array_equal(data.train.labels, tiny.DENSE_TRAIN_Y)
    assert data.test is not None
    np.testing.assert_array_equal(data.test.x, np.array(tiny.DENSE_TEST_X, dtype=np.float32))
    np.testing.assert_array_equal(data.test.labels, tiny.DENSE_TEST_Y)
    assert data.train.labels.dtype == np.int8
    assert data.train.observed is None and data.train.ids is None
    assert (data.num_classes, data.num_features) == (3, 3)


def test_same_result_from_xml_path_gzip_and_dispatcher(tmp_path: Path, tiny: SimpleNamespace) -> None:
    plain = tiny.write_mulan(
        tmp_path / "a", "tiny", train=tiny.DENSE_TRAIN, test=tiny.DENSE_TEST, xml=tiny.SHUFFLED_XML
    )
    gz = tiny.write_mulan(
        tmp_path / "b", "tiny", train=tiny.DENSE_TRAIN, test=tiny.DENSE_TEST, xml=tiny.SHUFFLED_XML, gz=True
    )
    ref = read_mulan(plain)
    for other in (
        read_mulan(gz),
        read_mulan(plain / "tiny.xml"),
        load_feature_data(gz),
        load_feature_data(plain),
    ):
        np.testing.assert_array_equal(other.train.x, ref.train.x)
        np.testing.assert_array_equal(other.train.labels, ref.train.labels)
        assert other.test is not None and ref.test is not None
        np.testing.assert_array_equal(other.test.labels, ref.test.labels)
        assert other.class_names == ref.class_names


def test_sparse_arff_follows_weka_defaults(sparse_mulan: Path, tiny: SimpleNamespace) -> None:
    data = read_mulan(sparse_mulan)
    assert data.test is None
    assert data.class_names == ["L1", "L2"]
    np.testing.assert_array_equal(data.train.x, np.array(tiny.SPARSE_X, dtype=np.float32))
    np.testing.assert_array_equal(data.train.labels, tiny.SPARSE_Y)


def test_single_arff_path_reads_that_file_alone(dense_mulan: Path, tiny: SimpleNamespace) -> None:
    data = read_mulan(dense_mulan / "tiny-test.arff")
    assert data.test is None
    np.testing.assert_array_equal(data.train.labels, tiny.DENSE_TEST_Y)


def test_explicit_files(dense_mulan: Path, tiny: SimpleNamespace) -> None:
    data = read_mulan_files(dense_mulan / "tiny.xml", dense_mulan / "tiny-test.arff", name="x")
    assert data.name == "x" and data.test is None
    np.testing.assert_array_equal(data.train.x, np.array(tiny.DENSE_TEST_X, dtype=np.float32))


def test_numeric_label_attributes_are_accepted(tmp_path: Path) -> None:
    arff = "@relation r\n@attribute x numeric\n@attribute y numeric\n@data\n1,1\n2,0.0\n"
    xml = '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="y"/></labels>'
    folder = tmp_path / "n"
    folder.mkdir()
    (folder / "n.arff").write_text(arff)
    (folder / "n.xml").write_text(xml)
    data = read_mulan(folder)
    np.testing.assert_array_equal(data.train.labels, [[1], [0]])


def test_hierarchical_xml_labels_in_document_order(tmp_path: Path) -> None:
    xml = tmp_path / "h.xml"
    xml.write_text(
        '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="p"><label name="c1"/>'
        '<label name="c2"/></label><label name="q"/></labels>'
    )
    assert read_mulan_xml(xml) == ["p", "c1", "c2", "q"]


# -- errors -------------------------------------------------------------------------------------------------


def _expect_error(call, file_part: str, *words: str, line: int | None = None) -> PartialMLError:  # type: ignore[no-untyped-def]
    with pytest.raises(PartialMLError) as info:
        call()
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert file_part in message, message
    for word in words:
        assert word in message, message
    if line is not None:
        assert err.line == line, message
    return err


def _folder(
    tmp_path: Path, tiny: SimpleNamespace, *, train: str | None = None, xml: str | None = None
) -> Path:
    return tiny.write_mulan(
        tmp_path / "bad",
        "bad",
        train=train if train is not None else tiny.DENSE_TRAIN,
        test=tiny.DENSE_TEST,
        xml=xml if xml is not None else tiny.SHUFFLED_XML,
    )


def test_folder_without_xml(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = tiny.write_mulan(
        tmp_path / "noxml", "noxml", train=tiny.DENSE_TRAIN, test=tiny.DENSE_TEST, xml=None
    )
    _expect_error(lambda: read_mulan(folder), "noxml", "NAME.xml")


def test_folder_with_two_xml(dense_mulan: Path) -> None:
    (dense_mulan / "other.xml").write_text("<labels/>")
    _expect_error(lambda: read_mulan(dense_mulan), "tiny", "several XML")


def test_train_without_test(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = tiny.write_mulan(
        tmp_path / "half", "half", train=tiny.DENSE_TRAIN, test=None, xml=tiny.SHUFFLED_XML
    )
    _expect_error(lambda: read_mulan(folder), "half", "half-test.arff")


def test_xml_without_arff(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = tiny.write_mulan(tmp_path / "empty", "empty", train=None, test=None, xml=tiny.SHUFFLED_XML)
    _expect_error(lambda: read_mulan(folder), "empty", "no ARFF")


def test_label_missing_from_arff(tmp_path: Path, tiny: SimpleNamespace) -> None:
    xml = tiny.SHUFFLED_XML.replace('name="B"', 'name="Z"')
    folder = _folder(tmp_path, tiny, xml=xml)
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "'Z'", "bad.xml")


def test_label_value_not_binary(tmp_path: Path, tiny: SimpleNamespace) -> None:
    arff = "@relation r\n@attribute x numeric\n@attribute y numeric\n@data\n1,1\n2,2\n"
    xml = '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="y"/></labels>'
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "v.arff").write_text(arff)
    (folder / "v.xml").write_text(xml)
    _expect_error(lambda: read_mulan(folder), "v.arff", "'y'", "expected 0 or 1", line=6)


def test_label_declared_with_other_values(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(
        tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("@attribute B {0,1}", "@attribute B {0,1,2}")
    )
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "'B'", "{0,1}")


def test_missing_label_value(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("0.5,1.0,red,1,0,0", "0.5,1.0,red,1,?,0"))
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "'B'", line=12)


def test_nominal_label_value_outside_declaration(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(
        tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("1.5,-2.0,green,0,1,1", "1.5,-2.0,green,0,1,5")
    )
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "malformed ARFF", line=13)


def test_row_with_too_few_values(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("2.5,3e0,green,1,1,0", "2.5,green,1,1,0"))
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "malformed ARFF data row", line=15)


def test_bad_attribute_declaration(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(
        tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("@attribute f1 numeric", "@attribute f1 bogus")
    )
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "malformed ARFF header", line=4)


def test_string_feature_rejected(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(
        tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("@attribute f1 numeric", "@attribute f1 string")
    )
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "'f1'", "numeric or nominal")


def test_missing_feature(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("1.5,-2.0,green", "?,-2.0,green"))
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "'f1'", "missing", line=13)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e39"])
def test_non_finite_feature(tmp_path: Path, tiny: SimpleNamespace, bad: str) -> None:
    folder = _folder(tmp_path, tiny, train=tiny.DENSE_TRAIN.replace("2.5,3e0,green", f"2.5,{bad},green"))
    err = _expect_error(lambda: read_mulan(folder), "bad-train.arff", "'f 2'", "row 2", "finite", line=15)
    assert err.path is not None and err.path.endswith("bad-train.arff")


def test_no_data_rows(tmp_path: Path, tiny: SimpleNamespace) -> None:
    header = tiny.DENSE_TRAIN.split("@data")[0] + "@data\n"
    folder = _folder(tmp_path, tiny, train=header)
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "no data row")


def test_no_data_section(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = _folder(tmp_path, tiny, train=tiny.DENSE_TRAIN.split("@data")[0])
    _expect_error(lambda: read_mulan(folder), "bad-train.arff", "malformed ARFF")


def test_train_and_test_features_differ(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = tiny.write_mulan(
        tmp_path / "d",
        "d",
        train=tiny.DENSE_TRAIN,
        test=tiny.DENSE_TEST.replace("@attribute f1 numeric", "@attribute g1 numeric"),
        xml=tiny.SHUFFLED_XML,
    )
    _expect_error(lambda: read_mulan(folder), "d-test.arff", "'g1'", "same features")


def test_train_and_test_feature_counts_differ(tmp_path: Path, tiny: SimpleNamespace) -> None:
    test = (
        tiny.DENSE_TEST.replace("@attribute colour {red,green}\n", "")
        .replace(",red,", ",")
        .replace(",green,", ",")
    )
    folder = tiny.write_mulan(tmp_path / "d", "d", train=tiny.DENSE_TRAIN, test=test, xml=tiny.SHUFFLED_XML)
    _expect_error(lambda: read_mulan(folder), "d-test.arff", "2 feature attributes", "train has 3")


def test_label_missing_from_test_only(tmp_path: Path, tiny: SimpleNamespace) -> None:
    test = tiny.DENSE_TEST.replace("@attribute C {0,1}", "@attribute D {0,1}")
    folder = tiny.write_mulan(tmp_path / "d", "d", train=tiny.DENSE_TRAIN, test=test, xml=tiny.SHUFFLED_XML)
    _expect_error(lambda: read_mulan(folder), "d-test.arff", "'C'")


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        ("<labels><label name='a'>", ("malformed XML",)),
        ("<labels></labels>", ("no label",)),
        ("<labels><label/></labels>", ("no name",)),
        ("<labels><label name='a'/><label name='a'/></labels>", ("twice",)),
        ("<classes><label name='a'/></classes>", ("<labels>",)),
    ],
)
def test_bad_xml(tmp_path: Path, tiny: SimpleNamespace, xml: str, words: tuple[str, ...]) -> None:
    folder = _folder(tmp_path, tiny, xml=xml)
    _expect_error(lambda: read_mulan(folder), "bad.xml", *words)


def test_xml_parse_error_has_line(tmp_path: Path) -> None:
    xml = tmp_path / "x.xml"
    xml.write_text("<labels>\n<label name='a'/>\n<label name='b'\n</labels>\n")
    err = _expect_error(lambda: read_mulan_xml(xml), "x.xml", "malformed XML")
    assert err.line == 4


def test_corrupt_gzip(tmp_path: Path, tiny: SimpleNamespace) -> None:
    folder = tiny.write_mulan(tmp_path / "g", "g", train=None, test=None, xml=tiny.SHUFFLED_XML)
    (folder / "g.arff.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    _expect_error(lambda: read_mulan(folder), "g.arff.gz", "cannot read")


def test_latin1_file_is_read(tmp_path: Path, tiny: SimpleNamespace) -> None:
    text = tiny.DENSE_TRAIN.replace("% a tiny dense Mulan file", "% caf\xe9")
    folder = tiny.write_mulan(tmp_path / "l", "l", train=None, test=None, xml=tiny.SHUFFLED_XML)
    (folder / "l.arff").write_bytes(text.encode("latin-1"))
    data = read_mulan(folder)
    np.testing.assert_array_equal(data.train.labels, tiny.DENSE_TRAIN_Y)
