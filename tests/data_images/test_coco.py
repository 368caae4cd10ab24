"""COCO reader on a tiny synthetic instances JSON with non-contiguous category ids (1, 3, 90)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from partialml.data.coco import parse_coco_instances, read_coco
from partialml.data.image_labels import read_image_labels
from partialml.errors import PartialMLError


def _instances() -> dict[str, Any]:
    return {
        "info": {"year": 2014},
        # listed out of id order on purpose: the columns follow ascending ids 1, 3, 90
        "categories": [
            {"id": 90, "name": "toothbrush", "supercategory": "indoor"},
            {"id": 1, "name": "person", "supercategory": "person"},
            {"id": 3, "name": "car", "supercategory": "vehicle"},
        ],
        "images": [
            {"id": 42, "file_name": "COCO_train2014_000000000042.jpg", "width": 640, "height": 480},
            {"id": 7, "file_name": "COCO_train2014_000000000007.jpg"},
            {"id": 99, "file_name": "COCO_train2014_000000000099.jpg"},  # no annotation
            {"id": 5, "file_name": "COCO_train2014_000000000005.jpg"},
        ],
        "annotations": [
            {"id": 1, "image_id": 42, "category_id": 90, "iscrowd": 0, "bbox": [0, 0, 1, 1]},
            {"id": 2, "image_id": 42, "category_id": 1, "iscrowd": 0},
            {"id": 3, "image_id": 42, "category_id": 1, "iscrowd": 0},  # a second person box
            {"id": 4, "image_id": 7, "category_id": 3, "iscrowd": 1},  # crowd counts as positive
            {"id": 5, "image_id": 5, "category_id": 1, "iscrowd": 0},
        ],
    }


def _write(tmp_path: Path, data: Any, name: str = "instances_train2014.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data), encoding="utf-8")
    return p


def test_mapping_and_drop(tmp_path: Path) -> None:
    s = read_coco(_write(tmp_path, _instances()))
    assert s.class_names == ["person", "car", "toothbrush"]
    assert s.paths == [
        "COCO_train2014_000000000042.jpg",
        "COCO_train2014_000000000007.jpg",
        "COCO_train2014_000000000005.jpg",
    ]
    np.testing.assert_array_equal(s.labels, [[1, 0, 1], [0, 1, 0], [1, 0, 0]])
    assert s.labels.dtype == np.int8 and s.observed is None


def test_keep_empty_images(tmp_path: Path) -> None:
    s = read_coco(_write(tmp_path, _instances()), empty_images="keep")
    assert len(s) == 4 and s.paths[2].endswith("099.jpg")
    np.testing.assert_array_equal(s.labels[2], [0, 0, 0])


def test_folder_with_split(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    _write(tmp_path / "annotations", _instances(), "instances_val2014.json")
    s = read_image_labels(tmp_path, format="coco", split="val2014")
    assert len(s) == 3
    with pytest.raises(PartialMLError, match=r"instances_train2014\.json"):
        read_image_labels(tmp_path, format="coco")
    with pytest.raises(PartialMLError, match="split='train2017' given with a JSON file"):
        read_coco(tmp_path / "annotations" / "instances_val2014.json", split="train2017")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("categories"), "has no 'categories' list"),
        (lambda d: d.update(categories=[]), "empty 'categories'"),
        (lambda d: d.update(images={}), "'images' is a dict; expected a list"),
        (lambda d: d["categories"].append({"id": 3, "name": "other"}), r"categories\[3\] repeats id 3"),
        (lambda d: d["categories"].append({"id": 4, "name": "car"}), r"repeats name 'car'"),
        (lambda d: d["categories"][0].update(id="90"), r"categories\[0\].id is '90'; expected an integer"),
        (lambda d: d["categories"][0].update(id=True), r"categories\[0\].id is True"),
        (lambda d: d["images"].append({"id": 42, "file_name": "x.jpg"}), "repeats image id 42"),
        (
            lambda d: d["images"].append({"id": 43, "file_name": "COCO_train2014_000000000042.jpg"}),
            "repeats file_name",
        ),
        (lambda d: d["images"][1].pop("file_name"), r"images\[1\] has no 'file_name'"),
        (lambda d: d["annotations"].append({"image_id": 1000, "category_id": 1}), "image id 1000"),
        (lambda d: d["annotations"].append({"image_id": 42, "category_id": 2}), "unknown|category id 2"),
        (lambda d: d["annotations"].append([42, 1]), r"annotations\[5\] is a list"),
        (lambda d: d.update(annotations=[]), "has no annotated image"),
    ],
)
def test_bad_inputs_name_the_file(tmp_path: Path, mutate: Any, message: str) -> None:
    data = _instances()
    mutate(data)
    p = _write(tmp_path, data)
    with pytest.raises(PartialMLError, match=message) as info:
        read_coco(p)
    assert str(info.value).startswith(str(p)) and "\n" not in str(info.value)


def test_not_json_empty_and_wrong_top_level(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"categories": [\n  {"id": 1,, }\n]}', encoding="utf-8")
    with pytest.raises(PartialMLError, match=r"bad\.json:2: is not valid JSON"):
        read_coco(p)
    p.write_text("", encoding="utf-8")
    with pytest.raises(PartialMLError, match="is empty"):
        read_coco(p)
    with pytest.raises(PartialMLError, match="top level is a list"):
        parse_coco_instances([], path="x.json")
    with pytest.raises(PartialMLError, match="file not found"):
        read_coco(tmp_path / "missing.json")
    with pytest.raises(PartialMLError, match="empty_images="):
        read_coco(_write(tmp_path, _instances()), empty_images="skip")  # type: ignore[arg-type]
