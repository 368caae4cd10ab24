"""Shipped datasets: published shapes and cardinalities, yeast's labels matched by name, path resolution.

Reference numbers not produced by partialml: the shapes and train cardinalities are Mulan's published table
(yeast 1500/917 x 103, 14 labels, 4.228; scene 1211/1196 x 294, 6 labels; corel5k 4500/500 x 499, 374 labels,
3.522). The per-class positive counts and the corel5k totals were computed once from the raw Mulan ARFF files
with a separate throw-away parser (splitting rows on commas and indexing columns by ``@attribute`` name), not
with liac-arff or this package.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from partialml.data import (
    builtin_dataset_path,
    builtin_datasets,
    load_feature_data,
    read_mulan_xml,
    resolve_data_path,
)
from partialml.errors import PartialMLError

#: name -> (train rows, test rows, features, classes, train cardinality, test cardinality)
PUBLISHED = {
    "yeast": (1500, 917, 103, 14, 4.228, 4.252),
    "scene": (1211, 1196, 294, 6, 1.062, 1.086),
    "corel5k": (4500, 500, 499, 374, 3.522, 3.526),
}

#: Positives per class in yeast-train.arff, counted by attribute name from the raw file.
YEAST_TRAIN_POSITIVES = {
    "Class1": 476, "Class2": 645, "Class3": 598, "Class4": 532, "Class5": 441, "Class6": 378, "Class7": 261,
    "Class8": 289, "Class9": 98, "Class10": 161, "Class11": 198, "Class12": 1128, "Class13": 1116, "Class14": 21,
}  # fmt: skip
YEAST_XML_ORDER = [
    "Class1", "Class2", "Class3", "Class6", "Class4", "Class10", "Class11", "Class5", "Class7", "Class8",
    "Class9", "Class12", "Class13", "Class14",
]  # fmt: skip
#: scene positives per class (train, test), counted from the raw files.
SCENE_POSITIVES = {
    "Beach": (227, 200), "Sunset": (165, 199), "FallFoliage": (197, 200), "Field": (196, 237),
    "Mountain": (277, 256), "Urban": (224, 207),
}  # fmt: skip


@pytest.fixture(scope="module")
def loaded() -> dict[str, object]:
    return {name: load_feature_data(resolve_data_path(name)) for name in builtin_datasets()}


def test_builtin_names() -> None:
    assert builtin_datasets() == ["corel5k", "scene", "yeast"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_shapes_and_cardinality(loaded: dict, name: str) -> None:
    n_train, n_test, d, c, card_train, card_test = PUBLISHED[name]
    data = loaded[name]
    assert data.name == name
    assert data.train.x.shape == (n_train, d) and data.test.x.shape == (n_test, d)
    assert data.train.labels.shape == (n_train, c) and data.test.labels.shape == (n_test, c)
    assert (data.num_classes, data.num_features) == (c, d)
    assert data.train.x.dtype == np.float32 and data.train.labels.dtype == np.int8
    # Full labels: only 1 and 0, no annotation mask, no names.
    assert set(np.unique(data.train.labels)) <= {0, 1}
    assert data.train.observed is None and data.train.ids is None
    assert (data.train.labels == 1).sum(1).mean() == pytest.approx(card_train, abs=5e-4)
    assert (data.test.labels == 1).sum(1).mean() == pytest.approx(card_test, abs=5e-4)
    assert np.isfinite(data.train.x).all()


def test_yeast_labels_matched_by_name_not_position(loaded: dict) -> None:
    data = loaded["yeast"]
    assert data.class_names == YEAST_XML_ORDER
    counts = dict(zip(data.class_names, (data.train.labels == 1).sum(0).tolist(), strict=True))
    assert counts == YEAST_TRAIN_POSITIVES
    # Column 3 is Class6 (378 positives), not the ARFF's 4th label attribute Class4 (532).
    assert int((data.train.labels[:, 3] == 1).sum()) == 378
    # First feature values of the first training row, read off the raw file.
    np.testing.assert_allclose(data.train.x[0, :3], [0.0937, 0.139771, 0.062774], rtol=1e-6)


def test_scene_per_class_counts(loaded: dict) -> None:
    data = loaded["scene"]
    assert data.class_names == list(SCENE_POSITIVES)
    train = (data.train.labels == 1).sum(0).tolist()
    test = (data.test.labels == 1).sum(0).tolist()
    assert list(zip(train, test, strict=True)) == list(SCENE_POSITIVES.values())
    np.testing.assert_allclose(data.test.x[0, :3], [0.983225, 0.981488, 0.978542], rtol=1e-6)


def test_corel5k_sparse_totals(loaded: dict) -> None:
    data = loaded["corel5k"]
    assert data.class_names[0] == "city"
    assert int((data.train.labels == 1).sum()) == 15847
    assert int((data.train.labels[:, data.class_names.index("water")] == 1).sum()) == 1004
    assert int((data.train.labels[:, 0] == 1).sum()) == 67
    # Features are binary visual words: 36,794 ones in the train split (omitted sparse values are 0).
    assert set(np.unique(data.train.x)) == {0.0, 1.0}
    assert float(data.train.x.sum()) == 36794.0
    # Long tail: some words never occur in the test split.
    assert int(((data.test.labels == 1).sum(0) == 0).sum()) == 111


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shipped_files_and_source_record(name: str) -> None:
    folder = builtin_dataset_path(name)
    assert folder.is_dir() and folder.name == name
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(["SOURCE.md", f"{name}-train.arff.gz", f"{name}-test.arff.gz", f"{name}.xml"])
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    assert "gzip" in source.lower() and "licen" in source.lower() and "cite" in source.lower()
    # SOURCE.md records the sha256 of the original (uncompressed) ARFF files: the shipped content matches.
    recorded = set(re.findall(r"\b[0-9a-f]{64}\b", source))
    for split in ("train", "test"):
        raw = gzip.decompress((folder / f"{name}-{split}.arff.gz").read_bytes())
        assert hashlib.sha256(raw).hexdigest() in recorded
    assert hashlib.sha256((folder / f"{name}.xml").read_bytes()).hexdigest() in recorded


def test_shipped_data_is_small() -> None:
    total = sum(p.stat().st_size for name in builtin_datasets() for p in builtin_dataset_path(name).iterdir())
    assert total < 5 * 1024 * 1024


def test_yeast_xml_order() -> None:
    assert read_mulan_xml(builtin_dataset_path("yeast") / "yeast.xml") == YEAST_XML_ORDER


def test_resolve_existing_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "yeast").mkdir()
    assert resolve_data_path("yeast") == Path("yeast")
    assert resolve_data_path(tmp_path / "yeast") == tmp_path / "yeast"


def test_resolve_builtin_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_data_path("scene") == builtin_dataset_path("scene")


def test_resolve_unknown_lists_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PartialMLError) as info:
        resolve_data_path("yaest")
    message = str(info.value)
    assert "yaest" in message and "\n" not in message
    assert all(name in message for name in builtin_datasets())


def test_builtin_dataset_path_unknown() -> None:
    with pytest.raises(PartialMLError, match="corel5k, scene, yeast"):
        builtin_dataset_path("mnist")
