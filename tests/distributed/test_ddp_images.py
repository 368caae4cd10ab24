"""DDP in the end-to-end (image) setting: CPU, gloo, 2 processes under torchrun, against one process with
the same global batch.

Model: a width-8 ResNet-18 at 32 x 32 whose BatchNorm layers are GroupNorm(1, C) (``_ddp_image_worker``):
the trainer keeps DDP's per-rank BatchNorm statistics (each rank normalizes with its share of the batch;
running statistics are rank 0's, broadcast each step), which a single process cannot reproduce, so the
exact comparison needs a batch-independent normalization. Tolerances: logits per step 1e-4 relative /
1e-5 absolute, the loss per step 1e-5 relative, val/test mAP 1e-3 points (0-100).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ..image_training.conftest import write_csv, write_images
from ._ddp_image_worker import run
from .test_ddp import _torchrun

WORKER = Path(__file__).with_name("_ddp_image_worker.py")


def _config(root: Path, out: Path, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "setting": "end-to-end", "data": str(root / "labels.csv"), "test_split": str(root / "test.csv"),
        "output_dir": str(out), "model": "resnet18", "width": 8, "weights": None, "image_size": 32,
        "transforms": "ll", "partial": "single-positive", "loss": "an", "epochs": 2, "lr": 0.001,
        "optimizer": "adam", "device": "cpu", "seed": 3, "eval_batch_size": 5, "num_workers": 0,
    }  # fmt: skip
    base.update(kw)
    return base


def _an_loss(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The AN loss of a step: BCE against ``targets == 1``, mean over the batch's entries."""
    y = (targets == 1).to(logits.dtype)
    return float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y))


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["uniform", "class-aware"])
def test_ddp_images_match_one_process_step_by_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampler: str
) -> None:
    """Under the re-balanced sampler too, the ranks slice each global batch of one shared draw sequence."""
    from partialml.engine import image_setting

    root = tmp_path / "images"
    write_csv(root / "labels.csv", write_images(root, n=31, seed=0, prefix="tr"))
    write_csv(root / "test.csv", write_images(root, n=9, seed=1, prefix="te"))
    monkeypatch.setattr(image_setting, "build_image_model", image_setting.build_image_model)  # restored
    torch.set_num_threads(1)
    single = run(_config(root, tmp_path / "one", batch_size=8, sampler=sampler))

    ddp_dir = tmp_path / "ddp"
    ddp_dir.mkdir()
    (ddp_dir / "config.json").write_text(
        json.dumps(_config(root, tmp_path / "two", batch_size=4, sampler=sampler))
    )
    _torchrun([str(WORKER), str(ddp_dir / "config.json"), str(ddp_dir)], timeout=300)
    ranks = [torch.load(ddp_dir / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2

    # every training step: the ranks' shares are the one process's batch, with the same logits and loss
    # 25 training rows / 8: the last global batch holds 1 row, so rank 1's share of it is empty (it still
    # steps, else the collectives would hang); the class-aware epoch draws as many rows as a uniform one
    assert len(single["steps"]) == len(ranks[0]["steps"]) == len(ranks[1]["steps"]) == 2 * 4
    assert [len(s["positions"]) for s in ranks[1]["steps"][:4]] == [4, 4, 4, 0]
    for one, a, b in zip(single["steps"], ranks[0]["steps"], ranks[1]["steps"], strict=True):
        assert (one["epoch"], one["step"]) == (a["epoch"], a["step"]) == (b["epoch"], b["step"])
        assert torch.equal(torch.cat([a["positions"], b["positions"]]), one["positions"])
        logits = torch.cat([a["logits"], b["logits"]])
        torch.testing.assert_close(logits, one["logits"], rtol=1e-4, atol=1e-5)
        assert torch.equal(torch.cat([a["targets"], b["targets"]]), one["targets"])
        got = _an_loss(logits, one["targets"])
        assert got == pytest.approx(_an_loss(one["logits"], one["targets"]), rel=1e-5)
    losses = [[row["train_loss"] for row in r["history"]] for r in (single, ranks[0])]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)

    # every scoring pass (validation each epoch, final val and test): each row scored exactly once
    assert len(single["scored"]) == len(ranks[0]["scored"]) == len(ranks[1]["scored"])
    for whole, mine, theirs in zip(single["scored"], ranks[0]["scored"], ranks[1]["scored"], strict=True):
        assert not set(mine) & set(theirs) and sorted(mine + theirs) == sorted(whole)
        assert mine + theirs == whole  # contiguous slices, in order
    for split in ("val", "test"):
        for r in ranks:
            assert abs(r["metrics"][split]["mAP"] - single["metrics"][split]["mAP"]) <= 1e-3, split
    assert ranks[0]["metrics"]["protocol"]["global_batch_size"] == 8
    assert ranks[0]["metrics"]["best_epoch"] == single["metrics"]["best_epoch"]
    assert (tmp_path / "two" / "metrics.json").is_file()  # rank 0 wrote the run directory
