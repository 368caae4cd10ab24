"""Class activation maps (CAMs) of a trained image model, and the pointing game on them.

CAM (Zhou et al., "Learning deep features for discriminative localization", CVPR 2016). With the last
feature map ``F`` ``(B, D, h, w)`` of the backbone:

* linear-on-GAP head (:class:`~partialml.models.image_heads.GAPLinearHead`, weights ``W`` ``(C, D)``,
  bias ``b``): ``CAM_c(i, j) = sum_k W[c, k] F_k(i, j) + b_c``. Average pooling commutes with the linear
  map, so ``mean_{i, j} CAM_c = z_c``, the logit. The bias shifts a whole map by a constant and changes
  neither its argmax nor the pointing game; it is kept so that the pooled CAM is the logit.
* CAM head (:class:`~partialml.models.image_heads.CAMHead`): its own ``cam()``, the 1x1 convolution with
  BoostLU applied (Kim et al., CVPR 2023), whose average is again the logit.
* LTML's two-branch model (:class:`~partialml.models.dual_branch.ImageDualBranchClassifier`): the mean
  of the two branches' CAMs (each the rule above on its own last stage and head). The model's output is
  the logit of the branches' mean probability, not a pooled map, so this is a choice, stated here.

:func:`class_activation_maps` upsamples the ``(B, C, h, w)`` maps to the input size ``(H, W)``,
bilinear, ``align_corners=False`` (as ``F.interpolate`` in the LL / BoostLU code).

Pointing game (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016 / IJCV 2018).
For every (test image, ground-truth positive class with at least one box of that class), the maximum of the
class's upsampled CAM is located (the first maximum in row-major order on ties); it is a **hit** when the
centre of that pixel, ``(j + 0.5, i + 0.5)``, lies within Euclidean distance ``tolerance`` (pixels of the
model input) of a box of the class (``tolerance = 0``: inside the box, edges included), else a **miss**.
The original protocol's tolerance is 15 pixels on the original image (a disk around the point, as its
``bwdist``-based evaluation). Accuracy per class is ``hits / (hits + misses)``; the papers report the
**mean over classes** of that (``mean_class_accuracy``); ``overall_accuracy`` pools all pairs.

Policies (stated in ``pointing_game.json``):

* ground-truth positives are the label file's ``1`` entries of the split; with VOC read as
  :func:`~partialml.data.voc.read_voc` does by default, a class present only as *difficult* objects is
  ``-1`` (unknown) and is skipped, as VOC07 classification leaves it out of AP; boxes marked difficult of a
  class that is also present otherwise stay valid targets;
* a positive without a box of its class is not scored (counted in ``positives_without_boxes``);
* boxes are scaled from the annotated image size (VOC ``<size>``, COCO ``width``/``height``, else the
  image file's) to the model input ``S x S`` (:func:`partialml.data.boxes.scale_boxes`), so the tolerance is
  in model-input pixels; the points, the boxes and the CSV coordinates are in that geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from partialml.errors import PartialMLError

__all__ = [
    "CAM_OUTPUTS",
    "PointingPair",
    "cam_examples_chart",
    "class_activation_maps",
    "feature_cams",
    "head_cam",
    "pointing_hit",
    "pointing_summary",
    "run_pointing_game",
    "upsampled_argmax",
]

#: Files written by :func:`run_pointing_game`.
CAM_OUTPUTS: tuple[str, ...] = ("pointing_game.json", "pointing_game.csv", "cam_examples.png")

#: The pointing game's tolerance in the original protocol (Zhang et al.), pixels.
ORIGINAL_TOLERANCE = 15.0


def head_cam(head: nn.Module, feats: Tensor) -> Tensor:
    """The class activation maps of an image head on its feature map.

    Args:
        head: a :class:`~partialml.models.image_heads.GAPLinearHead` or
            :class:`~partialml.models.image_heads.CAMHead`.
        feats: ``(B, D, h, w)`` the backbone's last feature map.

    Returns:
        ``(B, C, h, w)`` float32, whose spatial mean is the head's logit ``(B, C)``.
    """
    from partialml.models.image_heads import CAMHead, GAPLinearHead

    feats = feats.float()
    if isinstance(head, CAMHead):
        conv = head.conv
        cam = F.conv2d(feats, conv.weight.float(), None if conv.bias is None else conv.bias.float())
        from partialml.models.image_heads import boostlu

        return boostlu(cam, head.alpha)
    if isinstance(head, GAPLinearHead):
        weight, bias = head.fc.weight.float(), head.fc.bias
        cam = torch.einsum("cd,bdhw->bchw", weight, feats)
        return cam if bias is None else cam + bias.float().view(1, -1, 1, 1)
    raise PartialMLError(
        f"the model's head is a {type(head).__name__}; CAMs need a linear (GAPLinearHead) or cam (CAMHead) head"
    )


def feature_cams(model: nn.Module, x: Tensor) -> Tensor:
    """CAMs at the feature-map resolution: images ``(B, 3, H, W)`` -> ``(B, C, h, w)`` float32.

    ``model``: an :class:`~partialml.models.image_heads.ImageClassifier` (``backbone`` then ``head``) or an
    :class:`~partialml.models.dual_branch.ImageDualBranchClassifier` (mean of the branches' CAMs). The
    caller sets eval mode and ``no_grad`` (:func:`class_activation_maps` does).
    """
    from partialml.models.dual_branch import ImageDualBranchClassifier

    amp = getattr(model, "amp_dtype", None)
    use_amp = amp is not None and x.device.type == "cuda"
    with torch.autocast(device_type=x.device.type, dtype=amp, enabled=use_amp):
        if isinstance(model, ImageDualBranchClassifier):
            backbone, heads = cast(Any, model.backbone), cast(Any, model.head)
            h = backbone["trunk"](x)
            u = head_cam(heads["u"], backbone["last_u"](h))
            r = head_cam(heads["r"], backbone["last_r"](h))
            return (u + r) / 2
        backbone = getattr(model, "backbone", None)
        head = getattr(model, "head", None)
        if backbone is None or head is None:
            raise PartialMLError(
                f"the model is a {type(model).__name__}; CAMs need an image model (backbone + head), "
                "i.e. a run of --setting end-to-end or linear-init"
            )
        return head_cam(head, backbone(x))


@torch.no_grad()
def class_activation_maps(model: nn.Module, x: Tensor, *, size: tuple[int, int] | None = None) -> Tensor:
    """Upsampled CAMs: images ``(B, 3, H, W)`` -> ``(B, C, H', W')`` float32, ``(H', W') = size`` (default
    ``(H, W)``), bilinear with ``align_corners=False``; the model runs in eval mode (restored afterwards)."""
    was_training = model.training
    model.eval()
    try:
        cams = feature_cams(model, x)
    finally:
        model.train(was_training)
    return F.interpolate(cams, size=size or tuple(x.shape[-2:]), mode="bilinear", align_corners=False)


def upsampled_argmax(cams: Tensor, size: tuple[int, int]) -> Tensor:
    """Row and column of the maximum of each map after upsampling: ``(P, h, w)`` -> ``(P, 2)`` long
    ``(i, j)`` in the ``size = (H, W)`` grid (first maximum in row-major order on ties)."""
    if cams.shape[0] == 0:
        return torch.zeros(0, 2, dtype=torch.long)
    up = F.interpolate(cams[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    flat = up.flatten(1).argmax(dim=1)
    return torch.stack((flat // size[1], flat % size[1]), dim=1)


def pointing_hit(point: tuple[int, int], boxes: np.ndarray, *, tolerance: float) -> bool:
    """Whether pixel ``point = (i, j)`` (row, column) points at one of ``boxes`` ``(K, 4)``
    ``x0, y0, x1, y1``: the distance from its centre ``(j + 0.5, i + 0.5)`` to the nearest box is at most
    ``tolerance`` (0: inside, edges included)."""
    if len(boxes) == 0:
        return False
    px, py = point[1] + 0.5, point[0] + 0.5
    b = np.asarray(boxes, dtype=np.float64)
    dx = np.maximum(np.maximum(b[:, 0] - px, 0.0), px - b[:, 2])
    dy = np.maximum(np.maximum(b[:, 1] - py, 0.0), py - b[:, 3])
    return bool(np.any(dx * dx + dy * dy <= tolerance * tolerance + 1e-9))


@dataclass
class PointingPair:
    """One scored (image, class): ``row`` in the split, the image ``path``, ``cls`` (its column), the
    argmax ``(i, j)`` in model-input pixels, ``hit``, and the ``boxes`` used (model-input pixels)."""

    row: int
    path: str
    cls: int
    point: tuple[int, int]
    hit: bool
    boxes: np.ndarray


def pointing_summary(pairs: Sequence[PointingPair], class_names: Sequence[str]) -> dict[str, Any]:
    """Per-class and overall accuracy of scored pairs.

    Returns:
        ``{"mean_class_accuracy", "overall_accuracy", "pairs", "hits", "classes_scored", "per_class":
        {name: {"pairs", "hits", "accuracy"}}}``; accuracies are fractions in ``[0, 1]`` (``None`` for a
        class without a pair; the mean is over the classes with one).
    """
    n = np.zeros(len(class_names), dtype=np.int64)
    hits = np.zeros(len(class_names), dtype=np.int64)
    for p in pairs:
        n[p.cls] += 1
        hits[p.cls] += int(p.hit)
    per_class = {
        name: {
            "pairs": int(n[c]),
            "hits": int(hits[c]),
            "accuracy": float(hits[c] / n[c]) if n[c] else None,
        }
        for c, name in enumerate(class_names)
    }
    scored = n > 0
    return {
        "mean_class_accuracy": float((hits[scored] / n[scored]).mean()) if scored.any() else None,
        "overall_accuracy": float(hits.sum() / n.sum()) if n.sum() else None,
        "pairs": int(n.sum()),
        "hits": int(hits.sum()),
        "classes_scored": int(scored.sum()),
        "per_class": per_class,
    }


# -- the command ---------------------------------------------------------------------------------------------


def _voc_ids(paths: Sequence[str]) -> list[str]:
    return [Path(p).stem for p in paths]


def _split_labels(
    loaded: Any, *, data: str | None, format: str, image_root: str | None, split: Literal["train", "test"]
) -> tuple[Any, Path, Any]:
    """:func:`~partialml.engine.extract.read_image_split` of ``data``, by default the run's own test split
    (its ``test_split`` file, or its dataset folder's test split) or, for ``split="train"``, its ``data``."""
    from partialml.engine.extract import read_image_split

    config = loaded.config
    if data is None:
        data = str(config.test_split if split == "test" and config.test_split else config.data)
        format = format if format != "auto" else str(config.format)
        image_root = image_root or config.image_root
    return read_image_split(loaded, data=data, format=format, image_root=image_root, split=split)


def run_pointing_game(
    run: str | Path,
    *,
    boxes: str | Path,
    box_format: Literal["voc", "coco", "csv"],
    output_dir: str | Path,
    data: str | None = None,
    format: str = "auto",
    image_root: str | None = None,
    split: Literal["train", "test"] = "test",
    tolerance: float = ORIGINAL_TOLERANCE,
    examples: int = 8,
    checkpoint: Literal["best", "last"] = "best",
    device: str = "auto",
    batch_size: int = 64,
    overwrite: bool = False,
) -> dict[str, Any]:
    """The pointing game of a trained image run on one split (module docstring); writes :data:`CAM_OUTPUTS`.

    Args:
        run: the run directory (``--setting end-to-end`` or ``linear-init``).
        boxes: the box file or folder; box_format: ``voc`` (devkit folder or ``Annotations/``),
            ``coco`` (instances JSON) or ``csv`` (generic ``path,class,x0,y0,x1,y1``).
        output_dir: folder for ``pointing_game.json``, ``pointing_game.csv`` and ``cam_examples.png``
            (existing ones need ``overwrite``).
        data, format, image_root: the image label file or dataset folder (default: the run's own test
            split, or its ``data`` for ``split="train"``), as ``partialml predict`` takes them.
        split: for a dataset folder, its training or test split.
        tolerance: pixels of the model input (>= 0); 15 is the original protocol's.
        examples: images drawn in ``cam_examples.png`` (0: no PNG).
        checkpoint, device, batch_size: which weights, where, and images per forward pass.

    Returns:
        The ``pointing_game.json`` payload (:func:`pointing_summary` plus ``protocol`` and counts).
    """
    from partialml.analysis.sweeps import check_output_dir, write_csv, write_json
    from partialml.data.boxes import image_size, read_boxes, scale_boxes
    from partialml.engine.extract import IMAGE_SETTINGS, _batches
    from partialml.engine.image_setting import build_image_dataset
    from partialml.engine.inference import load_run_model

    if not tolerance >= 0:
        raise PartialMLError(f"--tolerance: got {tolerance}; expected a number of pixels >= 0")
    if examples < 0:
        raise PartialMLError(f"--examples: got {examples}; expected an integer >= 0")
    if split not in ("train", "test"):
        raise PartialMLError(f"--split: got {split!r}; expected train or test")
    out = check_output_dir(output_dir, CAM_OUTPUTS, overwrite=overwrite)
    loaded = load_run_model(run, checkpoint=checkpoint, device=device)
    setting = loaded.state["meta"].get("setting")
    if setting not in IMAGE_SETTINGS:
        raise PartialMLError(
            f"is a {setting or 'features'} run; the pointing game needs an image model "
            f"(--setting {' or '.join(IMAGE_SETTINGS)})",
            path=run,
        )
    part, root, cfg = _split_labels(loaded, data=data, format=format, image_root=image_root, split=split)
    names = loaded.class_names
    index = {name: c for c, name in enumerate(names)}
    box_set = read_boxes(boxes, format=box_format, ids=_voc_ids(part.paths) if box_format == "voc" else None)
    unknown = sorted({b.cls for bs in box_set.boxes.values() for b in bs} - set(index))
    if unknown:
        raise PartialMLError(
            f"names class {unknown[0]!r}, which the run does not have; expected the run's classes", path=boxes
        )
    size = int(cfg.image_size)
    labels = np.asarray(part.labels)
    # the (row, class, boxes in model-input pixels) to score
    todo: dict[int, list[tuple[int, np.ndarray]]] = {}
    without = 0
    for r, path in enumerate(part.paths):
        positives = np.flatnonzero(labels[r] == 1).tolist()
        if not positives:
            continue
        key = str(path)
        wh: tuple[int, int] | None = box_set.sizes.get(key)
        for c in positives:
            found = box_set.class_boxes(key, names[c])
            if len(found) == 0:
                without += 1
                continue
            wh = wh or image_size(root / key)
            todo.setdefault(r, []).append((c, scale_boxes(found, size=wh, target=(size, size))))
    if not todo:
        raise PartialMLError(
            f"no box of {box_format} file matches a positive of the {len(part.paths)} images of --data "
            "(image paths and class names must agree); expected boxes for the positives",
            path=boxes,
        )
    rows = sorted(todo)
    dataset = build_image_dataset([part.paths[r] for r in rows], root=root, config=cfg, train=False)
    batches = _batches(dataset, len(rows), batch_size=batch_size, device=loaded.device, num_workers=0)
    pairs: list[PointingPair] = []
    shown: list[tuple[Tensor, Tensor, PointingPair]] = []
    model = loaded.model
    model.eval()
    with torch.no_grad():
        for x, positions in batches:
            cams = feature_cams(model, x)
            wanted = [(b, c, bx) for b, p in enumerate(positions.tolist()) for c, bx in todo[rows[p]]]
            sel = cams[[b for b, _, _ in wanted], [c for _, c, _ in wanted]]
            points = upsampled_argmax(sel, (size, size)).cpu().tolist()
            for (b, c, bx), (i, j) in zip(wanted, points, strict=True):
                r = rows[int(positions[b])]
                pair = PointingPair(
                    r, str(part.paths[r]), c, (i, j), pointing_hit((i, j), bx, tolerance=tolerance), bx
                )
                pairs.append(pair)
                if len(shown) < examples and (not shown or shown[-1][2].row != r):
                    up = F.interpolate(
                        cams[b : b + 1, c : c + 1], size=(size, size), mode="bilinear", align_corners=False
                    )
                    shown.append((x[b].float().cpu(), up[0, 0].cpu(), pair))
    summary = pointing_summary(pairs, names)
    payload = {
        "run": str(run),
        "checkpoint": checkpoint,
        "epoch": int(loaded.state["epoch"]),
        "data": str(part.source),
        "boxes": str(boxes),
        "box_format": box_format,
        **summary,
        "positives_without_boxes": without,
        "images_scored": len(rows),
        "protocol": {
            "split": split,
            "tolerance_px": tolerance,
            "input_size": [size, size],
            "geometry": "boxes scaled from the annotated image size to the model input (resize to S x S); "
            "tolerance and points in model-input pixels",
            "hit": "centre of the argmax pixel of the class's upsampled CAM within Euclidean distance "
            "tolerance of a box of the class (Zhang et al. ECCV 2016)",
            "cam": "linear head: sum_k w_ck F_k + b_c; cam head: BoostLU-boosted 1x1 conv; two-branch: mean of "
            "the branches; bilinear upsampling, align_corners=False",
            "positives": "label 1 of the split's labels with at least one box of the class",
            "difficult": "VOC boxes marked difficult count as targets; classes present only as difficult "
            "objects are unknown (-1) in the labels and not scored",
            "mean_class_accuracy": "mean over classes with a pair of hits / pairs (the papers' number)",
        },
    }
    csv_rows = [
        {
            "image": p.path,
            "class": names[p.cls],
            "hit": int(p.hit),
            "argmax_row": p.point[0],
            "argmax_col": p.point[1],
            "boxes": len(p.boxes),
        }
        for p in pairs
    ]
    written = [
        write_json(out / "pointing_game.json", payload),
        write_csv(
            out / "pointing_game.csv",
            csv_rows,
            ("image", "class", "hit", "argmax_row", "argmax_col", "boxes"),
        ),
    ]
    if shown:
        written.append(cam_examples_chart(shown, names, out / "cam_examples.png", tolerance=tolerance))
    payload["written"] = [str(p) for p in written]
    return payload


def cam_examples_chart(
    shown: Sequence[tuple[Tensor, Tensor, PointingPair]],
    class_names: Sequence[str],
    path: str | Path,
    *,
    tolerance: float,
) -> Path:
    """A grid of example images with a CAM overlay each (matplotlib, Agg canvas), written to ``path`` (PNG).

    ``shown``: ``(image (3, S, S) model input, cam (S, S), pair)``; each panel shows the image (min-max
    scaled for display), the class's CAM (min-max scaled, ``jet``, alpha 0.5), the class's boxes (white)
    and the argmax (a green circle for a hit, a red cross for a miss).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n = len(shown)
    cols = min(4, n)
    nrows = (n + cols - 1) // cols
    fig = Figure(figsize=(2.6 * cols, 2.8 * nrows))
    FigureCanvasAgg(fig)
    for k, (image, cam, pair) in enumerate(shown):
        ax = fig.add_subplot(nrows, cols, k + 1)
        img = image.permute(1, 2, 0).numpy()
        img = (img - img.min()) / max(float(img.max() - img.min()), 1e-12)
        heat = cam.numpy()
        heat = (heat - heat.min()) / max(float(heat.max() - heat.min()), 1e-12)
        side = img.shape[0]
        extent = (0.0, float(img.shape[1]), float(side), 0.0)  # pixel edges: boxes and points share them
        ax.imshow(img, extent=extent, interpolation="nearest")
        ax.imshow(heat, cmap="jet", alpha=0.5, extent=extent, interpolation="bilinear")
        for x0, y0, x1, y1 in pair.boxes.tolist():
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="white", lw=1.2))
        i, j = pair.point
        ax.plot(
            [j + 0.5], [i + 0.5], "o" if pair.hit else "x", ms=8, mew=2,
            color="lime" if pair.hit else "red", mfc="none",
        )  # fmt: skip
        ax.set_title(f"{class_names[pair.cls]}: {'hit' if pair.hit else 'miss'}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"CAM of a positive class per image (tolerance {tolerance:g} px)", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    return out
