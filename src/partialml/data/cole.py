"""Reader of the Cole/LL formatted feature folders (Cole et al., CVPR 2021; Kim et al., CVPR 2022).

Layout of one dataset folder, as written by ``preproc/format_*.py`` and
``preproc/generate_observed_labels.py`` of ``elijahcole/single-positive-multi-label`` and read by its
``datasets.py`` (also used by LargeLossMatters, BoostLU, EM/APL, GR-Loss):

* ``formatted_{train,val}_labels.npy``: ``(N, C)`` full labels in ``{0, 1}``;
* ``formatted_{train,val}_labels_obs.npy``: ``(N, C)`` observed labels in **Cole's encoding** ``1`` positive,
  ``0`` unknown, ``-1`` negative, converted here to the partialml encoding by swapping ``0`` and ``-1``
  (:func:`partialml.labels.convert.from_cole`); optional (``observed=None`` without it). Cole's COCO
  bias branch names them ``formatted_{split}_{bias}_labels_obs.npy``: pass ``observed_pattern``;
* ``{train,val}_features_imagenet_resnet50.npy``: ``(N, 2048)`` ResNet-50 ImageNet features (downloaded
  from Cole's Zenodo/box share; ``train.py`` sets ``P['train_feats_file']`` to this name). The pattern is an
  option (``features_pattern``); the features are memory mapped;
* ``formatted_{train,val}_images.npy``: the image paths, used as sample ids when present.

Cole's **"val" split is the official validation set, used as the test set** by Cole and LL; it becomes our
``test`` split. (Cole's own validation set is a seeded 20 % of "train", made later by the trainer.)
Class names are not stored by Cole: pass ``class_names``, or put a ``class_names.txt`` (one per line) in the
folder; otherwise they are ``class_0``, ``class_1``, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from partialml.data.arrays import as_float32_features, load_npy, read_name_list
from partialml.data.features import (
    FeatureData,
    FeatureSplit,
    check_feature_data,
    check_finite,
    default_class_names,
)
from partialml.errors import PartialMLError
from partialml.labels.convert import from_cole, from_dense01

__all__ = ["COLE_FEATURES_PATTERN", "COLE_OBSERVED_PATTERN", "read_cole"]

#: Cole's feature file name (``train.py``: ``'{phase}_features_imagenet_{arch}.npy'`` with resnet50).
COLE_FEATURES_PATTERN: Final = "{split}_features_imagenet_resnet50.npy"
#: Cole's observed-label file name (``datasets.load_data``).
COLE_OBSERVED_PATTERN: Final = "formatted_{split}_labels_obs.npy"


def _read_split(folder: Path, split: str, features_pattern: str, observed_pattern: str) -> FeatureSplit:
    labels_path = folder / f"formatted_{split}_labels.npy"
    labels = from_dense01(load_npy(labels_path, what="Cole full labels (N x C, 0/1)"), source=labels_path)
    features_path = folder / features_pattern.format(split=split)
    if not features_path.is_file():
        raise PartialMLError(
            f"no {features_path.name} next to {labels_path.name}; expected precomputed features (or set "
            "features_pattern)",
            path=folder,
        )
    x = as_float32_features(load_npy(features_path, what="features (N x D)", mmap=True), source=features_path)
    if x.shape[0] != labels.shape[0]:
        raise PartialMLError(
            f"has {x.shape[0]} rows but {labels_path.name} has {labels.shape[0]}; expected equal",
            path=features_path,
        )
    check_finite(x, source=features_path, what=f"{split} features")
    observed = None
    observed_path = folder / observed_pattern.format(split=split)
    if observed_path.is_file():
        observed = from_cole(
            load_npy(observed_path, what="Cole observed labels (N x C)"), source=observed_path
        )
        if observed.shape != labels.shape:
            raise PartialMLError(
                f"has shape {observed.shape} but {labels_path.name} has {labels.shape}; expected equal",
                path=observed_path,
            )
    ids = None
    images_path = folder / f"formatted_{split}_images.npy"
    if images_path.is_file():
        images = load_npy(images_path, what="image paths (a 1-d string array)")
        if images.ndim != 1 or images.dtype.kind not in "US" or images.shape[0] != labels.shape[0]:
            raise PartialMLError(
                f"has shape {images.shape} and dtype {images.dtype}; expected ({labels.shape[0]},) strings",
                path=images_path,
            )
        ids = [str(v) for v in images.tolist()]
    return FeatureSplit(x=x, labels=labels, observed=observed, ids=ids)


def read_cole(
    path: str | Path,
    *,
    features_pattern: str = COLE_FEATURES_PATTERN,
    observed_pattern: str = COLE_OBSERVED_PATTERN,
    class_names: Sequence[str] | None = None,
    name: str | None = None,
) -> FeatureData:
    """Read a Cole/LL formatted folder with precomputed features.

    Args:
        path: the dataset folder (e.g. Cole's ``data/pascal``).
        features_pattern: feature file name with ``{split}`` in ``train``/``val``; default Cole's
            ``{split}_features_imagenet_resnet50.npy``.
        observed_pattern: observed-label file name with ``{split}``; default ``formatted_{split}_labels_obs.npy``.
        class_names: the ``C`` class names; default ``class_names.txt`` in the folder, else ``class_<i>``.
        name: dataset name; default the folder name.

    Returns:
        :class:`FeatureData`: ``train`` from Cole's "train", ``test`` from Cole's "val" (``None`` when
        ``formatted_val_labels.npy`` is absent); ``labels`` are the full labels, ``observed`` the converted
        observed labels.

    Raises:
        PartialMLError: missing files, values outside Cole's encodings, shapes that disagree, NaN/inf
            features, repeated image paths.
    """
    folder = Path(path)
    if not (folder / "formatted_train_labels.npy").is_file():
        raise PartialMLError(
            "has no formatted_train_labels.npy; expected a Cole/LL formatted folder", path=folder
        )
    train = _read_split(folder, "train", features_pattern, observed_pattern)
    test = None
    if (folder / "formatted_val_labels.npy").is_file():
        test = _read_split(folder, "val", features_pattern, observed_pattern)
        if test.labels.shape[1] != train.labels.shape[1]:
            raise PartialMLError(
                f"formatted_val_labels.npy has {test.labels.shape[1]} classes, formatted_train_labels.npy "
                f"{train.labels.shape[1]}; expected the same classes",
                path=folder,
            )
    num_classes = train.labels.shape[1]
    if class_names is not None:
        names = list(class_names)
    elif (folder / "class_names.txt").is_file():
        names = read_name_list(folder / "class_names.txt", what="class names, one per line")
    else:
        names = default_class_names(num_classes)
    if len(names) != num_classes:
        raise PartialMLError(
            f"{len(names)} class names for {num_classes} label columns; expected equal", path=folder
        )
    data = FeatureData(
        name=name if name is not None else folder.resolve().name,
        class_names=names,
        train=train,
        test=test,
        source=str(folder),
    )
    check_feature_data(data)
    return data
