"""Small generated fixtures for the feature readers (no file outside the test's temporary folder is read)."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

import pytest

# A dense ARFF: 2 numeric features, 1 nominal non-numeric feature, 3 labels A, B, C declared in that order.
DENSE_TRAIN = """% a tiny dense Mulan file
@relation tiny

@attribute f1 numeric
@attribute 'f 2' real
@attribute colour {red,green}
@attribute A {0,1}
@attribute B {0,1}
@attribute C {0,1}

@data
0.5,1.0,red,1,0,0
1.5,-2.0,green,0,1,1
% a comment between rows
2.5,3e0,green,1,1,0
"""

DENSE_TEST = """@relation tiny-test
@attribute f1 numeric
@attribute 'f 2' real
@attribute colour {red,green}
@attribute A {0,1}
@attribute B {0,1}
@attribute C {0,1}
@data
-1,0,red,0,0,1
4,4,green,1,0,1
"""

#: The XML lists the labels in another order than the ARFF (C, A, B), like Mulan's yeast.xml.
SHUFFLED_XML = """<?xml version="1.0" encoding="utf-8"?>
<labels xmlns="http://mulan.sourceforge.net/labels">
<label name="C"></label>
<label name="A"></label>
<label name="B"></label>
</labels>
"""

# Expected reading of DENSE_TRAIN / DENSE_TEST with SHUFFLED_XML (columns C, A, B).
DENSE_TRAIN_X = [[0.5, 1.0, 0.0], [1.5, -2.0, 1.0], [2.5, 3.0, 1.0]]
DENSE_TRAIN_Y = [[0, 1, 0], [1, 0, 1], [0, 1, 1]]
DENSE_TEST_X = [[-1.0, 0.0, 0.0], [4.0, 4.0, 1.0]]
DENSE_TEST_Y = [[1, 0, 0], [1, 1, 0]]

# A sparse ARFF (Weka's {index value} rows): omitted numeric values are 0, omitted nominal values the first
# declared value. Attribute 1 is a nominal feature declared {1,0}: omitted means 1.
SPARSE = """@relation sp
@attribute f0 numeric
@attribute f1 {1,0}
@attribute f2 numeric
@attribute L1 {0,1}
@attribute L2 {0,1}
@data
{0 1.5,3 1}
{1 0,2 -2,4 1}
{ }
"""

SPARSE_XML = """<?xml version="1.0"?>
<labels xmlns="http://mulan.sourceforge.net/labels"><label name="L1"/><label name="L2"/></labels>
"""

SPARSE_X = [[1.5, 1.0, 0.0], [0.0, 0.0, -2.0], [0.0, 1.0, 0.0]]
SPARSE_Y = [[1, 0], [0, 1], [0, 0]]


def write_mulan(
    folder: Path,
    name: str,
    *,
    train: str | None,
    test: str | None,
    xml: str | None,
    single: str | None = None,
    gz: bool = False,
) -> Path:
    """Write a Mulan folder; ``None`` leaves a file out. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".arff.gz" if gz else ".arff"
    for stem, text in ((f"{name}-train", train), (f"{name}-test", test), (name, single)):
        if text is None:
            continue
        path = folder / f"{stem}{suffix}"
        if gz:
            path.write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            path.write_text(text, encoding="utf-8")
    if xml is not None:
        (folder / f"{name}.xml").write_text(xml, encoding="utf-8")
    return folder


@pytest.fixture
def dense_mulan(tmp_path: Path) -> Path:
    return write_mulan(tmp_path / "tiny", "tiny", train=DENSE_TRAIN, test=DENSE_TEST, xml=SHUFFLED_XML)


@pytest.fixture
def sparse_mulan(tmp_path: Path) -> Path:
    return write_mulan(tmp_path / "sp", "sp", train=None, test=None, xml=SPARSE_XML, single=SPARSE)


@pytest.fixture
def tiny() -> SimpleNamespace:
    """The fixture texts and their expected readings, plus ``write_mulan``."""
    return SimpleNamespace(
        DENSE_TRAIN=DENSE_TRAIN,
        DENSE_TEST=DENSE_TEST,
        SHUFFLED_XML=SHUFFLED_XML,
        DENSE_TRAIN_X=DENSE_TRAIN_X,
        DENSE_TRAIN_Y=DENSE_TRAIN_Y,
        DENSE_TEST_X=DENSE_TEST_X,
        DENSE_TEST_Y=DENSE_TEST_Y,
        SPARSE=SPARSE,
        SPARSE_XML=SPARSE_XML,
        SPARSE_X=SPARSE_X,
        SPARSE_Y=SPARSE_Y,
        write_mulan=write_mulan,
    )
