"""Backbone features of images (``partialml extract-features``), and the ``linear-init`` setting.

Feature extraction. :func:`extract_features` runs a backbone (eval mode, no gradient) over images read
with a test-time transform (``extract-features`` uses the ``plain`` preset: resize to ``S x S``, ImageNet
mean/std, nothing random) and global-average-pools its feature map::

    f_i = mean_{h, w} backbone(x_i)[:, h, w]      # (D,) float32, D = backbone.out_channels

(the pooling of :class:`~partialml.models.image_heads.GAPLinearHead`; Cole et al. CVPR 2021 and Kim et
al. CVPR 2022 train their "linear" setting on exactly these 2048-d ResNet-50 features). The rows go
straight into ``np.lib.format.open_memmap`` (or an in-memory array), batch by batch, so that the features
are never all in RAM. :func:`extract_to_folder` writes the npy folder of
:func:`partialml.data.arrays.read_npy_dir`: ``{split}_features.npy`` ``(N, D)`` float32,
``{split}_labels.npy`` ``(N, C)`` int8 in ``{1, 0, -1}``, ``{split}_observed.npy`` when the label file has
partial labels, ``{split}_ids.txt`` (the image paths) and ``class_names.txt``; ``partialml train --data
DIR`` (features setting) reads it. Each ``.npy`` is written under a temporary name and renamed at the end.

LinearInit (``--setting linear-init``; Cole et al. CVPR 2021, "LinearInit"; reference-methods.md: 25 linear
epochs, then end-to-end fine-tuning from that linear layer). :class:`LinearInitTrainer`:

1. builds the end-to-end run exactly as ``--setting end-to-end`` (same partial labels, validation split,
   backbone weights; :class:`~partialml.engine.image_setting.ImageTrainer`);
2. phase 1 (``linear``): extracts the frozen backbone's pooled features of the training and test images
   in memory (the run's test-time transforms) and trains a linear head on them for ``--init-epochs``
   epochs with the run's loss through the features-setting trainer, at the head's learning rate
   ``lr * head_lr_mult`` (the only parameters trained); its run directory is ``OUTPUT/phase1``;
3. phase 2 (``end-to-end``): copies that run's best ``head.fc`` weights (``LinearHead`` and
   ``GAPLinearHead`` share the names and shapes) into the image model, and the loss's learned parameters
   (ROLE's label estimates, carried over as in Cole's code), then fine-tunes backbone and head for
   ``--epochs`` epochs.

``history.csv`` holds both phases (a ``phase`` column, ``linear`` then ``end-to-end``; epochs 0-indexed
within each phase) and ``metrics.json`` a ``phases`` entry; the best epoch and the reported scores are
phase 2's. ``--resume`` continues phase 2 when phase 1 had finished.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor, nn

from partialml.engine.image_setting import (
    DEFAULT_SPLITS,
    ImageBatches,
    ImageTrainer,
    build_image_dataset,
    image_format,
    read_image_splits,
)
from partialml.engine.image_setting import image_root as resolve_image_root
from partialml.errors import PartialMLError

SplitRole = Literal["train", "test"]

#: The settings whose runs hold an image model.
IMAGE_SETTINGS: tuple[str, ...] = ("end-to-end", "linear-init")

#: Sub-folder of a linear-init run that holds phase 1 (the features run).
PHASE1_DIR = "phase1"


# -- extraction -----------------------------------------------------------------------------------------


@torch.no_grad()
def extract_features(
    backbone: nn.Module, batches: ImageBatches, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Pooled backbone features ``(n, D)`` float32 of ``batches`` (in the order of ``batches.rows``).

    Args:
        backbone: ``(B, 3, H, W) -> (B, D, h, w)`` with an ``out_channels`` attribute; run in eval mode
            (restored afterwards).
        batches: unshuffled :class:`~partialml.engine.image_setting.ImageBatches`.
        out: an ``(n, D)`` float32 array to fill (e.g. an ``open_memmap``); a new one when ``None``.

    Rows of images skipped as unreadable stay 0.
    """
    dim = int(cast(Any, backbone).out_channels)
    n = batches.num_samples
    if out is None:
        out = np.zeros((n, dim), dtype=np.float32)
    if out.shape != (n, dim):
        raise ValueError(f"out has shape {out.shape}; expected {(n, dim)}")
    was_training = backbone.training
    backbone.eval()
    try:
        for x, positions in batches:
            feats = backbone(x).float().mean(dim=(2, 3))
            out[positions.numpy()] = feats.cpu().numpy()
    finally:
        backbone.train(was_training)
    return out


def _batches(
    dataset: Any, n: int, *, batch_size: int, device: torch.device, num_workers: int
) -> ImageBatches:
    return ImageBatches(dataset, np.arange(n), batch_size=batch_size, device=device, num_workers=num_workers)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    from partialml.engine.inference import write_text

    for line in lines:
        if "\n" in line or "\r" in line:
            raise PartialMLError(
                f"a name holds a line break ({line!r}); cannot write one name per line", path=path
            )
    write_text(path, "".join(f"{line}\n" for line in lines))


@dataclass
class ExtractResult:
    """What :func:`extract_to_folder` wrote: the folder, the rows per split and the feature dimension."""

    folder: Path
    rows: dict[str, int]
    dim: int


def extract_to_folder(
    config: Any,
    output: str | Path,
    *,
    splits: Sequence[SplitRole] = ("train", "test"),
    batch_size: int = 64,
) -> ExtractResult:
    """Extract the features of ``splits`` into the npy folder ``output`` (module docstring).

    Args:
        config: a :class:`~partialml.engine.config.TrainConfig` with ``data``, ``format``,
            ``image_root``, ``test_split``, ``model``, ``weights``, ``width``, ``image_size``,
            ``transforms`` (``plain`` for ``extract-features``), ``device``, ``num_workers``,
            ``on_bad_image``.
        output: the folder to write (created).
        splits: ``train`` (the format's training split) and/or ``test`` (its test split, or the
            ``--test-split`` label file for csv/jsonl). A test split asked for explicitly must exist.
        batch_size: images per forward pass.
    """
    from partialml.engine.trainer import resolve_device
    from partialml.models.backbones import build_backbone

    wanted = list(dict.fromkeys(splits))
    for split in wanted:
        if split not in ("train", "test"):
            raise PartialMLError(f"--split: got {split!r}; expected train or test")
    if batch_size < 1:
        raise PartialMLError(f"--batch-size: got {batch_size}; expected an integer >= 1")
    train, test = read_image_splits(config)
    sets = {"train": train, "test": test}
    if "test" in wanted and test is None:
        fmt = image_format(config)
        hint = "give --test-split FILE" if DEFAULT_SPLITS[fmt][1] is None else "the dataset has no test split"
        raise PartialMLError(f"--split test: there is no test split ({hint})", path=str(config.data))
    root = resolve_image_root(config)
    device = resolve_device(config.device)
    weights = None if config.weights in (None, "none") else config.weights
    backbone = build_backbone(config.model, weights=weights, width=config.width).to(device)
    dim = int(cast(Any, backbone).out_channels)
    folder = Path(output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PartialMLError(f"--output: cannot create the folder ({exc.strerror})", path=folder) from None
    rows: dict[str, int] = {}
    for split in wanted:
        part = sets[split]
        assert part is not None
        dataset = build_image_dataset(part.paths, root=root, config=config, train=False)
        batches = _batches(
            dataset, len(part.paths), batch_size=batch_size, device=device, num_workers=config.num_workers
        )
        target = folder / f"{split}_features.npy"
        tmp = folder / f"{split}_features.tmp.npy"
        memmap = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(part.paths), dim))
        try:
            extract_features(backbone, batches, out=memmap)
            memmap.flush()
        finally:
            del memmap
        os.replace(tmp, target)
        _save_npy(folder / f"{split}_labels.npy", np.asarray(part.labels, dtype=np.int8))
        if part.observed is not None:
            _save_npy(folder / f"{split}_observed.npy", np.asarray(part.observed, dtype=np.int8))
        _write_lines(folder / f"{split}_ids.txt", [str(p) for p in part.paths])
        rows[split] = len(part.paths)
    _write_lines(folder / "class_names.txt", [str(c) for c in train.class_names])
    return ExtractResult(folder=folder, rows=rows, dim=dim)


# -- linear-init ----------------------------------------------------------------------------------------


class LinearInitTrainer(ImageTrainer):
    """The ``linear-init`` setting (module docstring): phase 1 a linear head on frozen features, phase 2
    end-to-end fine-tuning from it. ``phase1`` is the phase-1 :class:`~partialml.engine.trainer.RunResult`
    after :meth:`initialize_head`."""

    phase1: Any = None

    def phase1_config(self) -> Any:
        """The features-setting config of phase 1 (head lr, ``init_epochs`` epochs, ``OUTPUT/phase1``)."""
        config = self.config
        assert config.output_dir is not None
        return config.updated(
            {
                "setting": "features",
                "head": "linear",
                "standardize": False,
                "epochs": config.init_epochs,
                "lr": config.lr * config.head_lr_mult,
                "head_lr_mult": 1.0,
                "output_dir": str(Path(config.output_dir) / PHASE1_DIR),
                "resume": False,
                "recipe": None,
            }
        )

    def _feature_data(self) -> SimpleNamespace:
        """In-memory features of every training row of the label file (rows dropped by a long-tail cut
        stay 0: the same cut drops them again) and of the test split."""
        config, device = self.config, self.device
        backbone = cast(Any, self.model).backbone
        bs = min(config.eval_batch_size, 4 * config.batch_size)
        train, test = read_image_splits(config)
        kept = np.asarray(self.prepared.features)[:, 0].astype(np.int64)
        eval_feats = extract_features(
            backbone,
            _batches(
                self.eval_dataset, len(kept), batch_size=bs, device=device, num_workers=config.num_workers
            ),
        )
        full = np.zeros((len(train.paths), eval_feats.shape[1]), dtype=np.float32)
        full[kept] = eval_feats
        observed = None if train.observed is None else np.asarray(train.observed, dtype=np.int8)
        test_ns = None
        if test is not None and self.test_dataset is not None:
            test_feats = extract_features(
                backbone,
                _batches(
                    self.test_dataset,
                    len(test.paths),
                    batch_size=bs,
                    device=device,
                    num_workers=config.num_workers,
                ),
            )
            test_ns = SimpleNamespace(x=test_feats, labels=np.asarray(test.labels, dtype=np.int8))
        return SimpleNamespace(
            name=Path(str(config.data)).stem or str(config.data),
            class_names=list(train.class_names),
            train=SimpleNamespace(x=full, labels=np.asarray(train.labels, dtype=np.int8), observed=observed),
            test=test_ns,
        )

    def initialize_head(self) -> Any:
        """Run phase 1 and load its best head (and the loss's learned parameters) into the image model."""
        from partialml.engine.checkpoint import load_checkpoint
        from partialml.engine.trainer import Trainer

        self.setup()
        data = self._feature_data()
        phase1 = Trainer(
            self.phase1_config(),
            data=data,
            show_progress=self.show_progress,
            handle_signals=self.handle_signals,
        )
        result = phase1.fit()
        best = result.run_dir / "checkpoints" / "best.pt"
        state = load_checkpoint(best if best.is_file() else result.run_dir / "checkpoints" / "last.pt")
        head = cast(Any, self.model).head
        with torch.no_grad():
            head.fc.weight.copy_(state["model"]["head.fc.weight"])
            head.fc.bias.copy_(state["model"]["head.fc.bias"])
        if any(True for _ in self.loss.parameters()):  # ROLE: the label estimates carry over
            self.loss.load_state_dict(state["loss"])
        self.phase1 = result
        return result

    def fit(self) -> Any:
        """Phase 1 (unless resuming phase 2), phase 2, then both phases in history.csv / metrics.json."""
        self.setup()
        config = self.config
        assert config.output_dir is not None
        phase1_dir = Path(config.output_dir) / PHASE1_DIR
        if config.resume:
            if not (phase1_dir / "metrics.json").is_file():
                raise PartialMLError(
                    "--resume: phase 1 of this linear-init run did not finish", path=phase1_dir
                )
            phase1_history = _read_history(phase1_dir / "history.csv")
            phase1_metrics = json.loads((phase1_dir / "metrics.json").read_text(encoding="utf-8"))
        else:
            if config.overwrite:
                from partialml.engine.run_dir import RunDir

                RunDir(phase1_dir).clear_previous_run()
            res = self.initialize_head()
            phase1_history, phase1_metrics = res.history, res.metrics
        result = super().fit()
        rows = [{**row, "phase": "linear"} for row in phase1_history]
        rows += [{**row, "phase": "end-to-end"} for row in result.history]
        _write_phase_history(self.run.history, rows)
        metrics = dict(result.metrics)
        metrics["protocol"]["init_epochs"] = config.init_epochs
        metrics["phases"] = {
            "linear": {
                "run_dir": PHASE1_DIR,
                "epochs_run": phase1_metrics.get("epochs_run"),
                "best_epoch": phase1_metrics.get("best_epoch"),
                "lr": config.lr * config.head_lr_mult,
                "val_mAP": (phase1_metrics.get("val") or {}).get("mAP"),
                "test_mAP": (phase1_metrics.get("test") or {}).get("mAP"),
            },
            "end-to-end": {
                "epochs_run": metrics["epochs_run"],
                "best_epoch": metrics["best_epoch"],
                "val_mAP": (metrics.get("val") or {}).get("mAP"),
                "test_mAP": (metrics.get("test") or {}).get("mAP"),
            },
        }
        self.run.write_json("metrics.json", metrics)
        result.metrics = metrics
        return result


def _read_history(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


def _write_phase_history(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    from partialml.engine.inference import write_text
    from partialml.engine.run_dir import HISTORY_COLUMNS

    columns = ["phase", *HISTORY_COLUMNS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    write_text(path, buf.getvalue())


# -- predicting with an image run -----------------------------------------------------------------------


def build_run_image_model(config: Any, meta: dict[str, Any]) -> nn.Module:
    """The image model of a run (random weights; the caller loads the checkpoint), built on the CPU."""
    from partialml.engine.image_setting import build_image_model

    rebuilt = config.updated({"weights": None, "amp": "off", "channels_last": False})
    return build_image_model(rebuilt, num_classes=int(meta["num_classes"]), device=torch.device("cpu"))


def read_image_split(
    loaded: Any,
    *,
    data: str,
    format: str = "auto",
    image_root: str | None = None,
    split: SplitRole = "test",
) -> tuple[Any, Path, Any]:
    """The labels of ``data`` for an image run: ``(ImageLabelSet, image root, config)``, the config being
    the run's with ``data`` / ``format`` / ``image_root`` (its test-time transforms read the images).

    ``data`` is a csv/jsonl label file (read whole, with the run's classes) or a dataset folder
    (``split``: its training or test split); its classes must be the run's, in order.
    """
    from partialml.data import read_image_labels

    if split not in ("train", "test"):
        raise PartialMLError(f"--split: got {split!r}; expected train or test")
    config = loaded.config.updated(
        {
            "data": data,
            "format": format,
            "image_root": image_root,
            "test_split": None,
            "setting": "end-to-end",
        }
    )
    fmt = image_format(config)
    names = loaded.class_names
    if fmt in ("csv", "jsonl"):
        # the run's --unlisted reads other csv / jsonl files as it read its training file
        unlisted = {"unlisted": config.unlisted} if config.unlisted != "unknown" else {}
        part = read_image_labels(data, format=cast(Any, fmt), classes=list(names), **unlisted)
    else:
        part = read_image_labels(
            data, format=cast(Any, fmt), split=DEFAULT_SPLITS[fmt][0 if split == "train" else 1]
        )
    if list(part.class_names) != list(names):
        raise PartialMLError(
            f"--data has classes {list(part.class_names)[:5]}...; the run was trained on {names[:5]}...",
            path=data,
        )
    return part, resolve_image_root(config), config


def predict_image_split(
    loaded: Any,
    *,
    data: str,
    format: str = "auto",
    image_root: str | None = None,
    split: SplitRole = "test",
    batch_size: int = 64,
    num_workers: int = 0,
) -> tuple[list[str], list[str], np.ndarray]:
    """Probabilities of an image run's model on a label file or dataset folder.

    ``data`` is a csv/jsonl label file (read whole; ``split`` does not apply) or a dataset folder
    (``split``: its training or test split, :data:`~partialml.engine.image_setting.DEFAULT_SPLITS`).
    Images are read with the run's test-time transforms at its ``image_size``. Returns ``(image paths,
    class names, (n, C) float32)``.
    """
    part, root, config = read_image_split(
        loaded, data=data, format=format, image_root=image_root, split=split
    )
    names = loaded.class_names
    dataset = build_image_dataset(part.paths, root=root, config=config, train=False)
    from partialml.engine.image_setting import predict_image_scores

    batches = _batches(
        dataset, len(part.paths), batch_size=batch_size, device=loaded.device, num_workers=num_workers
    )
    scores: Tensor = predict_image_scores(loaded.model, batches)
    if scores.numel() == 0:
        scores = torch.zeros(len(part.paths), len(names))
    return [str(p) for p in part.paths], list(names), scores.numpy()


__all__ = [
    "IMAGE_SETTINGS",
    "PHASE1_DIR",
    "ExtractResult",
    "LinearInitTrainer",
    "build_run_image_model",
    "extract_features",
    "extract_to_folder",
    "predict_image_split",
    "read_image_split",
]
