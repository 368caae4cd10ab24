"""NUS-WIDE reader on a tiny folder in the official layout (3 concepts instead of 81)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partialml.data.image_labels import read_image_labels
from partialml.data.nuswide import read_nuswide
from partialml.errors import PartialMLError

CONCEPTS = ["airport", "animal", "beach"]
TRAIN = ["actor\\0001_2124494179.jpg", "actor\\0002_174174086.jpg", "airport\\0003_1234.jpg"]
TEST = ["zebra\\0009_9.jpg"]
TRAIN_LABELS = {"airport": [0, 0, 1], "animal": [1, 0, 0], "beach": [1, 1, 0]}
TEST_LABELS = {"airport": [0], "animal": [1], "beach": [0]}


def _make(tmp_path: Path, nested: bool = False) -> Path:
    root = tmp_path / "NUS-WIDE"
    concepts_dir = root / "ConceptsList" if nested else root
    labels_dir = root / "Groundtruth" / "TrainTestLabels" if nested else root / "TrainTestLabels"
    for d in (concepts_dir, labels_dir, root / "ImageList"):
        d.mkdir(parents=True, exist_ok=True)
    (concepts_dir / "Concepts81.txt").write_text("\r\n".join(CONCEPTS) + "\r\n")
    (root / "ImageList" / "TrainImagelist.txt").write_text("\r\n".join(TRAIN) + "\r\n")
    (root / "ImageList" / "TestImagelist.txt").write_text("\r\n".join(TEST) + "\r\n")
    for tag, table in (("Train", TRAIN_LABELS), ("Test", TEST_LABELS)):
        for concept, values in table.items():
            (labels_dir / f"Labels_{concept}_{tag}.txt").write_text("".join(f"{v} \r\n" for v in values))
    return root


@pytest.mark.parametrize("nested", [False, True])
def test_train_and_test(tmp_path: Path, nested: bool) -> None:
    root = _make(tmp_path, nested)
    s = read_nuswide(root)
    assert s.class_names == CONCEPTS
    assert s.paths == ["actor/0001_2124494179.jpg", "actor/0002_174174086.jpg", "airport/0003_1234.jpg"]
    np.testing.assert_array_equal(s.labels, [[0, 1, 1], [0, 0, 1], [1, 0, 0]])
    t = read_image_labels(root, format="nus", split="test")
    np.testing.assert_array_equal(t.labels, [[0, 1, 0]])
    assert t.paths == ["zebra/0009_9.jpg"]


def test_bad_inputs(tmp_path: Path) -> None:
    root = _make(tmp_path)
    f = root / "TrainTestLabels" / "Labels_animal_Train.txt"
    f.write_text("1\n0\n")
    with pytest.raises(PartialMLError, match=r"Labels_animal_Train\.txt: has 2 labels for 3 images"):
        read_nuswide(root)
    f.write_text("1\n0\n2\n")
    with pytest.raises(PartialMLError, match=r"Labels_animal_Train\.txt:3: value '2'"):
        read_nuswide(root)
    f.unlink()
    with pytest.raises(PartialMLError, match=r"Labels_animal_Train\.txt: file not found"):
        read_nuswide(root)
    (root / "ImageList" / "TestImagelist.txt").write_text("a\\1.jpg\na/1.jpg\n")
    with pytest.raises(PartialMLError, match=r"TestImagelist\.txt:2: duplicate image 'a/1.jpg'"):
        read_nuswide(root, split="test")
    (root / "Concepts81.txt").write_text("airport\nairport\n")
    with pytest.raises(PartialMLError, match=r"Concepts81\.txt:2: duplicate concept"):
        read_nuswide(root)
    with pytest.raises(PartialMLError, match=r"has no Concepts81\.txt"):
        read_nuswide(tmp_path)
    with pytest.raises(PartialMLError, match="split='val'"):
        read_nuswide(root, split="val")  # type: ignore[arg-type]
