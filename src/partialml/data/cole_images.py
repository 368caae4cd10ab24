"""Reader of the image lists and labels of a Cole/LL formatted folder (Cole et al., CVPR 2021; Kim et al., 2022).

Files of one split (``train`` or ``val``), as written by ``preproc/format_*.py`` and
``preproc/generate_observed_labels.py`` of ``elijahcole/single-positive-multi-label``:

* ``formatted_<split>_images.npy``: ``(N,)`` image paths (a NumPy string array), relative to the image root
  of the dataset;
* ``formatted_<split>_labels.npy``: ``(N, C)`` full labels in ``{0, 1}`` -> :attr:`ImageLabelSet.labels`;
* ``formatted_<split>_labels_obs.npy`` (optional): ``(N, C)`` observed labels in **Cole's encoding**
  ``1`` positive, ``0`` unknown, ``-1`` negative -> :attr:`ImageLabelSet.observed`, with ``0`` and ``-1``
  swapped into the partialml encoding (:func:`partialml.labels.convert.from_cole`).

Cole's ``val`` split is the official validation set, which Cole and LL use as the test set. The feature
variant of this folder (``*_features_imagenet_resnet50.npy``) is read by :func:`partialml.data.read_cole`.
Class names are not stored by Cole: pass ``class_names``, or put ``class_names.txt`` (one per line) in
the folder; otherwise they are ``class_0``, ``class_1``, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from partialml.data.arrays import load_npy
from partialml.data.image_labels import ImageLabelSet, check_image_label_set, read_text_file, split_lines
from partialml.errors import PartialMLError
from partialml.labels.convert import from_dense01, read_cole_npy

__all__ = ["read_cole_images"]


def read_cole_images(
    path: str | Path,
    *,
    split: Literal["train", "val"] = "train",
    class_names: Sequence[str] | None = None,
    observed_pattern: str = "formatted_{split}_labels_obs.npy",
) -> ImageLabelSet:
    """Read the image paths, full labels and observed labels of one split of a Cole/LL folder.

    Args:
        path: the dataset folder (e.g. Cole's ``data/pascal``).
        split: ``"train"`` (default) or ``"val"`` (the official validation set, the papers' test set).
        class_names: the ``C`` names; default ``class_names.txt`` in the folder, else ``class_<i>``.
        observed_pattern: file name of the observed labels with ``{split}`` (Cole's bias branch writes
            ``formatted_{split}_<bias>_labels_obs.npy``); the file is optional.

    Returns:
        :class:`ImageLabelSet` with full ``labels`` in ``{1, 0}`` and ``observed`` in ``{1, 0, -1}`` (or
        ``None`` without the observed file).

    Raises:
        PartialMLError: missing or unreadable files, values outside Cole's encodings, lengths or shapes that
            disagree, repeated image paths.
    """
    if split not in ("train", "val"):
        raise PartialMLError(f"split={split!r}; expected 'train' or 'val' for a Cole/LL folder")
    folder = Path(path)
    images_path = folder / f"formatted_{split}_images.npy"
    labels_path = folder / f"formatted_{split}_labels.npy"
    images = load_npy(images_path, what="Cole image paths (a 1-d string array)")
    if images.ndim != 1 or images.dtype.kind not in "US":
        raise PartialMLError(
            f"has shape {images.shape} and dtype {images.dtype}; expected a 1-d array of strings",
            path=images_path,
        )
    paths = [str(v) for v in images.tolist()]
    labels = from_dense01(load_npy(labels_path, what="Cole full labels (N x C, 0/1)"), source=labels_path)
    if labels.shape[0] != len(paths):
        raise PartialMLError(
            f"has {labels.shape[0]} rows, {images_path.name} {len(paths)} paths; expected equal",
            path=labels_path,
        )
    observed = None
    observed_path = folder / observed_pattern.format(split=split)
    if observed_path.is_file():
        observed = read_cole_npy(observed_path, kind="observed")
        if observed.shape != labels.shape:
            raise PartialMLError(
                f"has shape {observed.shape}, {labels_path.name} {labels.shape}; expected equal",
                path=observed_path,
            )
    num_classes = labels.shape[1]
    if class_names is not None:
        names = list(class_names)
    elif (folder / "class_names.txt").is_file():
        names_path = folder / "class_names.txt"
        names = [
            line for _, line in split_lines(read_text_file(names_path, what="class names, one per line"))
        ]
    else:
        names = [f"class_{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise PartialMLError(
            f"{len(names)} class names for {num_classes} label columns; expected equal", path=folder
        )
    return check_image_label_set(
        ImageLabelSet(paths=paths, labels=labels, class_names=names, source=str(folder), observed=observed)
    )
