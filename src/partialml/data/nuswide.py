"""Reader of the official NUS-WIDE release (Chua et al., CIVR 2009): 81 concepts, train / test split.

Layout read (as unpacked from the official ``ConceptsList``, ``ImageList`` and ``Groundtruth`` archives)::

    <root>/Concepts81.txt                                  81 concept names, one per line
           (or <root>/ConceptsList/Concepts81.txt)
    <root>/ImageList/TrainImagelist.txt                    one image path per line, e.g. actor\\0001_2124494179.jpg
    <root>/ImageList/TestImagelist.txt
    <root>/TrainTestLabels/Labels_<concept>_Train.txt      one 0/1 per line, row i = image i of the list
           (or <root>/Groundtruth/TrainTestLabels/...)
    <root>/TrainTestLabels/Labels_<concept>_Test.txt

Labels are full: ``1`` -> positive, ``0`` -> negative (the official ground truth has no unknowns). Label files
may pad values with spaces and end lines in ``\\r\\n``. Columns follow ``Concepts81.txt``; rows follow the
image list; ``paths`` are the list entries with Windows ``\\`` turned into ``/`` (``actor/0001_2124494179.jpg``),
relative to the ``Flickr/`` image folder of the release. Every label file must have one value per image.

This is the official release (161,789 train / 107,859 test images in the lists), not the 2020 re-crawl
that Cole et al. distribute as formatted ``.npy`` files (read those with ``format="cole"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from partialml.data.image_labels import (
    ImageLabelSet,
    check_image_label_set,
    check_unique,
    read_text_file,
    split_lines,
)
from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE

__all__ = ["read_nuswide"]

NusSplit = Literal["train", "test"]


def _first_file(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def _read_column(path: Path, num_images: int) -> np.ndarray:
    values = []
    for number, line in split_lines(read_text_file(path, what="one 0/1 label per line")):
        if line not in ("0", "1"):
            raise PartialMLError(f"value {line!r}; expected 0 or 1", path=path, line=number)
        values.append(line == "1")
    if len(values) != num_images:
        raise PartialMLError(
            f"has {len(values)} labels for {num_images} images in the image list; expected one per image",
            path=path,
        )
    return np.asarray(values, dtype=LABEL_DTYPE)


def read_nuswide(path: str | Path, *, split: NusSplit = "train") -> ImageLabelSet:
    """Read the 81-concept labels of the official NUS-WIDE train or test split.

    Args:
        path: the NUS-WIDE folder (layout in the module docstring).
        split: ``"train"`` (default) or ``"test"``.

    Returns:
        :class:`ImageLabelSet` with ``(N, 81)`` full labels in ``{1, 0}``.

    Raises:
        PartialMLError: missing files, a value other than 0/1, a label file whose length differs from the
            image list, repeated images or concepts.
    """
    if split not in ("train", "test"):
        raise PartialMLError(f"split={split!r}; expected 'train' or 'test' for NUS-WIDE")
    root = Path(path)
    concepts_path = _first_file(root / "Concepts81.txt", root / "ConceptsList" / "Concepts81.txt")
    if concepts_path is None:
        raise PartialMLError(
            "has no Concepts81.txt (nor ConceptsList/Concepts81.txt); expected the NUS-WIDE folder", path=root
        )
    concept_lines = split_lines(read_text_file(concepts_path, what="the NUS-WIDE concept names"))
    concepts = [line for _, line in concept_lines]
    check_unique(concepts, path=concepts_path, what="concept", lines=[n for n, _ in concept_lines])
    tag = split.capitalize()
    list_path = root / "ImageList" / f"{tag}Imagelist.txt"
    entries = split_lines(read_text_file(list_path, what=f"the NUS-WIDE {split} image list"))
    paths = [line.replace("\\", "/") for _, line in entries]
    check_unique(paths, path=list_path, what="image", lines=[n for n, _ in entries])
    label_dir = next(
        (d for d in (root / "TrainTestLabels", root / "Groundtruth" / "TrainTestLabels") if d.is_dir()), None
    )
    if label_dir is None:
        raise PartialMLError(
            "has no TrainTestLabels folder (nor Groundtruth/TrainTestLabels); expected the NUS-WIDE folder",
            path=root,
        )
    labels = np.empty((len(paths), len(concepts)), dtype=LABEL_DTYPE)
    for c, concept in enumerate(concepts):
        labels[:, c] = _read_column(label_dir / f"Labels_{concept}_{tag}.txt", len(paths))
    return check_image_label_set(
        ImageLabelSet(paths=paths, labels=labels, class_names=concepts, source=str(root))
    )
