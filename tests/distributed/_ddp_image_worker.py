"""Run by ``torchrun`` in tests/distributed/test_ddp_images.py (and imported there for the single process).

Usage: ``torchrun --nproc-per-node N _ddp_image_worker.py CONFIG_JSON OUT_DIR``. The image model's
BatchNorm layers are replaced by GroupNorm (:func:`use_group_norm`): with BatchNorm each rank normalizes
with its own share of the batch, which no single process reproduces. Each rank writes ``OUT_DIR/rank{r}.pt``:
history, metrics, the logits/targets/positions of every training step, and the rows it scored.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn


def use_group_norm() -> None:
    """Patch ``image_setting.build_image_model``: every ``BatchNorm2d`` becomes ``GroupNorm(1, C)``."""
    from partialml.engine import image_setting

    original = image_setting.build_image_model
    if getattr(original, "_group_norm", False):
        return

    def build(*args: Any, **kwargs: Any) -> Any:
        model = original(*args, **kwargs)
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.BatchNorm2d):
                    setattr(module, name, nn.GroupNorm(1, child.num_features))
        return model

    build._group_norm = True  # type: ignore[attr-defined]
    image_setting.build_image_model = build  # type: ignore[assignment]


def run(config_mapping: dict[str, Any]) -> dict[str, Any]:
    """Train; the record of this process (steps, scored rows, history, metrics)."""
    from partialml.engine import TrainConfig, Trainer
    from partialml.engine.image_setting import ImageTrainer

    use_group_norm()
    steps: list[dict[str, Any]] = []
    scored: list[list[int]] = []

    def on_step(epoch: int, step: int, positions: Any, logits: Any, targets: Any, loss_fn: Any) -> None:
        steps.append({"epoch": epoch, "step": step, "positions": positions.clone(), "logits": logits.clone(),
                      "targets": targets.clone()})  # fmt: skip

    trainer = Trainer(TrainConfig.from_mapping(config_mapping), show_progress=False, step_callback=on_step)
    assert isinstance(trainer, ImageTrainer)
    original = trainer._scores

    def scores(features: Any, rows: Any) -> Any:
        scored.append(list(range(len(features))) if rows is None else [int(r) for r in rows])
        return original(features, rows)

    trainer._scores = scores  # type: ignore[method-assign]
    result = trainer.fit()
    return {"history": result.history, "metrics": result.metrics, "steps": steps, "scored": scored,
            "world": trainer.dist.world_size}  # fmt: skip


def main() -> None:
    from partialml.engine.distributed import rank, teardown

    torch.set_num_threads(1)
    record = run(json.loads(Path(sys.argv[1]).read_text()))
    torch.save(record, Path(sys.argv[2]) / f"rank{rank()}.pt")
    teardown()


if __name__ == "__main__":
    main()
