"""partialml.data: readers of feature datasets and the datasets shipped with the package.

* :func:`load_feature_data` reads any supported format (Mulan ARFF + XML, NPZ, CSV, ``.npy`` folder with
  memory-mapped features, Cole/LL formatted folder) into a :class:`FeatureData` (train split, optional
  test split, class names); labels use the partialml encoding ``1`` / ``0`` / ``-1``.
* :func:`builtin_datasets`, :func:`builtin_dataset_path` and :func:`resolve_data_path` give the shipped
  Mulan datasets ``yeast``, ``scene`` and ``corel5k``.
* :func:`read_image_labels` reads image label files (VOC, COCO, CUB, NUS-WIDE, OpenImages, Cole
  ``.npy``, generic CSV/JSONL) into an :class:`ImageLabelSet` of paths and labels.

Example:
    >>> data = load_feature_data(resolve_data_path("yeast"))
    >>> data.train.x.shape, data.test.x.shape, data.num_classes
    ((1500, 103), (917, 103), 14)
"""

from __future__ import annotations

from partialml.data.arrays import read_csv, read_npy_dir, read_npy_pair, read_npz
from partialml.data.builtin import builtin_dataset_path, builtin_datasets, resolve_data_path
from partialml.data.cole import read_cole
from partialml.data.features import (
    FeatureData,
    FeatureFormat,
    FeatureSplit,
    check_feature_data,
    check_feature_split,
    load_feature_data,
)
from partialml.data.image_labels import ImageLabelSet, read_image_labels
from partialml.data.mulan import read_arff, read_mulan, read_mulan_files, read_mulan_xml

__all__ = [
    "FeatureData",
    "FeatureFormat",
    "FeatureSplit",
    "ImageLabelSet",
    "builtin_dataset_path",
    "builtin_datasets",
    "check_feature_data",
    "check_feature_split",
    "load_feature_data",
    "read_arff",
    "read_cole",
    "read_csv",
    "read_image_labels",
    "read_mulan",
    "read_mulan_files",
    "read_mulan_xml",
    "read_npy_dir",
    "read_npy_pair",
    "read_npz",
    "resolve_data_path",
]
