"""Reader of COCO 2014 / 2017 instance annotations as image-level labels (Lin et al., ECCV 2014).

Input: an ``instances_<split>.json`` file (e.g. ``annotations/instances_train2014.json``), read with the
standard-library :mod:`json`. When ``path`` is a folder, ``<path>/annotations/instances_<split>.json`` (or
``<path>/instances_<split>.json``) is read. Fields used:

* ``categories``: ``[{"id": int, "name": str}, ...]`` (required);
* ``images``: ``[{"id": int, "file_name": str}, ...]``;
* ``annotations``: ``[{"image_id": int, "category_id": int}, ...]`` (boxes, segmentations, ``iscrowd`` are
  not read).

Conventions:

* classes: category ids are mapped to ``0..C-1`` in **ascending id order** (COCO's ids 1..90 with gaps give
  80 columns). In the official files this is also the order of the ``categories`` list, which is the order
  Cole et al.'s ``preproc/format_coco.py`` uses, so the columns agree with Cole/LL. Names are the
  categories' ``name``.
* labels are full: ``1`` when the image has at least one annotation of the category, else ``0``.
  Crowd annotations (``iscrowd=1``) count as positives, as in Cole's formatting.
* rows follow the order of the ``images`` list; ``paths`` are the ``file_name`` values, relative to the
  image folder of the split (e.g. ``train2014/``).
* ``empty_images="drop"`` (default) drops images with no annotation: the Cole / robust-loss protocol
  (82,081 of the 82,783 train2014 images, 40,137 of the 40,504 val2014 images). ``"keep"`` keeps them with
  an all-negative row (COCO annotations are exhaustive over the 80 categories).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from partialml.data.image_labels import ImageLabelSet, check_image_label_set, read_text_file
from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE, POSITIVE

__all__ = ["load_coco_json", "parse_coco_instances", "parse_coco_text", "read_coco"]

EmptyImages = Literal["drop", "keep"]


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is a subclass of int, and 1.0 is not an id


def _list_field(data: dict[str, Any], key: str, path: str | Path) -> list[Any]:
    if key not in data:
        raise PartialMLError(f"has no {key!r} list; expected a COCO instances JSON", path=path)
    value = data[key]
    if not isinstance(value, list):
        raise PartialMLError(f"{key!r} is a {type(value).__name__}; expected a list", path=path)
    return value


def _entry(value: Any, key: str, index: int, fields: dict[str, str], path: str | Path) -> list[Any]:
    """The named fields of ``value`` (an object in list ``key``), type-checked (``"int"`` or ``"str"``)."""
    if not isinstance(value, dict):
        raise PartialMLError(f"{key}[{index}] is a {type(value).__name__}; expected an object", path=path)
    out = []
    for field, kind in fields.items():
        if field not in value:
            raise PartialMLError(f"{key}[{index}] has no {field!r}; expected one", path=path)
        v = value[field]
        ok = _is_int(v) if kind == "int" else isinstance(v, str)
        if not ok:
            raise PartialMLError(
                f"{key}[{index}].{field} is {v!r:.60}; expected {'an integer' if kind == 'int' else 'a string'}",
                path=path,
            )
        out.append(v)
    return out


def parse_coco_instances(data: Any, *, path: str | Path, empty_images: EmptyImages = "drop") -> ImageLabelSet:
    """Turn a parsed COCO instances JSON into image-level labels (see the module docstring).

    Args:
        data: the object returned by :func:`json.load`.
        path: the file it came from, named in errors and stored as ``source``.
        empty_images: ``"drop"`` (default, Cole/robust-loss protocol) or ``"keep"`` images without annotation.

    Raises:
        PartialMLError: a missing ``categories``/``images``/``annotations`` list, an entry of the wrong type,
            repeated category ids or names, repeated image ids or file names, an annotation naming an unknown
            image or category, no image left.
    """
    if empty_images not in ("drop", "keep"):
        raise PartialMLError(f"empty_images={empty_images!r}; expected 'drop' or 'keep'")
    if not isinstance(data, dict):
        raise PartialMLError(
            f"top level is a {type(data).__name__}; expected a COCO instances JSON object", path=path
        )
    categories = _list_field(data, "categories", path)
    images = _list_field(data, "images", path)
    annotations = _list_field(data, "annotations", path)
    if not categories:
        raise PartialMLError("has an empty 'categories' list; expected the categories", path=path)

    cat_names: dict[int, str] = {}
    names_seen: set[str] = set()
    for i, cat in enumerate(categories):
        cid, name = _entry(cat, "categories", i, {"id": "int", "name": "str"}, path)
        if cid in cat_names:
            raise PartialMLError(f"categories[{i}] repeats id {cid}; expected unique ids", path=path)
        if name in names_seen:
            raise PartialMLError(f"categories[{i}] repeats name {name!r}; expected unique names", path=path)
        cat_names[cid] = name
        names_seen.add(name)
    ids_sorted = sorted(cat_names)
    column = {cid: c for c, cid in enumerate(ids_sorted)}

    row: dict[int, int] = {}
    files: list[str] = []
    files_seen: dict[str, int] = {}
    for i, img in enumerate(images):
        iid, file_name = _entry(img, "images", i, {"id": "int", "file_name": "str"}, path)
        if iid in row:
            raise PartialMLError(f"images[{i}] repeats image id {iid}; expected unique ids", path=path)
        if file_name in files_seen:
            raise PartialMLError(
                f"images[{i}] repeats file_name {file_name!r} of images[{files_seen[file_name]}]; "
                "expected each image once",
                path=path,
            )
        row[iid] = len(files)
        files_seen[file_name] = i
        files.append(file_name)

    labels = np.zeros((len(files), len(ids_sorted)), dtype=LABEL_DTYPE)
    for i, ann in enumerate(annotations):
        iid, cid = _entry(ann, "annotations", i, {"image_id": "int", "category_id": "int"}, path)
        r = row.get(iid)
        if r is None:
            raise PartialMLError(
                f"annotations[{i}] names image id {iid}, which 'images' does not list; expected a listed image",
                path=path,
            )
        c = column.get(cid)
        if c is None:
            raise PartialMLError(
                f"annotations[{i}] names category id {cid}, which 'categories' does not list; "
                "expected a listed category",
                path=path,
            )
        labels[r, c] = POSITIVE
    if empty_images == "drop":
        keep = labels.any(axis=1)
        labels = labels[keep]
        files = [files[i] for i in np.flatnonzero(keep).tolist()]
    if not files:
        what = "no annotated image" if empty_images == "drop" else "no image"
        raise PartialMLError(f"has {what}; expected at least one", path=path)
    return check_image_label_set(
        ImageLabelSet(
            paths=files, labels=labels, class_names=[cat_names[c] for c in ids_sorted], source=str(path)
        )
    )


def load_coco_json(text: str, *, path: str | Path) -> Any:
    """``json.loads`` of a COCO instances file; invalid or too deeply nested JSON raises
    :class:`PartialMLError` naming the file (and the line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PartialMLError(
            f"is not valid JSON ({err.msg} at column {err.colno}); expected a COCO instances JSON",
            path=path,
            line=err.lineno,
        ) from None
    except RecursionError:
        raise PartialMLError("is nested too deeply; expected a COCO instances JSON", path=path) from None


def parse_coco_text(text: str, *, path: str | Path, empty_images: EmptyImages = "drop") -> ImageLabelSet:
    """:func:`parse_coco_instances` on JSON text (parsed by :func:`load_coco_json`)."""
    return parse_coco_instances(load_coco_json(text, path=path), path=path, empty_images=empty_images)


def _resolve(path: Path, split: str | None) -> Path:
    if path.is_dir():
        name = f"instances_{split or 'train2014'}.json"
        for candidate in (path / "annotations" / name, path / name):
            if candidate.is_file():
                return candidate
        raise PartialMLError(f"has no annotations/{name}; expected a COCO folder or JSON file", path=path)
    if split is not None and not path.name.endswith(f"{split}.json"):
        raise PartialMLError(
            f"split={split!r} given with a JSON file; expected no split, or the folder that holds "
            f"annotations/instances_{split}.json",
            path=path,
        )
    return path


def read_coco(
    path: str | Path, *, split: str | None = None, empty_images: EmptyImages = "drop"
) -> ImageLabelSet:
    """Read a COCO instances JSON as image-level labels.

    Args:
        path: ``instances_<split>.json``, or a COCO folder holding ``annotations/instances_<split>.json``.
        split: with a folder, the split (``"train2014"`` when ``None``, ``"val2014"``, ``"train2017"``, ...);
            with a file, ``None`` or the split the file name ends with.
        empty_images: ``"drop"`` (default: the Cole / robust-loss protocol, 82,081 train2014 images) or
            ``"keep"`` (all-negative rows).

    Returns:
        :class:`ImageLabelSet`, ``(N, C)`` full labels in ``{1, 0}``, ``C = 80`` for the official files.

    Example:
        >>> import json, tempfile, os
        >>> d = {"categories": [{"id": 3, "name": "b"}, {"id": 1, "name": "a"}],
        ...      "images": [{"id": 7, "file_name": "x.jpg"}],
        ...      "annotations": [{"image_id": 7, "category_id": 3}]}
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     p = os.path.join(tmp, "instances.json")
        ...     _ = open(p, "w").write(json.dumps(d))
        ...     s = read_coco(p)
        >>> s.class_names, s.labels.tolist()
        (['a', 'b'], [[0, 1]])
    """
    file = _resolve(Path(path), split)
    text = read_text_file(file, what="a COCO instances JSON")
    return parse_coco_text(text, path=file, empty_images=empty_images)
