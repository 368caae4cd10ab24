"""Using a finished run: re-scoring it (``partialml evaluate``) and predicting (``partialml predict``).

A run directory holds its resolved ``config.yaml`` and checkpoints whose ``meta`` entry records the
input dimension, the class names and the head; :func:`load_run_model` rebuilds the model from them
(standardization statistics included, they are buffers of the model).

:func:`prepare_run` is the one seam between a finished run and its own data, for every setting: it
prepares the data as the run's training did (same partial labels, long-tail cut, validation split and
validation labels: :func:`~partialml.engine.trainer.prepare_data`, through
:func:`~partialml.engine.image_setting.prepare_image_data` for image runs) and
:meth:`RunData.scores` scores a split with the run's model (feature rows, or the images read with the
run's test-time transforms). ``evaluate``, the tuned thresholds, ``suggest`` and the analyses use it.
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
from partialml.engine.evaluate import (
    predict_scores,
    report_test_split,
    split_report,
    training_positives,
    validation_labels_kind,
)
from partialml.engine.loaders import as_feature_matrix
from partialml.engine.run_dir import RunDir
from partialml.engine.trainer import (
    PreparedData,
    check_finite_features,
    load_data,
    prepare_data,
    resolve_device,
)
from partialml.errors import PartialMLError
from partialml.models.heads import FeatureClassifier, build_feature_classifier

CheckpointName = Literal["best", "last"]
RunSplit = Literal["train", "val", "test"]


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


def is_image_run(loaded: LoadedRun) -> bool:
    """Whether the run holds an image model (``end-to-end`` or ``linear-init``)."""
    from partialml.engine.extract import IMAGE_SETTINGS

    return loaded.state["meta"].get("setting") in IMAGE_SETTINGS


def prepare_setting_data(config: TrainConfig, data: Any = None) -> tuple[PreparedData, Any]:
    """``(prepared, images)`` of ``config`` as its training prepares them, for either setting.

    Features: :func:`~partialml.engine.trainer.prepare_data` (on ``data`` when given, already read) and
    ``images`` ``None``. Image settings: :func:`~partialml.engine.image_setting.prepare_image_data`
    (``prepared.features`` are ``(N, 1)`` image row numbers; ``images`` an
    :class:`~partialml.engine.image_setting.ImageData` with the paths).
    """
    from partialml.engine.extract import IMAGE_SETTINGS

    if config.setting in IMAGE_SETTINGS:
        from partialml.engine.image_setting import prepare_image_data

        return prepare_image_data(config)
    return prepare_data(config, data), None


@dataclass
class RunData:
    """A run's own data prepared as in its training (:func:`prepare_run`), and its sample names.

    Attributes:
        loaded: the run (model in eval mode).
        prepared: :class:`~partialml.engine.trainer.PreparedData`; ``train_rows`` / ``val_rows`` index
            its ``N`` training rows, ``val_labels`` and ``test_labels`` are what the run was scored on.
        images: the image paths of an image run (``None`` for features).
        sample_names: ``N`` names of the training rows: image paths, the data's ids, or 0-based rows.
    """

    loaded: LoadedRun
    prepared: PreparedData
    images: Any
    sample_names: list[str]

    def scores(self, split: RunSplit, *, batch_size: int | None = None) -> np.ndarray:
        """Probabilities ``(n, C)`` float32 of the run's model on ``split``: ``train`` every training row
        (``N``, validation rows included, in row order), ``val`` the rows ``val_rows``, ``test`` the test
        split. ``batch_size``: 1024 feature rows, or the trainer's scoring batch for images
        (``min(eval_batch_size, 4 * batch_size)``, so the scores equal those of training).
        """
        p, loaded = self.prepared, self.loaded
        if split not in ("train", "val", "test"):
            raise PartialMLError(f"split: got {split!r}; expected train, val or test")
        if split == "test" and p.test_labels is None:
            raise PartialMLError("the run's data has no test split", path=p.source)
        rows = p.val_rows if split == "val" else None
        if self.images is None:
            features = p.test_features if split == "test" else p.features
            assert features is not None
            out = predict_scores(
                loaded.model, features, rows, batch_size=batch_size or 1024, device=loaded.device
            )
            return out.numpy()
        config = loaded.config
        paths = self.images.test_paths if split == "test" else self.images.train_paths
        bs = batch_size or min(config.eval_batch_size, 4 * config.batch_size)
        return image_scores(loaded, paths, root=self.images.root, config=config, rows=rows, batch_size=bs)


def image_scores(
    loaded: LoadedRun,
    paths: Sequence[str],
    *,
    root: Path,
    config: TrainConfig,
    rows: np.ndarray | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """``(n, C)`` float32 probabilities of an image run's model on ``paths[rows]`` (all when ``None``),
    read with ``config``'s test-time transforms (unreadable images skipped by ``--on-bad-image skip``
    score 0)."""
    from partialml.engine.image_setting import ImageBatches, build_image_dataset, predict_image_scores

    dataset = build_image_dataset(paths, root=root, config=config, train=False)
    chosen = np.arange(len(paths)) if rows is None else np.asarray(rows, dtype=np.int64)
    batches = ImageBatches(
        dataset, chosen, batch_size=batch_size, device=loaded.device, num_workers=config.num_workers
    )
    scores = predict_image_scores(loaded.model, batches)
    if scores.numel() == 0:
        return np.zeros((len(chosen), len(loaded.class_names)), dtype=np.float32)
    return scores.numpy()


def prepare_run(loaded: LoadedRun) -> RunData:
    """The run's own data, prepared as its training did (either setting), checked against the model."""
    prepared, images = prepare_setting_data(loaded.config)
    if images is None:
        _check_compatible(loaded, prepared.data, str(loaded.config.data))
        ids = getattr(prepared.data.train, "ids", None) if prepared.data is not None else None
        n = int(prepared.features.shape[0])
        # rows of the source file: after a long-tail cut, the kept ones
        rows = np.arange(n) if prepared.source_rows is None else np.asarray(prepared.source_rows)
        names = [str(ids[r]) for r in rows] if ids is not None else [str(int(r)) for r in rows]
    else:
        if list(prepared.class_names) != loaded.class_names:
            raise PartialMLError(
                f"the run's data has classes {prepared.class_names[:5]}...; the run was trained on "
                f"{loaded.class_names[:5]}...",
                path=prepared.source,
            )
        names = [str(p) for p in images.train_paths]
    return RunData(loaded=loaded, prepared=prepared, images=images, sample_names=names)


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
    batch_size: int | None = None,
    format: str = "auto",
    image_root: str | None = None,
) -> dict[str, Any]:
    """Re-score a run: its validation split (same split and labels as in training) and test split.

    Works for every setting (:func:`prepare_run`). With ``data`` other than the run's own, that data's
    test split is scored (its training split when it has no test split), with its labels; for an
    image run ``data`` is an image label file (read whole) or a dataset folder (its test split), read
    with ``format`` and ``image_root``. Returns plain data: ``{"run", "checkpoint", "epoch", "data",
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

    def report(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        return split_report(scores, labels, class_names=names, empty_class=config.empty_class)

    def test_split(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        """As ``metrics.json``'s test entry: the groups from the run's own training split."""
        from partialml.labels import LabelStore

        return report_test_split(
            scores,
            labels,
            class_names=names,
            empty_class=config.empty_class,
            train_positives=training_positives(LabelStore.from_state_dict(loaded.state["label_store"])),
            group_scale=config.group_scale,
        )

    if data is None or data == config.data:
        own = prepare_run(loaded)
        prepared = own.prepared
        if len(prepared.val_rows):
            out["val"] = report(own.scores("val", batch_size=batch_size), prepared.val_labels)
            out["val"]["labels"] = validation_labels_kind(config.val_labels, config.partial)
            out["val"]["unknown_as"] = prepared.val_unknown_as
        if prepared.test_labels is not None:
            out["test"] = test_split(own.scores("test", batch_size=batch_size), prepared.test_labels)
        return out
    if is_image_run(loaded):
        from partialml.engine.extract import read_image_split

        part, root, image_config = read_image_split(
            loaded, data=data, format=format, image_root=image_root, split="test"
        )
        bs = batch_size or min(config.eval_batch_size, 4 * config.batch_size)
        scores = image_scores(loaded, part.paths, root=root, config=image_config, batch_size=bs)
        out["test"] = test_split(scores, np.asarray(part.labels, dtype=np.int8))
        return out
    other = load_data(data, format="auto")
    _check_compatible(loaded, other, data)
    split = other.test if getattr(other, "test", None) is not None else other.train
    out["split"] = "test" if split is getattr(other, "test", None) else "train"
    check_finite_features(split.x, source=data)
    feature_scores = predict_scores(
        loaded.model, as_feature_matrix(split.x), None, batch_size=batch_size or 1024, device=loaded.device
    )
    out["test"] = test_split(feature_scores.numpy(), np.asarray(split.labels, dtype=np.int8))
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
    "RunData",
    "RunSplit",
    "evaluate_run",
    "image_scores",
    "is_image_run",
    "load_run_model",
    "predict_split",
    "predictions_csv",
    "prepare_run",
    "prepare_setting_data",
    "write_text",
]
