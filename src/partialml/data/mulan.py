"""Reader of Mulan multi-label datasets: ARFF data plus an XML file naming the label attributes.

Layout (Tsoumakas et al., "Mulan: A Java Library for Multi-Label Learning", JMLR 12, 2011): a folder ``DIR``
holding

* ``NAME.xml``: ``<labels xmlns="http://mulan.sourceforge.net/labels"><label name="..."/>...</labels>``;
  nested (hierarchical) ``label`` elements are all labels, in document order;
* ``NAME-train.arff`` and ``NAME-test.arff`` (each may be gzipped: ``.arff.gz``; the plain file wins when
  both exist), or a single ``NAME.arff`` (``.arff.gz``) for a dataset without a test split (``test=None``).

Conventions:

* **Label attributes are matched by name**, never by position: Mulan's ``yeast.xml`` lists ``Class1,
  Class2, Class3, Class6, Class4, ...`` while the ARFF declares ``Class1 ... Class14`` in numeric order.
  **The class order is the XML order** (so ``yeast`` class 3 is ``Class6``). Every attribute not named in
  the XML is a feature, in ARFF order.
* Label attributes must be nominal with values among ``{0,1}`` or numeric; their values must be 0 or 1
  (a missing ``?`` label is an error). The labels are full labels: ``observed`` is ``None``.
* Features may be numeric (``numeric``/``real``/``integer``) or nominal; a nominal feature whose declared
  values are all numbers takes that number (``{0,1}`` -> 0.0/1.0), otherwise the 0-based index of the value
  in the declaration. ``string`` and ``date`` attributes are rejected. A missing feature (``?``) is an error.
* Sparse ARFF rows (``{index value, ...}``) follow Weka's rule: an omitted numeric value is 0 and an omitted
  nominal value is the *first* declared value. Files are read as UTF-8 (a byte-order mark is skipped),
  falling back to Latin-1.
* ARFF has no sample names: ``ids`` is ``None`` (rows are named by their 0-based position).

Parsing uses ``liac-arff`` (package ``arff``); its exceptions become one-line
:class:`~partialml.errors.PartialMLError` messages with the file and line.

Example:
    >>> from partialml.data.builtin import builtin_dataset_path
    >>> data = read_mulan(builtin_dataset_path("scene"))
    >>> data.train.x.shape, data.class_names[:2]
    ((1211, 294), ['Beach', 'Sunset'])
"""

from __future__ import annotations

import gzip
import math
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arff
import numpy as np

from partialml.data.features import FeatureData, FeatureSplit, check_feature_data, check_unique
from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE

__all__ = ["read_arff", "read_mulan", "read_mulan_files", "read_mulan_xml"]

_MESSAGE_LIMIT = 200
_LABEL_VALUES = {"0": 0, "1": 1, 0.0: 0, 1.0: 1}


def _one_line(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def read_text(path: Path, *, what: str) -> str:
    """The text of ``path`` (gunzipped when its name ends in ``.gz``): UTF-8, else Latin-1."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise PartialMLError(f"file not found; expected {what}", path=path) from None
    except (OSError, EOFError, zlib.error) as err:
        raise PartialMLError(
            f"cannot read ({_one_line(str(err) or type(err).__name__)}); expected {what}", path=path
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# -- XML ----------------------------------------------------------------------------------------------------


def read_mulan_xml(path: str | Path) -> list[str]:
    """The label names of a Mulan XML file, in document order.

    Raises:
        PartialMLError: unreadable or malformed XML (with its line), a ``label`` without ``name``, no label,
            or a repeated name.

    Example:
        >>> from partialml.data.builtin import builtin_dataset_path
        >>> read_mulan_xml(builtin_dataset_path("yeast") / "yeast.xml")[:4]
        ['Class1', 'Class2', 'Class3', 'Class6']
    """
    p = Path(path)
    text = read_text(p, what="a Mulan label XML file")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        raise PartialMLError(
            f"malformed XML ({_one_line(str(err))}); expected a Mulan <labels> file", path=p, line=line
        ) from None
    except Exception as err:  # expat may raise other errors on odd input; all are problems with the file
        raise PartialMLError(
            f"malformed XML ({_one_line(str(err) or type(err).__name__)}); expected a Mulan <labels> file",
            path=p,
        ) from None
    if _local(root.tag) != "labels":
        raise PartialMLError(
            f"root element is <{_local(root.tag)}>; expected <labels> (Mulan format)", path=p
        )
    names: list[str] = []
    for element in root.iter():
        if element is root or _local(element.tag) != "label":
            continue
        name = element.get("name")
        if name is None:
            raise PartialMLError("a <label> element has no name attribute; expected <label name=...>", path=p)
        names.append(name)
    if not names:
        raise PartialMLError("names no label; expected at least one <label name=...> element", path=p)
    check_unique(names, source=p, what="label name")
    return names


def _local(tag: Any) -> str:
    text = tag if isinstance(tag, str) else str(tag)
    return text.rsplit("}", 1)[-1]


# -- ARFF ---------------------------------------------------------------------------------------------------


@dataclass
class _Layout:
    """Where each ARFF attribute goes: a feature column or a label column."""

    feature_names: list[str]
    feature_col: dict[int, int]
    label_col: dict[int, int]
    nominal: dict[int, dict[str, float]]
    default_x: np.ndarray
    default_y: np.ndarray


def _nominal_map(values: list[str]) -> dict[str, float]:
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return {v: float(i) for i, v in enumerate(values)}
    return dict(zip(values, numbers, strict=True))


def _layout(attributes: list[tuple[str, Any]], class_names: list[str], path: Path, xml_name: str) -> _Layout:
    index = {name: i for i, (name, _) in enumerate(attributes)}
    label_col: dict[int, int] = {}
    default_y = np.zeros(len(class_names), dtype=LABEL_DTYPE)
    for j, name in enumerate(class_names):
        if name not in index:
            raise PartialMLError(
                f"label {name!r} named in {xml_name} is not an attribute of this ARFF file; expected an "
                "attribute with that exact name",
                path=path,
            )
        k = index[name]
        kind = attributes[k][1]
        if isinstance(kind, list | tuple):
            if not kind or not set(kind) <= {"0", "1"}:
                raise PartialMLError(
                    f"label attribute {name!r} is declared {{{','.join(map(str, kind))}}}; expected {{0,1}}",
                    path=path,
                )
            default_y[j] = int(kind[0])
        elif kind not in ("NUMERIC", "REAL", "INTEGER"):
            raise PartialMLError(
                f"label attribute {name!r} has type {kind}; expected nominal {{0,1}} or numeric", path=path
            )
        label_col[k] = j
    feature_col: dict[int, int] = {}
    nominal: dict[int, dict[str, float]] = {}
    feature_names: list[str] = []
    defaults: list[float] = []
    for k, (name, kind) in enumerate(attributes):
        if k in label_col:
            continue
        if isinstance(kind, list | tuple):
            if any(v is None or v == "" for v in kind):
                raise PartialMLError(
                    f"attribute {name!r} declares an empty nominal value; expected {{v1,v2,...}}", path=path
                )
            nominal[k] = _nominal_map(list(kind))
            defaults.append(nominal[k][kind[0]] if kind else 0.0)
        elif kind in ("NUMERIC", "REAL", "INTEGER"):
            defaults.append(0.0)
        else:
            raise PartialMLError(
                f"feature attribute {name!r} has type {kind}; expected numeric or nominal", path=path
            )
        feature_col[k] = len(feature_names)
        feature_names.append(name)
    if not feature_names:
        raise PartialMLError(
            "has no feature attribute (every attribute is a label); expected features", path=path
        )
    return _Layout(
        feature_names=feature_names,
        feature_col=feature_col,
        label_col=label_col,
        nominal=nominal,
        default_x=np.asarray(defaults, dtype=np.float64),
        default_y=default_y,
    )


def _arff_reason(err: BaseException, line: int | None) -> str:
    if isinstance(err, arff.ArffException) and line is not None:
        err.line = line
    try:
        text = str(err)
    except Exception:
        text = ""
    return _one_line(f"{type(err).__name__}: {text}" if text else type(err).__name__)


def _first_data_row(lines: list[str]) -> str | None:
    in_data = False
    for raw in lines:
        row = raw.strip()
        if not row:
            continue
        if in_data:
            if not row.startswith("%"):
                return row
        elif row.upper().startswith("@DATA"):
            in_data = True
    return None


def _fill(
    items: Iterator[tuple[int, Any]] | Any,
    xrow: np.ndarray,
    yrow: np.ndarray,
    layout: _Layout,
    attributes: list[tuple[str, Any]],
    path: Path,
    line: int,
) -> None:
    feature_col, label_col, nominal = layout.feature_col, layout.label_col, layout.nominal
    for k, value in items:
        col = feature_col.get(k)
        if col is not None:
            if value is None:
                raise PartialMLError(
                    f"feature {attributes[k][0]!r} is missing ('?'); expected a number", path=path, line=line
                )
            xrow[col] = nominal[k][value] if k in nominal else value
            continue
        j = label_col.get(k)
        if j is None:
            continue
        y = _LABEL_VALUES.get(value) if value is not None else None
        if y is None:
            shown = "?" if value is None else value
            raise PartialMLError(
                f"label {attributes[k][0]!r} is {shown!r}; expected 0 or 1", path=path, line=line
            )
        yrow[j] = y


def read_arff(
    path: str | Path, class_names: list[str], *, xml_name: str = "the XML"
) -> tuple[FeatureSplit, list[str]]:
    """Read one Mulan ARFF file (dense or sparse, optionally gzipped) into a split.

    Args:
        path: the ``.arff`` or ``.arff.gz`` file.
        class_names: the label attribute names, in the wanted column order (the XML order).
        xml_name: how to name the XML file in messages.

    Returns:
        ``(split, feature_names)``: ``split.x`` is ``(N, D)`` float32, ``split.labels`` ``(N, C)`` int8 in
        ``{0, 1}``, ``observed`` and ``ids`` are ``None``; ``feature_names`` are the ``D`` feature
        attributes in ARFF order.

    Raises:
        PartialMLError: malformed ARFF (liac-arff's error with the line), a label missing from the ARFF, a
            label value other than 0/1, a missing or non-finite feature value, no data row.
    """
    p = Path(path)
    lines = read_text(p, what="an ARFF file").split("\n")
    sparse = (_first_data_row(lines) or "").startswith("{")
    decoder = arff.ArffDecoder()
    try:
        obj = decoder.decode(lines, return_type=arff.LOD_GEN if sparse else arff.DENSE_GEN)
    except Exception as err:  # liac-arff raises many types on bad input; all mean a malformed file
        line = getattr(decoder, "_current_line", None)
        raise PartialMLError(
            f"malformed ARFF header ({_arff_reason(err, line)}); expected @relation, @attribute lines, @data",
            path=p,
            line=line,
        ) from None
    attributes: list[tuple[str, Any]] = [(str(a[0]), a[1]) for a in obj["attributes"]]
    layout = _layout(attributes, class_names, p, xml_name)
    rows_x: list[np.ndarray] = []
    rows_y: list[np.ndarray] = []
    row_lines: list[int] = []
    data = iter(obj["data"])
    while True:
        try:
            row = next(data)
        except StopIteration:
            break
        except Exception as err:  # a bad data row (liac-arff error, conversion error)
            line = getattr(decoder, "_current_line", None)
            raise PartialMLError(
                f"malformed ARFF data row ({_arff_reason(err, line)}); expected values "
                f"matching the {len(attributes)} @attribute declarations",
                path=p,
                line=line,
            ) from None
        line = int(getattr(decoder, "_current_line", 0))
        xrow = layout.default_x.copy()
        yrow = layout.default_y.copy()
        try:
            items = row.items() if isinstance(row, dict) else enumerate(row)
            _fill(items, xrow, yrow, layout, attributes, p, line)
        except (TypeError, ValueError, KeyError, OverflowError) as err:
            if isinstance(err, PartialMLError):
                raise
            raise PartialMLError(
                f"malformed ARFF data row ({_one_line(str(err) or type(err).__name__)})", path=p, line=line
            ) from None
        rows_x.append(xrow)
        rows_y.append(yrow)
        row_lines.append(line)
    if not rows_x:
        raise PartialMLError("has no data row; expected at least one sample after @data", path=p)
    x64 = np.stack(rows_x)
    with np.errstate(over="ignore"):
        x = x64.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        value = float(x64[r, c])
        shown = f"{value!r} (beyond float32)" if math.isfinite(value) else repr(value)
        raise PartialMLError(
            f"feature {layout.feature_names[c]!r} is {shown} in data row {r} (0-based); expected a finite number",
            path=p,
            line=row_lines[r],
        )
    split = FeatureSplit(x=x, labels=np.stack(rows_y), observed=None, ids=None)
    return split, layout.feature_names


# -- folder -------------------------------------------------------------------------------------------------


def _first_existing(folder: Path, stem: str) -> Path | None:
    for suffix in (".arff", ".arff.gz"):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _arff_stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".arff"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def read_mulan_files(
    xml: str | Path, train: str | Path, test: str | Path | None = None, *, name: str | None = None
) -> FeatureData:
    """Read a Mulan dataset from explicit files (any names).

    Args:
        xml: the label XML file.
        train: the training ARFF (``.arff`` or ``.arff.gz``).
        test: the test ARFF, or ``None`` for no test split.
        name: the dataset name; defaults to the XML file's stem.

    Raises:
        PartialMLError: see :func:`read_arff` and :func:`read_mulan_xml`; also train and test ARFF files
            whose feature attributes differ.
    """
    xml_path = Path(xml)
    class_names = read_mulan_xml(xml_path)
    train_split, train_features = read_arff(train, class_names, xml_name=xml_path.name)
    test_split: FeatureSplit | None = None
    if test is not None:
        test_split, test_features = read_arff(test, class_names, xml_name=xml_path.name)
        if test_features != train_features:
            if len(test_features) != len(train_features):
                detail = f"{len(test_features)} feature attributes, train has {len(train_features)}"
            else:
                k = next(
                    i for i, (a, b) in enumerate(zip(test_features, train_features, strict=True)) if a != b
                )
                detail = f"feature attribute {k} is {test_features[k]!r}, train has {train_features[k]!r}"
            raise PartialMLError(f"{detail}; expected the same features as {Path(train).name}", path=test)
    data = FeatureData(
        name=name if name is not None else xml_path.stem,
        class_names=class_names,
        train=train_split,
        test=test_split,
        source=str(xml_path.parent),
    )
    check_feature_data(data)
    return data


def read_mulan(path: str | Path) -> FeatureData:
    """Read a Mulan dataset folder (see the module docstring for the layout and conventions).

    Args:
        path: the folder, its ``NAME.xml``, or one ARFF file of it (``NAME.arff``, ``NAME-train.arff``,
            gzipped or not). A folder must hold exactly one ``.xml`` file (otherwise pass the XML). An ARFF
            path reads that file alone as the train split (``test=None``), with labels from the folder's
            ``NAME.xml`` (``NAME`` is the file stem without ``-train``/``-test``).

    Returns:
        :class:`FeatureData` with ``name=NAME``, classes in XML order, full 0/1 labels, ``observed=None``,
        ``ids=None``, ``source`` the folder.

    Raises:
        PartialMLError: no XML, several XML files, a train file without its test file (or the reverse), no
            ARFF file, and every error of :func:`read_mulan_files`.
    """
    p = Path(path)
    if p.is_dir():
        xmls = sorted(q for q in p.glob("*.xml") if q.is_file())
        if not xmls:
            raise PartialMLError(
                "folder has no NAME.xml; expected a Mulan folder with NAME.xml and ARFF files", path=p
            )
        if len(xmls) > 1:
            names = ", ".join(q.name for q in xmls)
            raise PartialMLError(
                f"folder has several XML files ({names}); expected one (or pass the XML file)", path=p
            )
        xml = xmls[0]
    elif p.name.lower().endswith(".xml"):
        xml = p
    elif p.name.lower().endswith((".arff", ".arff.gz")):
        stem = _arff_stem(p)
        base = stem.removesuffix("-train").removesuffix("-test")
        xml = p.parent / f"{base}.xml"
        if not xml.is_file():
            raise PartialMLError(
                f"no {xml.name} next to this ARFF file; expected the Mulan label XML", path=p
            )
        return read_mulan_files(xml, p, None, name=base)
    else:
        raise PartialMLError("expected a Mulan folder, its NAME.xml, or an .arff/.arff.gz file", path=p)
    if not xml.is_file():
        raise PartialMLError("file not found; expected a Mulan label XML file", path=xml)
    folder, name = xml.parent, xml.stem
    train = _first_existing(folder, f"{name}-train")
    test = _first_existing(folder, f"{name}-test")
    if train is not None and test is not None:
        return read_mulan_files(xml, train, test, name=name)
    if train is not None or test is not None:
        have, lack = ("train", "test") if train is not None else ("test", "train")
        raise PartialMLError(
            f"has {name}-{have}.arff but no {name}-{lack}.arff(.gz); expected both, or a single {name}.arff",
            path=folder,
        )
    single = _first_existing(folder, name)
    if single is None:
        raise PartialMLError(
            f"has {xml.name} but no ARFF data; expected {name}-train.arff + {name}-test.arff or {name}.arff "
            "(each may be .arff.gz)",
            path=folder,
        )
    return read_mulan_files(xml, single, None, name=name)
