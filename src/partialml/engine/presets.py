"""Per-dataset, per-method presets: training options and loss options chosen on validation data.

The presets live in the package data file ``partialml/configs/presets.yaml``::

    defaults:
      train: {epochs: 25, lr: 0.001, batch_size: 16, standardize: true}
    datasets:
      yeast:
        train: {lr: 0.01}                       # applies to every method on yeast
        losses:
          ll-r: {loss_args: {delta_rel: 0.01}}
          epr: {loss_args: {expected_positives: 4.228}, expected_positives: oracle}

Lookup order (later wins): ``defaults.train``, ``datasets.<name>.train``, then the method's entry
(its ``train`` and ``loss_args``). Any other key of a method entry (``expected_positives: oracle``,
``chosen_from``) is kept in :attr:`Preset.notes`. How each value was chosen (grids, seeds, validation
mAP only, never the test split) is written in ``docs/presets.md`` and by ``scripts/search_presets.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from partialml.errors import PartialMLError

PRESETS_FILE = "presets.yaml"


@dataclass(frozen=True)
class Preset:
    """The options of one (dataset, method).

    Attributes:
        train: :class:`~partialml.engine.TrainConfig` keys (``epochs``, ``lr``, ``batch_size`` ...).
        loss_args: keyword options of the loss.
        source: where they came from: ``presets.yaml:<dataset>/<method>``, ``presets.yaml:<dataset>``
            or ``presets.yaml:defaults``.
        notes: the entry's other keys (``expected_positives: oracle|estimate`` ...).
    """

    train: dict[str, Any] = field(default_factory=dict)
    loss_args: dict[str, Any] = field(default_factory=dict)
    source: str = "presets.yaml:defaults"
    notes: dict[str, Any] = field(default_factory=dict)


def presets_path() -> Path:
    """The path of the shipped ``presets.yaml``."""
    return Path(str(resources.files("partialml") / "configs" / PRESETS_FILE))


def _mapping(value: Any, where: str, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PartialMLError(f"{where}: expected a mapping", path=path)
    return dict(value)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PartialMLError(f"cannot read the presets: {exc.strerror}", path=path) from None
    except yaml.YAMLError:
        raise PartialMLError("not valid YAML", path=path) from None
    return _mapping(data, "presets", path)


def load_presets(path: str | Path | None = None) -> dict[str, Any]:
    """The parsed presets file (the shipped one by default), read afresh at each call."""
    return _load(Path(path or presets_path()))


def preset_for(dataset: str, method: str, *, path: str | Path | None = None) -> Preset:
    """The merged preset of ``method`` on ``dataset`` (a dataset or method not listed gets the defaults)."""
    p = Path(path or presets_path())
    data = load_presets(p)
    train = _mapping(_mapping(data.get("defaults"), "defaults", p).get("train"), "defaults.train", p)
    source = "presets.yaml:defaults"
    datasets = _mapping(data.get("datasets"), "datasets", p)
    entry_ds = _mapping(datasets.get(dataset), f"datasets.{dataset}", p)
    loss_args: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    if entry_ds:
        train.update(_mapping(entry_ds.get("train"), f"datasets.{dataset}.train", p))
        source = f"presets.yaml:{dataset}"
        losses = _mapping(entry_ds.get("losses"), f"datasets.{dataset}.losses", p)
        entry = _mapping(losses.get(method), f"datasets.{dataset}.losses.{method}", p)
        if entry:
            train.update(_mapping(entry.get("train"), f"datasets.{dataset}.losses.{method}.train", p))
            loss_args = _mapping(entry.get("loss_args"), f"datasets.{dataset}.losses.{method}.loss_args", p)
            notes = {k: v for k, v in entry.items() if k not in ("train", "loss_args")}
            source = f"presets.yaml:{dataset}/{method}"
    return Preset(train=train, loss_args=loss_args, source=source, notes=notes)


__all__ = ["PRESETS_FILE", "Preset", "load_presets", "preset_for", "presets_path"]
