"""The datasets shipped with partialml, and resolving a ``--data`` argument to a path.

Shipped (package data under ``partialml/datasets/<name>/``, Mulan layout, ARFF gzipped; each folder has a
``SOURCE.md`` with origin, citation, licence and the sha256 of the original files):

========  ===========  ========  =======  ============================================
name      train/test   features  labels   notes
========  ===========  ========  =======  ============================================
yeast     1500 / 917   103       14       cardinality 4.228 (train); XML order != ARFF
scene     1211 / 1196  294       6        cardinality 1.062 (train)
corel5k   4500 / 500   499       374      sparse, long-tailed, cardinality 3.522 (train)
========  ===========  ========  =======  ============================================

Example:
    >>> builtin_datasets()
    ['corel5k', 'scene', 'yeast']
    >>> resolve_data_path("yeast").name
    'yeast'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

from partialml.errors import PartialMLError

__all__ = ["BUILTIN_DATASETS", "builtin_dataset_path", "builtin_datasets", "resolve_data_path"]

#: The names of the shipped datasets, sorted.
BUILTIN_DATASETS: Final = ("corel5k", "scene", "yeast")


def builtin_datasets() -> list[str]:
    """The names of the shipped datasets, sorted."""
    return list(BUILTIN_DATASETS)


def builtin_dataset_path(name: str) -> Path:
    """The folder of a shipped dataset (Mulan layout), found through :mod:`importlib.resources`.

    Raises:
        PartialMLError: ``name`` is not a shipped dataset (the message lists them), or the package data is
            not installed as plain files.
    """
    if name not in BUILTIN_DATASETS:
        raise PartialMLError(
            f"unknown built-in dataset {name!r}; expected one of {', '.join(BUILTIN_DATASETS)}"
        )
    folder = resources.files("partialml").joinpath("datasets", name)
    path = Path(str(folder))
    if not isinstance(folder, Path) or not (path / f"{name}.xml").is_file():
        raise PartialMLError(
            f"built-in dataset {name!r} is not installed as files under {path}; reinstall partialml with its "
            "package data"
        )
    return path


def resolve_data_path(text: str | Path) -> Path:
    """Turn a data argument into a path: an existing path wins, else a built-in dataset name.

    Args:
        text: a file or folder path, or one of :func:`builtin_datasets`.

    Raises:
        PartialMLError: neither an existing path nor a built-in name (the message lists the names).

    Example:
        >>> resolve_data_path("scene") == builtin_dataset_path("scene")
        True
    """
    path = Path(text)
    if path.exists():
        return path
    if str(text) in BUILTIN_DATASETS:
        return builtin_dataset_path(str(text))
    raise PartialMLError(
        f"no such file or folder, and not a built-in dataset; expected a path or one of {', '.join(BUILTIN_DATASETS)}",
        path=str(text),
    )
