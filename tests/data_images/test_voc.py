"""VOC reader: values counted by hand from the shipped excerpt of the real VOC 2007 files, and bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from partialml.data.image_labels import read_image_labels
from partialml.data.voc import VOC_CLASSES, parse_voc_class_file, parse_voc_id_list, read_voc
from partialml.errors import PartialMLError

FIXTURE = Path(__file__).parent / "fixtures" / "voc2007"
PERSON = VOC_CLASSES.index("person")


def _col(name: str) -> int:
    return VOC_CLASSES.index(name)


def test_excerpt_counts_by_hand() -> None:
    s = read_voc(FIXTURE)
    assert len(s) == 30 and s.labels.shape == (30, 20) and s.labels.dtype == np.int8
    assert s.class_names == list(VOC_CLASSES)
    assert s.paths[0] == "JPEGImages/000005.jpg" and s.paths[-1] == "JPEGImages/000061.jpg"
    person = s.labels[:, PERSON]
    expected = [
        "000009",
        "000017",
        "000021",
        "000023",
        "000030",
        "000032",
        "000035",
        "000041",
        "000048",
        "000050",
    ]
    assert [s.paths[i][11:17] for i in np.flatnonzero(person == 1)] == expected
    assert int((s.labels == 1).sum()) == 41
    # the three difficult entries of the excerpt become unknown, nothing else does
    unknown = {(s.paths[r][11:17], VOC_CLASSES[c]) for r, c in np.argwhere(s.labels == -1)}
    assert unknown == {("000051", "person"), ("000050", "chair"), ("000035", "diningtable")}
    row = s.paths.index("JPEGImages/000050.jpg")
    assert {VOC_CLASSES[c] for c in np.flatnonzero(s.labels[row] == 1)} == {"bottle", "person"}
    assert s.source == str(FIXTURE)


@pytest.mark.parametrize(("policy", "value"), [("unknown", -1), ("negative", 0), ("positive", 1)])
def test_difficult_policy(policy: str, value: int) -> None:
    s = read_voc(FIXTURE, difficult=policy)  # type: ignore[arg-type]
    r = s.paths.index("JPEGImages/000051.jpg")
    assert s.labels[r, PERSON] == value
    assert s.labels[r, _col("motorbike")] == 1
    assert (s.labels == -1).sum() == (3 if policy == "unknown" else 0)


def test_main_folder_and_dispatcher_agree() -> None:
    a = read_voc(FIXTURE / "ImageSets" / "Main")
    b = read_image_labels(FIXTURE, format="voc")
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.paths == b.paths and a.source == b.source


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "VOC2007"
    shutil.copytree(FIXTURE, root)
    return root


def _main(root: Path) -> Path:
    return root / "ImageSets" / "Main"


def test_empty_images_drop(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    # make 000051 have no positive: its only positive (motorbike) becomes absent
    f = _main(root) / "motorbike_trainval.txt"
    f.write_bytes(f.read_bytes().replace(b"000051  1", b"000051 -1"))
    assert len(read_voc(root)) == 30
    dropped = read_voc(root, empty_images="drop")
    assert len(dropped) == 29 and "JPEGImages/000051.jpg" not in dropped.paths
    # with difficult counted positive, the person-difficult entry keeps it
    assert len(read_voc(root, difficult="positive", empty_images="drop")) == 30


def test_class_file_out_of_order(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    f = _main(root) / "dog_trainval.txt"
    lines = f.read_bytes().split(b"\r\n")
    lines[2], lines[3] = lines[3], lines[2]
    f.write_bytes(b"\r\n".join(lines))
    with pytest.raises(PartialMLError, match=r"dog_trainval\.txt:3: image '000012'"):
        read_voc(root)


def test_class_file_shorter(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    f = _main(root) / "cat_trainval.txt"
    f.write_bytes(b"\r\n".join(f.read_bytes().split(b"\r\n")[:10]))
    with pytest.raises(PartialMLError, match=r"cat_trainval\.txt: lists 10 images"):
        read_voc(root)


def test_missing_class_file(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (_main(root) / "sofa_trainval.txt").unlink()
    with pytest.raises(PartialMLError, match=r"sofa_trainval\.txt: file not found"):
        read_voc(root)


def test_bad_flag_and_ragged_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    f = _main(root) / "bird_trainval.txt"
    original = f.read_bytes()
    f.write_bytes(original.replace(b"000007 -1", b"000007  2", 1))
    with pytest.raises(PartialMLError, match=r"bird_trainval\.txt:2: flag '2'"):
        read_voc(root)
    f.write_bytes(original.replace(b"000007 -1", b"000007 -1 extra", 1))
    with pytest.raises(PartialMLError, match=r"bird_trainval\.txt:2: has 3 fields"):
        read_voc(root)


def test_split_list_problems(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    f = _main(root) / "trainval.txt"
    f.write_bytes(f.read_bytes() + b"000005\r\n")
    with pytest.raises(PartialMLError, match=r"trainval\.txt:31: duplicate image '000005'"):
        read_voc(root)
    f.write_bytes(b"\r\n \r\n")
    with pytest.raises(PartialMLError, match=r"trainval\.txt: is empty"):
        read_voc(root)
    with pytest.raises(PartialMLError, match=r"Main/test\.txt: file not found"):
        read_voc(root, split="test")
    with pytest.raises(PartialMLError, match="not found"):
        read_voc(tmp_path / "nowhere")
    with pytest.raises(PartialMLError, match="difficult="):
        read_voc(root, difficult="ignore")  # type: ignore[arg-type]


def test_parsers_directly() -> None:
    ids, lines = parse_voc_id_list("a\n\nb\r\n", path="x.txt")
    assert ids == ["a", "b"] and lines == [1, 3]
    ids, flags, lines = parse_voc_class_file("a  1\nb -1\r\nc  0\n", path="y.txt")
    assert ids == ["a", "b", "c"] and flags.tolist() == [1, -1, 0] and lines == [1, 2, 3]
    with pytest.raises(PartialMLError, match=r"x\.txt:1: has 2 fields"):
        parse_voc_id_list("a b\n", path="x.txt")
