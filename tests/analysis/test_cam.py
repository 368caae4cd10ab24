"""CAMs and the pointing game: hand-computed CAMs, known-cell hits and misses, tolerance, box readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from partialml.analysis.cam import (
    PointingPair,
    class_activation_maps,
    feature_cams,
    head_cam,
    pointing_hit,
    pointing_summary,
    upsampled_argmax,
)
from partialml.data.boxes import (
    mosaic_boxes,
    parse_boxes_csv,
    read_boxes,
    read_coco_boxes,
    read_voc_boxes,
    scale_boxes,
)
from partialml.errors import PartialMLError
from partialml.models.image_heads import CAMHead, GAPLinearHead, ImageClassifier


class PoolBackbone(nn.Module):
    """A fixed 'backbone': 8 x 8 average pooling of the image, ``(B, 3, H, W) -> (B, 3, H/8, W/8)``."""

    out_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x, 8)


def channel_model(head: str = "linear") -> ImageClassifier:
    """Class k reads channel k (k = 0, 1, 2): weights the identity, bias 0."""
    if head == "linear":
        h: nn.Module = GAPLinearHead(3, 3)
        with torch.no_grad():
            h.fc.weight.copy_(torch.eye(3))
            h.fc.bias.zero_()
    else:
        h = CAMHead(3, 3, alpha=5.0)
        with torch.no_grad():
            h.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            h.conv.bias.zero_()
    return ImageClassifier(PoolBackbone(), h)


def test_linear_head_cam_is_the_hand_computation() -> None:
    head = GAPLinearHead(2, 2)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))
        head.fc.bias.copy_(torch.tensor([0.25, -1.0]))
    f0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    f1 = torch.tensor([[0.0, 1.0], [-1.0, 2.0]])
    feats = torch.stack([f0, f1])[None]  # (1, 2, 2, 2)
    cam = head_cam(head, feats)
    # CAM_0 = 1 * f0 - 2 * f1 + 0.25 ; CAM_1 = 0.5 * f0 + 3 * f1 - 1, written out by hand
    want0 = torch.tensor([[1.25, 0.25], [5.25, 0.25]])
    want1 = torch.tensor([[-0.5, 3.0], [-2.5, 7.0]])
    assert torch.allclose(cam[0, 0], want0) and torch.allclose(cam[0, 1], want1)
    assert torch.allclose(cam.mean(dim=(2, 3)), head(feats), atol=1e-6)  # pooled CAM = logit


def test_cam_head_uses_boostlu_and_pools_to_the_logit() -> None:
    head = CAMHead(2, 1, alpha=5.0)
    with torch.no_grad():
        head.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(1, 2, 1, 1))
        head.conv.bias.zero_()
    feats = torch.tensor([[[[2.0, 0.0]], [[1.0, 3.0]]]])  # raw CAM: [1, -3]
    cam = head_cam(head, feats)
    assert cam.flatten().tolist() == [5.0, -3.0]  # positive boosted x5, negative unchanged
    assert torch.allclose(cam.mean(dim=(2, 3)), head(feats))


@pytest.mark.parametrize("head", ["linear", "cam"])
def test_upsampled_cams_shape_and_eval_mode(head: str) -> None:
    model = channel_model(head).train()
    x = torch.rand(2, 3, 32, 48)
    cams = class_activation_maps(model, x)
    assert cams.shape == (2, 3, 32, 48) and model.training  # mode restored
    assert not cams.requires_grad


def test_feature_cams_refuses_a_features_model() -> None:
    with pytest.raises(PartialMLError, match="image model"):
        feature_cams(nn.Linear(3, 2), torch.zeros(1, 3))


def signal_image(cell: tuple[int, int], channel: int, side: int = 56) -> torch.Tensor:
    """A dark image with a bright square in one cell of its 2 x 2 grid, in one channel."""
    x = torch.zeros(1, 3, side, side)
    half = side // 2
    r, c = cell
    x[0, channel, r * half + 6 : r * half + 22, c * half + 6 : c * half + 22] = 1.0
    return x


CELL_BOX = {
    (r, c): np.array([[c * 28.0, r * 28.0, (c + 1) * 28.0, (r + 1) * 28.0]]) for r in (0, 1) for c in (0, 1)
}


@pytest.mark.parametrize("head", ["linear", "cam"])
def test_signal_in_a_known_cell_is_a_hit_there_and_a_miss_elsewhere(head: str) -> None:
    model = channel_model(head)
    x = signal_image((0, 1), channel=2)  # top-right cell, class 2
    point = upsampled_argmax(feature_cams(model, x)[0, 2:3], (56, 56))[0].tolist()
    assert 0 <= point[0] < 28 <= point[1] < 56  # row in the top half, column in the right half
    assert pointing_hit((point[0], point[1]), CELL_BOX[(0, 1)], tolerance=0)
    for other in ((0, 0), (1, 0), (1, 1)):  # a transposed or flipped map would land in one of these
        assert not pointing_hit((point[0], point[1]), CELL_BOX[other], tolerance=0)


def test_tolerance_enlarges_boxes_by_euclidean_distance() -> None:
    box = np.array([[10.0, 10.0, 20.0, 20.0]])
    assert pointing_hit((15, 15), box, tolerance=0)
    assert pointing_hit((19, 19), box, tolerance=0)  # centre (19.5, 19.5): inside
    assert not pointing_hit((20, 15), box, tolerance=0)  # centre y = 20.5: half a pixel out
    assert pointing_hit((20, 15), box, tolerance=0.5)
    assert not pointing_hit((34, 15), box, tolerance=14)  # 14.5 px below
    assert pointing_hit((34, 15), box, tolerance=15)
    # corner: (3 + 0.5, 3 + 0.5) is 6.5 px off in x and y, distance 9.19: the disk, not the square
    assert not pointing_hit((3, 3), box, tolerance=7)
    assert pointing_hit((3, 3), box, tolerance=9.5)
    assert not pointing_hit((0, 0), np.zeros((0, 4)), tolerance=100)


def test_summary_mean_of_classes_and_pooled() -> None:
    box = np.zeros((1, 4))
    pairs = [PointingPair(0, "a", 0, (0, 0), True, box)] * 3 + [PointingPair(1, "b", 1, (0, 0), False, box)]
    s = pointing_summary(pairs, ["x", "y", "z"])
    assert s["mean_class_accuracy"] == pytest.approx(0.5) and s["overall_accuracy"] == pytest.approx(0.75)
    assert s["per_class"]["z"]["accuracy"] is None and s["classes_scored"] == 2


# -- box readers ----------------------------------------------------------------------------------------------

VOC_XML = """<annotation>
  <filename>000005.jpg</filename>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <object><name>chair</name><difficult>0</difficult>
    <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox></object>
  <object><name>chair</name><difficult>1</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>
</annotation>
"""


def test_voc_reader_converts_one_based_inclusive_boxes(tmp_path: Path) -> None:
    ann = tmp_path / "VOC2007" / "Annotations"
    ann.mkdir(parents=True)
    (ann / "000005.xml").write_text(VOC_XML)
    boxes = read_voc_boxes(tmp_path / "VOC2007", ids=["000005"])
    got = boxes.boxes["JPEGImages/000005.jpg"]
    assert [(b.cls, b.x0, b.y0, b.x1, b.y1, b.difficult) for b in got] == [
        ("chair", 262.0, 210.0, 324.0, 339.0, False),
        ("chair", 0.0, 1.0, 10.0, 20.0, True),
    ]
    assert boxes.sizes["JPEGImages/000005.jpg"] == (500, 375)
    assert read_boxes(ann, format="voc").boxes.keys() == boxes.boxes.keys()
    with pytest.raises(PartialMLError, match=r"000009\.xml"):
        read_voc_boxes(ann, ids=["000009"])
    (ann / "000006.xml").write_text(VOC_XML.replace("<xmin>263</xmin>", "<xmin>abc</xmin>"))
    with pytest.raises(PartialMLError, match=r"000006\.xml.*xmin.*'abc'; expected a number"):
        read_voc_boxes(ann, ids=["000006"])
    (ann / "000007.xml").write_text("<annotation><object>")
    with pytest.raises(PartialMLError, match="not valid XML"):
        read_voc_boxes(ann, ids=["000007"])


def test_coco_reader_maps_categories_and_converts_xywh(tmp_path: Path) -> None:
    data = {
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
        "images": [
            {"id": 7, "file_name": "a.jpg", "width": 640, "height": 480},
            {"id": 8, "file_name": "b.jpg"},
        ],
        "annotations": [
            {"image_id": 7, "category_id": 18, "bbox": [10, 20, 30.5, 40]},
            {"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 1},
        ],
    }
    path = tmp_path / "instances_val2014.json"
    path.write_text(json.dumps(data))
    boxes = read_coco_boxes(path)
    assert [(b.cls, b.x0, b.y0, b.x1, b.y1) for b in boxes.boxes["a.jpg"]] == [
        ("dog", 10.0, 20.0, 40.5, 60.0),
        ("person", 0.0, 0.0, 1.0, 1.0),
    ]
    assert boxes.boxes["b.jpg"] == [] and boxes.sizes == {"a.jpg": (640, 480)}
    data["annotations"][0]["bbox"] = [1, 2, 3]
    path.write_text(json.dumps(data))
    with pytest.raises(PartialMLError, match=r"annotations\[0\]\.bbox.*expected \[x, y, width, height\]"):
        read_coco_boxes(path)
    data["annotations"][0]["bbox"] = [1, 2, -3, 4]
    path.write_text(json.dumps(data))
    with pytest.raises(PartialMLError, match="x1 < x0"):
        read_coco_boxes(path)
    path.write_text("{")
    with pytest.raises(PartialMLError, match="not valid JSON"):
        read_coco_boxes(path)
    path.write_text("[" * 100_000 + "]" * 100_000)  # the same JSON loader as the label reader
    with pytest.raises(PartialMLError, match="nested too deeply"):
        read_coco_boxes(path)


def test_csv_reader_and_its_errors() -> None:
    text = "path,class,x0,y0,x1,y1\nimg/a.png,cat,0,0,28,28\nimg/a.png,dog,28,0,56,28.5\n"
    boxes = parse_boxes_csv(text, path="b.csv")
    assert boxes.class_boxes("img/a.png", "dog").tolist() == [[28.0, 0.0, 56.0, 28.5]]
    assert boxes.class_boxes("img/a.png", "cow").shape == (0, 4) and len(boxes) == 2
    bad = {
        "path,label,x0,y0,x1,y1\na,b,0,0,1,1\n": r"b\.csv:1: header",
        "path,class,x0,y0,x1,y1\na,b,0,0,1\n": r"b\.csv:2: has 5 fields",
        "path,class,x0,y0,x1,y1\na,b,0,0,x,1\n": r"b\.csv:2: coordinates",
        "path,class,x0,y0,x1,y1\na,b,5,0,1,1\n": r"b\.csv:2: box.*x1 < x0",
        "path,class,x0,y0,x1,y1,difficult\na,b,0,0,1,1,2\n": r"b\.csv:2: difficult",
    }
    for bad_text, pattern in bad.items():
        with pytest.raises(PartialMLError, match=pattern):
            parse_boxes_csv(bad_text, path="b.csv")


def test_mosaic_boxes_one_per_occupied_cell() -> None:
    sources = np.array([[3, -1, -1, 0]])
    rows = mosaic_boxes(
        ["m.png"], sources, np.array([4, 0, 0, 9]), [str(k) for k in range(10)], cell=(28, 28)
    )
    assert [(k, b.cls, b.x0, b.y0, b.x1, b.y1) for k, b in rows] == [
        ("m.png", "9", 0.0, 0.0, 28.0, 28.0),  # cell 0 (top-left): source 3, class 9
        ("m.png", "4", 28.0, 28.0, 56.0, 56.0),  # cell 3 (bottom-right): source 0, class 4
    ]


def test_scale_boxes_to_the_model_input() -> None:
    got = scale_boxes(np.array([[50.0, 30.0, 100.0, 60.0]]), size=(200, 120), target=(448, 448))
    assert np.allclose(got, [[112.0, 112.0, 224.0, 224.0]])


def test_two_branch_cam_is_the_mean_of_the_branches() -> None:
    from partialml.models.backbones import build_backbone
    from partialml.models.dual_branch import ImageDualBranchClassifier

    torch.manual_seed(0)
    backbone = build_backbone("resnet18", weights=None, width=8)
    model = ImageDualBranchClassifier(backbone, GAPLinearHead(64, 3), GAPLinearHead(64, 3), name="resnet18")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        u, r = model.eval().branches(x)
        assert torch.allclose(feature_cams(model, x).mean(dim=(2, 3)), (u + r) / 2, atol=1e-5)
