"""Training in memory: the engine's building blocks without a run directory (no file is written).

Used by the scikit-learn estimator (:mod:`partialml.sklearn`) and by the out-of-fold scoring of
``partialml suggest --folds K``. :func:`fit_prepared` follows :class:`~partialml.engine.Trainer`'s
protocol step by step (seeding, label store, loss, standardization, model, optimizer, batch order,
``set_epoch`` / epoch-score hook / :func:`~partialml.engine.trainer.train_one_epoch`, validation mAP,
best epoch: strictly higher mAP, the first wins ties; ``early_stop_drop``) but keeps the best state in
memory. The global random states that seeding touches are restored afterwards, so that calling it has
no lasting global effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch

from partialml.engine.config import TrainConfig
from partialml.engine.evaluate import map_percent, predict_scores
from partialml.engine.loaders import FeatureBatches
from partialml.engine.seeding import capture_rng_state, make_generator, restore_rng_state, seed_everything
from partialml.engine.trainer import (
    PreparedData,
    build_label_store,
    build_loss,
    build_optimizer,
    resolve_device,
    train_one_epoch,
)
from partialml.models.heads import FeatureClassifier, build_feature_classifier, feature_statistics


@dataclass
class MemoryFit:
    """The result of :func:`fit_prepared`.

    Attributes:
        model: the model at the selected epoch, eval mode, on ``device``.
        store: the LabelStore after training (LL-Cp corrections included).
        best_epoch: the selected 0-indexed epoch (the last one without validation).
        best_val_map: its validation mAP (0-100), ``None`` without validation.
        history: one ``{"epoch", "train_loss", "val_mAP"}`` dict per epoch.
    """

    model: FeatureClassifier
    store: Any
    best_epoch: int
    best_val_map: float | None
    history: list[dict[str, Any]] = field(default_factory=list)


def fit_prepared(config: TrainConfig, prepared: PreparedData) -> MemoryFit:
    """Train ``config``'s model on ``prepared`` (from :func:`~partialml.engine.trainer.prepare_data`).

    ``config.output_dir``, ``resume``, ``overwrite``, ``tensorboard`` and ``num_workers`` are ignored.
    """
    device = resolve_device(config.device)
    saved_rng = capture_rng_state()
    try:
        store = build_label_store(prepared)
        seed_everything(config.seed)  # before the loss, as the Trainer does (ROLE draws its init)
        loss = build_loss(config, store).to(device)
        mean = std = None
        if config.standardize:
            mean, std = feature_statistics(prepared.features, prepared.train_rows)
        model = build_feature_classifier(
            cast(Any, config.head),  # the config may name heads of other settings; the builder checks
            in_dim=prepared.in_dim,
            num_classes=prepared.num_classes,
            hidden_dim=config.hidden_dim,
            dropout=config.dropout,
            mean=mean,
            std=std,
        ).to(device)
        optimizer = build_optimizer(config, model, loss)
        batches = FeatureBatches(
            prepared.features,
            prepared.train_rows,
            batch_size=config.batch_size,
            shuffle=True,
            generator=make_generator(config.seed),
            device=device,
        )
        history: list[dict[str, Any]] = []
        best_map, best_epoch = -math.inf, 0
        best_state = _copy_state(model)
        for epoch in range(config.epochs):
            loss.set_epoch(epoch)
            wants = getattr(loss, "wants_epoch_scores", None)
            if callable(wants) and wants():
                scores = predict_scores(
                    model,
                    prepared.features,
                    prepared.train_rows,
                    batch_size=config.eval_batch_size,
                    device=device,
                )
                loss.update_from_scores(scores.to(device), store.to_dense().to(device))
            stats = train_one_epoch(
                model, loss, optimizer, batches, store, epoch=epoch, rows=prepared.train_rows
            )
            val_map = _validate(config, prepared, model, device)
            history.append({"epoch": epoch, "train_loss": stats.mean_loss, "val_mAP": val_map})
            if len(prepared.val_rows) == 0:
                best_epoch, best_state = epoch, _copy_state(model)
            elif val_map is not None and val_map > best_map:
                best_map, best_epoch, best_state = val_map, epoch, _copy_state(model)
            drop = config.early_stop_drop
            if drop is not None and val_map is not None and val_map < best_map - drop:
                break
        model.load_state_dict(best_state)
        model.eval()
    finally:
        restore_rng_state(saved_rng)
    return MemoryFit(
        model=model,
        store=store,
        best_epoch=best_epoch,
        best_val_map=best_map if math.isfinite(best_map) else None,
        history=history,
    )


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _validate(
    config: TrainConfig, prepared: PreparedData, model: torch.nn.Module, device: torch.device
) -> float | None:
    if len(prepared.val_rows) == 0:
        return None
    scores = predict_scores(
        model, prepared.features, prepared.val_rows, batch_size=config.eval_batch_size, device=device
    )
    value = map_percent(scores, prepared.val_labels, empty_class=config.empty_class)
    return value if math.isfinite(value) else None


def in_memory_data(
    x: np.ndarray | torch.Tensor,
    observed: np.ndarray,
    *,
    full: np.ndarray | None = None,
    class_names: list[str],
    name: str = "memory",
) -> Any:
    """A :class:`~partialml.data.features.FeatureData` (train split only) whose partial labels are
    ``observed`` (train it with ``partial="given"``); ``full`` defaults to ``observed``."""
    from partialml.data.features import FeatureData, FeatureSplit

    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    obs = np.asarray(observed, dtype=np.int8)
    split = FeatureSplit(
        x=np.ascontiguousarray(arr, dtype=np.float32),
        labels=obs if full is None else np.asarray(full, dtype=np.int8),
        observed=obs,
        ids=None,
    )
    return FeatureData(name=name, class_names=list(class_names), train=split, test=None, source=name)


__all__ = ["MemoryFit", "fit_prepared", "in_memory_data"]
