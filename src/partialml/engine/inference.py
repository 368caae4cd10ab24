"""Using a finished run: re-scoring it (``partialml evaluate``) and predicting (``partialml predict``).

A run directory holds its resolved ``config.yaml`` and checkpoints whose ``meta`` entry records the
input dimension, the class names and the head; :func:`load_run_model` rebuilds the model from them
(standardization statistics included, they are buffers of the model).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from partialml.engine.checkpoint import atomic_write_text, load_checkpoint
from partialml.engine.config import TrainConfig, load_config
from partialml.engine.evaluate import predict_scores, split_report
from partialml.engine.loaders import as_feature_matrix
from partialml.engine.run_dir import RunDir
from partialml.engine.trainer import check_finite_features, load_data, prepare_data, resolve_device
from partialml.errors import PartialMLError
from partialml.models.heads import FeatureClassifier, build_feature_classifier

CheckpointName = Literal["best", "last"]


@dataclass
class LoadedRun:
    """A run's config, checkpoint state and rebuilt model (eval mode, on ``device``)."""

    run_dir: RunDir
    config: TrainConfig
    state: dict[str, Any]
    model: FeatureClassifier
    device: torch.device

    @property
    def class_names(self) -> list[str]:
        return list(self.state["meta"]["class_names"])


def load_run_model(
    run: str | Path, *, checkpoint: CheckpointName = "best", device: str = "auto"
) -> LoadedRun:
    """Read ``run``'s ``config.yaml`` and ``checkpoints/{checkpoint}.pt`` and rebuild its model."""
    run_dir = RunDir(run)
    if not run_dir.config.is_file():
        raise PartialMLError("--run: not a run directory (no config.yaml)", path=run_dir.path)
    if checkpoint not in ("best", "last"):
        raise PartialMLError(f"--checkpoint: got {checkpoint!r}; expected best or last")
    config = load_config(run_dir.config)
    state = load_checkpoint(run_dir.checkpoint(checkpoint))
    meta = state["meta"]
    std = state.get("standardization")
    from partialml.engine.extract import IMAGE_SETTINGS, build_run_image_model
    from partialml.models.dual_branch import model_from_meta

    image_run = meta.get("setting") in IMAGE_SETTINGS
    model: Any = (
        build_run_image_model(config, meta) if image_run else model_from_meta(meta, std)
    ) or build_feature_classifier(
        meta["head"],
        in_dim=int(meta["in_dim"]),
        num_classes=int(meta["num_classes"]),
        hidden_dim=int(meta["hidden_dim"]),
        dropout=float(meta["dropout"]),
        mean=None if std is None else std["mean"],
        std=None if std is None else std["std"],
    )
    model.load_state_dict(state["model"])
    dev = resolve_device(device)
    model.to(dev).eval()
    return LoadedRun(run_dir=run_dir, config=config, state=state, model=model, device=dev)


def _check_compatible(loaded: LoadedRun, data: Any, source: str) -> None:
    meta = loaded.state["meta"]
    if len(data.class_names) != int(meta["num_classes"]):
        raise PartialMLError(
            f"--data has {len(data.class_names)} classes, the run was trained on {meta['num_classes']}",
            path=source,
        )
    dim = int(data.train.x.shape[1])
    if dim != int(meta["in_dim"]):
        raise PartialMLError(
            f"--data has {dim}-d features, the run was trained on {meta['in_dim']}-d", path=source
        )


def evaluate_run(
    run: str | Path,
    *,
    data: str | None = None,
    checkpoint: CheckpointName = "best",
    device: str = "auto",
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Re-score a run: its validation split (same split and labels as in training) and test split.

    With ``data`` other than the run's own, that data's test split is scored (its training split when it
    has no test split), with its full labels. Returns plain data: ``{"run", "checkpoint", "epoch", "data",
    "val", "test"}`` (``val`` only for the run's own data; each a report as in ``metrics.json``).
    """
    loaded = load_run_model(run, checkpoint=checkpoint, device=device)
    config = loaded.config
    names = loaded.class_names
    out: dict[str, Any] = {
        "run": str(loaded.run_dir.path),
        "checkpoint": checkpoint,
        "epoch": int(loaded.state["epoch"]),
        "data": data or config.data,
        "val": None,
        "test": None,
    }

    def report(features: Any, rows: Any, labels: np.ndarray) -> dict[str, Any]:
        scores = predict_scores(loaded.model, features, rows, batch_size=batch_size, device=loaded.device)
        return split_report(scores, labels, class_names=names, empty_class=config.empty_class)

    if data is None or data == config.data:
        prepared = prepare_data(config)
        _check_compatible(loaded, prepared.data, str(config.data))
        if len(prepared.val_rows):
            out["val"] = report(prepared.features, prepared.val_rows, prepared.val_labels)
            out["val"]["labels"] = config.val_labels
            out["val"]["unknown_as"] = prepared.val_unknown_as
        if prepared.test_features is not None and prepared.test_labels is not None:
            out["test"] = report(prepared.test_features, None, prepared.test_labels)
            out["test"]["labels"] = "full"
        return out
    other = load_data(data, format="auto")
    _check_compatible(loaded, other, data)
    split = other.test if getattr(other, "test", None) is not None else other.train
    out["split"] = "test" if split is getattr(other, "test", None) else "train"
    check_finite_features(split.x, source=data)
    out["test"] = report(as_feature_matrix(split.x), None, np.asarray(split.labels, dtype=np.int8))
    out["test"]["labels"] = "full"
    return out


def predict_split(
    run: str | Path,
    *,
    data: str,
    split: Literal["train", "test"] = "test",
    checkpoint: CheckpointName = "best",
    device: str = "auto",
    batch_size: int = 1024,
    format: str = "auto",
    image_root: str | None = None,
) -> tuple[list[str], list[str], np.ndarray]:
    """Probabilities of a split of ``data``: ``(sample names, class names, (n, C) float32 scores)``.

    Sample names are the data's ids, or the 0-based row of each sample in its split's source when the
    format carries no names. For a run of an image model (``end-to-end``, ``linear-init``) ``data`` is an
    image label file or dataset folder (``format``, ``image_root``) and the names are the image paths
    (:func:`partialml.engine.extract.predict_image_split`).
    """
    if split not in ("train", "test"):
        raise PartialMLError(f"--split: got {split!r}; expected train or test")
    loaded = load_run_model(run, checkpoint=checkpoint, device=device)
    from partialml.engine.extract import IMAGE_SETTINGS, predict_image_split

    if loaded.state["meta"].get("setting") in IMAGE_SETTINGS:
        return predict_image_split(
            loaded,
            data=data,
            format=format,
            image_root=image_root,
            split=split,
            batch_size=min(batch_size, loaded.config.eval_batch_size),
        )
    source = load_data(data, format="auto")
    _check_compatible(loaded, source, data)
    part = getattr(source, split, None)
    if part is None:
        raise PartialMLError(f"--split {split}: the data has no {split} split", path=data)
    check_finite_features(part.x, source=data)
    scores = predict_scores(
        loaded.model, as_feature_matrix(part.x), None, batch_size=batch_size, device=loaded.device
    )
    ids = getattr(part, "ids", None)
    n = int(scores.shape[0])
    names = [str(i) for i in ids] if ids is not None else [str(i) for i in range(n)]
    return names, loaded.class_names, scores.numpy()


def predictions_csv(
    sample_names: Sequence[str],
    class_names: Sequence[str],
    scores: np.ndarray,
    *,
    threshold: float | np.ndarray | None = None,
) -> str:
    """CSV text: a ``sample`` column, then one column per class: scores, or 0/1 at ``threshold``
    (one number, or a ``(C,)`` array of per-class thresholds)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sample", *class_names])
    if threshold is None:
        for name, row in zip(sample_names, scores, strict=True):
            writer.writerow([name, *(f"{float(v):.6g}" for v in row)])
    else:
        binary = (scores >= np.asarray(threshold, dtype=np.float64)).astype(np.int64)
        for name, row in zip(sample_names, binary, strict=True):
            writer.writerow([name, *(str(int(v)) for v in row)])
    return buf.getvalue()


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` atomically, turning OS errors into one line naming the file."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise PartialMLError(f"cannot write the file ({exc.strerror})", path=path) from None


__all__ = [
    "LoadedRun",
    "evaluate_run",
    "load_run_model",
    "predict_split",
    "predictions_csv",
    "write_text",
]
