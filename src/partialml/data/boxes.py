"""Object boxes for the pointing game: one box type and readers of VOC, COCO, a generic CSV and the mosaics.

Coordinate convention (every reader converts to it): a :class:`Box` is a rectangle in **continuous pixel
coordinates** of the image as stored, origin at the top-left corner of the top-left pixel, x to the right,
y down; pixel ``(row i, column j)`` covers ``[j, j + 1) x [i, i + 1)`` and its centre is ``(j + 0.5, i + 0.5)``.
A box ``(x0, y0, x1, y1)`` covers the pixels whose centre lies in ``[x0, x1] x [y0, y1]``.

* VOC ``Annotations/<id>.xml`` (Everingham et al., IJCV 2010): ``<bndbox>`` ``xmin..xmax``, ``ymin..ymax`` are
  1-based pixel indices, both ends inclusive, so ``x0 = xmin - 1``, ``x1 = xmax`` (and likewise y); the
  ``<difficult>`` flag is kept; ``<size>`` gives the image size the boxes were drawn on. The image key is
  ``JPEGImages/<id>.jpg``, the path :func:`partialml.data.voc.read_voc` lists.
* COCO instances JSON (Lin et al., ECCV 2014): ``bbox = [x, y, w, h]`` is already continuous
  (``x0 = x``, ``x1 = x + w``); every annotation counts, crowd ones (``iscrowd = 1``) included, as
  :func:`partialml.data.coco.read_coco` counts them as positives; the class is the category's ``name``
  (the column :func:`~partialml.data.coco.read_coco` gives it, ids in ascending order); the image key is
  ``file_name`` and ``width`` / ``height`` give the size.
* generic CSV (:func:`read_boxes_csv`, written by :func:`write_boxes_csv`): header ``path,class,x0,y0,x1,y1``
  (an optional seventh column ``difficult``, 0/1), one box per row, coordinates in the convention above;
  ``path`` as in the image label file. No size: the size of the image file is read when needed.
* Fashion-MNIST mosaics (:func:`mosaic_boxes`): each occupied cell ``(r, c)`` of a 2 x 2 grid of
  ``h x w`` garments is the box ``(c w, r h, (c + 1) w, (r + 1) h)`` of its garment's class.

Model input geometry (:func:`scale_boxes`): every transform preset resizes the image to ``S x S``
(aspect ratio not kept, :mod:`partialml.data.transforms`), so a box of an image ``W x H`` maps to
``(x0 S / W, y0 S / H, x1 S / W, y1 S / H)`` in the model's input.
"""

from __future__ import annotations

import csv
import io
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from partialml.data.coco import load_coco_json
from partialml.data.image_labels import read_text_file
from partialml.errors import PartialMLError

__all__ = [
    "BOX_CSV_COLUMNS",
    "Box",
    "BoxFormat",
    "BoxSet",
    "image_size",
    "mosaic_boxes",
    "mosaic_boxes_from_folder",
    "read_boxes",
    "read_boxes_csv",
    "read_coco_boxes",
    "read_voc_boxes",
    "scale_boxes",
    "write_boxes_csv",
]

BoxFormat = Literal["voc", "coco", "csv"]
BOX_FORMATS: Final = ("voc", "coco", "csv")
#: Header of the generic box CSV (an optional ``difficult`` column may follow).
BOX_CSV_COLUMNS: Final = ("path", "class", "x0", "y0", "x1", "y1")


@dataclass(frozen=True)
class Box:
    """One object box: class name and ``(x0, y0, x1, y1)`` in continuous pixel coordinates (module
    docstring), ``x0 <= x1``, ``y0 <= y1``; ``difficult`` is VOC's flag (``False`` elsewhere)."""

    cls: str
    x0: float
    y0: float
    x1: float
    y1: float
    difficult: bool = False


@dataclass
class BoxSet:
    """The boxes of a set of images.

    Attributes:
        boxes: image key (the path of the image label file) -> its boxes.
        sizes: image key -> ``(width, height)`` the boxes were drawn on, when the format records it
            (VOC, COCO); other images are measured from their file.
        source: the file or folder read.
    """

    boxes: dict[str, list[Box]] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return sum(len(v) for v in self.boxes.values())

    def class_boxes(self, key: str, cls: str) -> np.ndarray:
        """``(K, 4)`` float64 ``x0, y0, x1, y1`` of the boxes of class ``cls`` in image ``key`` (``K`` may be 0)."""
        rows = [(b.x0, b.y0, b.x1, b.y1) for b in self.boxes.get(key, ()) if b.cls == cls]
        return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _check_box(values: Sequence[float], *, path: str | Path, where: str, line: int | None = None) -> None:
    x0, y0, x1, y1 = values
    if not all(math.isfinite(v) for v in values):
        raise PartialMLError(
            f"{where}: coordinates {list(values)}; expected finite numbers", path=path, line=line
        )
    if x1 < x0 or y1 < y0:
        raise PartialMLError(
            f"{where}: box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) has x1 < x0 or y1 < y0; expected x0 <= x1, y0 <= y1",
            path=path,
            line=line,
        )


# -- VOC ----------------------------------------------------------------------------------------------------


def _xml_text(node: ET.Element, tag: str, *, path: Path, what: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise PartialMLError(f"{what} has no <{tag}>; expected a VOC annotation", path=path)
    return child.text.strip()


def _xml_number(node: ET.Element, tag: str, *, path: Path, what: str) -> float:
    text = _xml_text(node, tag, path=path, what=what)
    try:
        return float(text)
    except ValueError:
        raise PartialMLError(f"{what} <{tag}> is {text!r}; expected a number", path=path) from None


def parse_voc_annotation(text: str, *, path: str | Path) -> tuple[list[Box], tuple[int, int] | None]:
    """Boxes and ``(width, height)`` (``None`` without ``<size>``) of one VOC annotation XML text.

    Raises:
        PartialMLError: not XML, no ``<object>`` fields where expected, a non-numeric or inverted box.
    """
    p = Path(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise PartialMLError(f"is not valid XML ({err}); expected a VOC annotation", path=p) from None
    if root.tag != "annotation":
        raise PartialMLError(f"root element <{root.tag}>; expected <annotation>", path=p)
    size = None
    size_node = root.find("size")
    if size_node is not None:
        w = _xml_number(size_node, "width", path=p, what="<size>")
        h = _xml_number(size_node, "height", path=p, what="<size>")
        if w > 0 and h > 0:
            size = (int(w), int(h))
    boxes: list[Box] = []
    for k, obj in enumerate(root.findall("object")):
        what = f"<object> {k + 1}"
        name = _xml_text(obj, "name", path=p, what=what)
        bnd = obj.find("bndbox")
        if bnd is None:
            raise PartialMLError(f"{what} ({name}) has no <bndbox>; expected one", path=p)
        xmin, ymin, xmax, ymax = (
            _xml_number(bnd, t, path=p, what=f"{what} <bndbox>") for t in ("xmin", "ymin", "xmax", "ymax")
        )
        coords = (xmin - 1.0, ymin - 1.0, xmax, ymax)  # 1-based inclusive -> continuous
        _check_box(coords, path=p, where=what)
        flag = obj.find("difficult")
        difficult = flag is not None and (flag.text or "0").strip() not in ("0", "")
        boxes.append(Box(name, *coords, difficult=difficult))
    return boxes, size


def _voc_annotations_dir(path: Path) -> Path:
    if (path / "Annotations").is_dir():
        return path / "Annotations"
    if path.is_dir():
        return path
    raise PartialMLError(
        "not found; expected a VOC devkit folder (with Annotations/) or its Annotations/", path=path
    )


def read_voc_boxes(path: str | Path, *, ids: Iterable[str] | None = None) -> BoxSet:
    """Read VOC ``Annotations/<id>.xml`` files.

    Args:
        path: the devkit year folder (``VOCdevkit/VOC2007``) or its ``Annotations`` folder.
        ids: the image ids to read (e.g. those of the test split); ``None``: every ``*.xml`` there.
            An id without an XML file is an error.

    Returns:
        :class:`BoxSet` keyed ``JPEGImages/<id>.jpg`` with sizes from ``<size>``.
    """
    folder = _voc_annotations_dir(Path(path))
    files = sorted(folder.glob("*.xml")) if ids is None else [folder / f"{i}.xml" for i in ids]
    if not files:
        raise PartialMLError("holds no .xml annotation; expected VOC Annotations/<id>.xml files", path=folder)
    out = BoxSet(source=str(folder))
    for file in files:
        text = read_text_file(file, what="a VOC annotation XML")
        boxes, size = parse_voc_annotation(text, path=file)
        key = f"JPEGImages/{file.stem}.jpg"
        out.boxes[key] = boxes
        if size is not None:
            out.sizes[key] = size
    return out


# -- COCO ---------------------------------------------------------------------------------------------------


def parse_coco_boxes(data: Any, *, path: str | Path) -> BoxSet:
    """Boxes of a parsed COCO instances JSON (the fields and checks of :mod:`partialml.data.coco`, plus
    ``bbox`` of 4 numbers with ``w, h >= 0`` and the images' optional ``width`` / ``height``)."""
    from partialml.data.coco import _entry, _list_field

    if not isinstance(data, dict):
        raise PartialMLError(
            f"top level is a {type(data).__name__}; expected a COCO instances JSON object", path=path
        )
    names: dict[int, str] = {}
    for i, cat in enumerate(_list_field(data, "categories", path)):
        cid, name = _entry(cat, "categories", i, {"id": "int", "name": "str"}, path)
        names[cid] = name
    files: dict[int, str] = {}
    out = BoxSet(source=str(path))
    for i, img in enumerate(_list_field(data, "images", path)):
        iid, file_name = _entry(img, "images", i, {"id": "int", "file_name": "str"}, path)
        files[iid] = file_name
        out.boxes.setdefault(file_name, [])
        w, h = img.get("width"), img.get("height")
        if isinstance(w, int | float) and isinstance(h, int | float) and w > 0 and h > 0:
            out.sizes[file_name] = (int(w), int(h))
    for i, ann in enumerate(_list_field(data, "annotations", path)):
        iid, cid = _entry(ann, "annotations", i, {"image_id": "int", "category_id": "int"}, path)
        if iid not in files:
            raise PartialMLError(
                f"annotations[{i}] names image id {iid}, which 'images' does not list", path=path
            )
        if cid not in names:
            raise PartialMLError(
                f"annotations[{i}] names category id {cid}, which 'categories' does not list", path=path
            )
        bbox = ann.get("bbox")
        if (
            not isinstance(bbox, list)
            or len(bbox) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        ):
            raise PartialMLError(
                f"annotations[{i}].bbox is {bbox!r:.60}; expected [x, y, width, height]", path=path
            )
        x, y, w, h = (float(v) for v in bbox)
        coords = (x, y, x + w, y + h)
        _check_box(coords, path=path, where=f"annotations[{i}].bbox")
        out.boxes[files[iid]].append(Box(names[cid], *coords))
    return out


def read_coco_boxes(path: str | Path) -> BoxSet:
    """Read the boxes of a COCO ``instances_<split>.json`` (keys: ``file_name``)."""
    p = Path(path)
    return parse_coco_boxes(load_coco_json(read_text_file(p, what="a COCO instances JSON"), path=p), path=p)


# -- generic CSV --------------------------------------------------------------------------------------------


def parse_boxes_csv(text: str, *, path: str | Path) -> BoxSet:
    """Parse the generic box CSV (module docstring).

    Raises:
        PartialMLError: a header other than ``path,class,x0,y0,x1,y1[,difficult]``, a row with another
            number of fields, an empty path or class, a non-numeric or inverted box, a difficult flag not 0/1.
    """
    rows = csv.reader(io.StringIO(text))
    out = BoxSet(source=str(path))
    header: list[str] | None = None
    for line, row in enumerate(rows, start=1):
        if not row or all(not c.strip() for c in row):
            continue
        cells = [c.strip() for c in row]
        if header is None:
            header = [c.lower() for c in cells]
            if tuple(header[:6]) != BOX_CSV_COLUMNS or header[6:] not in ([], ["difficult"]):
                raise PartialMLError(
                    f"header {','.join(cells)!r}; expected {','.join(BOX_CSV_COLUMNS)} (optionally ,difficult)",
                    path=path,
                    line=line,
                )
            continue
        if len(cells) != len(header):
            raise PartialMLError(
                f"has {len(cells)} fields; expected {len(header)} ({','.join(header)})", path=path, line=line
            )
        key, cls = cells[0], cells[1]
        if not key or not cls:
            raise PartialMLError("empty path or class; expected both", path=path, line=line)
        try:
            x0, y0, x1, y1 = (float(v) for v in cells[2:6])
        except ValueError:
            raise PartialMLError(
                f"coordinates {cells[2:6]}; expected four numbers x0,y0,x1,y1", path=path, line=line
            ) from None
        _check_box((x0, y0, x1, y1), path=path, where="box", line=line)
        difficult = False
        if len(cells) == 7:
            if cells[6] not in ("0", "1", ""):
                raise PartialMLError(f"difficult is {cells[6]!r}; expected 0 or 1", path=path, line=line)
            difficult = cells[6] == "1"
        out.boxes.setdefault(key, []).append(Box(cls, x0, y0, x1, y1, difficult=difficult))
    if header is None:
        raise PartialMLError(f"has no header; expected {','.join(BOX_CSV_COLUMNS)}", path=path)
    return out


def read_boxes_csv(path: str | Path) -> BoxSet:
    """Read a generic box CSV file (:func:`parse_boxes_csv`)."""
    text = read_text_file(path, what=f"a box CSV ({','.join(BOX_CSV_COLUMNS)})")
    return parse_boxes_csv(text, path=path)


def write_boxes_csv(path: str | Path, rows: Iterable[tuple[str, Box]]) -> Path:
    """Write ``(image path, box)`` rows as a generic box CSV (atomic); returns ``path``."""
    from partialml.engine.checkpoint import atomic_write_text

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(BOX_CSV_COLUMNS)
    for key, b in rows:
        writer.writerow([key, b.cls, f"{b.x0:g}", f"{b.y0:g}", f"{b.x1:g}", f"{b.y1:g}"])
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def read_boxes(path: str | Path, *, format: BoxFormat, ids: Iterable[str] | None = None) -> BoxSet:
    """Read boxes in ``format`` (``voc``: ``ids`` limits the XML files read)."""
    if format == "voc":
        return read_voc_boxes(path, ids=ids)
    if format == "coco":
        return read_coco_boxes(path)
    if format == "csv":
        return read_boxes_csv(path)
    raise PartialMLError(f"--box-format: got {format!r}; expected one of {', '.join(BOX_FORMATS)}")


# -- mosaics ------------------------------------------------------------------------------------------------


def mosaic_boxes(
    names: Sequence[str],
    sources: np.ndarray,
    source_labels: np.ndarray,
    class_names: Sequence[str],
    *,
    cell: tuple[int, int] = (28, 28),
    grid: int = 2,
) -> list[tuple[str, Box]]:
    """The boxes of mosaics: one per occupied cell, of its garment's class.

    Args:
        names: ``N`` image paths (the split CSV's ``path`` column).
        sources: ``(N, grid * grid)`` source image index per cell (row-major), ``-1`` for an empty cell
            (:attr:`partialml.data.mosaics.MosaicSet.sources`).
        source_labels: ``(M,)`` class index of each source image.
        class_names: class names by index.
        cell: ``(h, w)`` of a cell (28 x 28 for Fashion-MNIST).
        grid: cells per side.

    Returns:
        ``(path, Box)`` rows, cell ``(r, c)`` = ``(c w, r h, (c + 1) w, (r + 1) h)``.
    """
    src = np.asarray(sources, dtype=np.int64)
    if src.shape != (len(names), grid * grid):
        raise PartialMLError(f"cell sources of shape {src.shape}; expected ({len(names)}, {grid * grid})")
    h, w = cell
    out: list[tuple[str, Box]] = []
    for name, row in zip(names, src.tolist(), strict=True):
        for k, s in enumerate(row):
            if s < 0:
                continue
            r, c = divmod(k, grid)
            cls = class_names[int(source_labels[s])]
            out.append((name, Box(cls, float(c * w), float(r * h), float((c + 1) * w), float((r + 1) * h))))
    return out


def mosaic_boxes_from_folder(
    folder: str | Path, fashion_mnist: str | Path, *, split: str = "test"
) -> list[tuple[str, Box]]:
    """Rebuild the boxes of a mosaics folder written before ``write_mosaics`` wrote ``<split>_boxes.csv``:
    ``mosaics.json``'s ``cell_sources[split]``, the paths of ``<split>.csv`` and the Fashion-MNIST labels
    (``t10k`` for ``test``, the training set otherwise)."""
    from partialml.data.generic import read_image_csv
    from partialml.data.mosaics import FASHION_MNIST_CLASSES, load_fashion_mnist

    root = Path(folder)
    meta_path = root / "mosaics.json"
    meta = json.loads(read_text_file(meta_path, what="the mosaics.json of make-mosaics"))
    sources = (meta.get("cell_sources") or {}).get(split) if isinstance(meta, dict) else None
    if sources is None:
        raise PartialMLError(
            f"has no cell_sources for split {split!r}; expected make-mosaics output", path=meta_path
        )
    labels = read_image_csv(root / f"{split}.csv")
    images, source_labels = load_fashion_mnist(fashion_mnist)["test" if split == "test" else "train"]
    return mosaic_boxes(
        labels.paths,
        np.asarray(sources, dtype=np.int64),
        source_labels,
        FASHION_MNIST_CLASSES,
        cell=(int(images.shape[1]), int(images.shape[2])),
    )


# -- geometry -----------------------------------------------------------------------------------------------


def image_size(file: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file as :func:`partialml.data.images.decode_image_file` decodes it
    (EXIF orientations 5-8 swap the sides), from its header only."""
    from PIL import Image

    try:
        with Image.open(file) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except FileNotFoundError:
        raise PartialMLError("image file not found", path=file) from None
    except Exception as err:  # Pillow raises many kinds for a bad header
        raise PartialMLError(f"cannot read the image size ({err}); expected an image", path=file) from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def scale_boxes(boxes: np.ndarray, *, size: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """Map ``(K, 4)`` boxes of an image of ``size = (W, H)`` to the resized image ``target = (W', H')``:
    x times ``W' / W``, y times ``H' / H`` (the presets' resize to ``S x S``)."""
    sx, sy = target[0] / size[0], target[1] / size[1]
    return np.asarray(boxes, dtype=np.float64) * np.array([sx, sy, sx, sy])
