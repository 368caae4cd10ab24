"""Speed of the LTML two-branch epoch against a single-branch epoch of the same batch size.

Protocol: synthetic float32 features, 20,000 x 2,048 (``quick``: 5,000), 80 classes, about 2.9
positives per sample (full labels), batch 256, Adam, CPU (or the GPU when present).

* candidate: :func:`partialml.engine.dual_branch.train_dual_branch_epoch` over
  :class:`~partialml.engine.dual_branch.DualBatches` (a uniform and a class-aware sampler, 256 + 256
  samples per step, trunk on both batches, both heads, LTML loss with consistency);
* baseline: :func:`partialml.engine.train_one_epoch` over a shuffled pass (:class:`FeatureBatches`,
  256 per step), an MLP head of the same width (512), the LTML loss without a peer.

Both run the same number of steps in the same process, alternating; medians compared. Goal: at most
2.2x (a dual step reads two batches and runs two heads, so about 2x is the floor).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmarks.timing import interleaved_ratio
from partialml.engine.dual_branch import build_training_batches, train_dual_branch_epoch
from partialml.engine.loaders import FeatureBatches
from partialml.engine.trainer import train_one_epoch
from partialml.labels import LabelStore
from partialml.losses import create_loss
from partialml.models.dual_branch import build_dual_branch_classifier
from partialml.models.heads import build_feature_classifier

BATCH_SIZE = 256
NUM_CLASSES = 80
DIM = 2048
GOAL_RATIO = 2.2


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 5_000 if quick else 20_000
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, DIM), dtype=np.float32)).to(device)
    full = (rng.random((n, NUM_CLASSES)) < 2.9 / NUM_CLASSES).astype(np.int8)
    full[np.arange(n), rng.integers(0, NUM_CLASSES, n)] = 1
    store = LabelStore.from_dense(full)
    rows = np.arange(n)
    torch.manual_seed(0)
    dual = build_dual_branch_classifier(in_dim=DIM, num_classes=NUM_CLASSES).to(device)
    single = build_feature_classifier("mlp", in_dim=DIM, num_classes=NUM_CLASSES).to(device)
    loss_d = create_loss("ltml", labels=torch.from_numpy(full)).to(device)
    loss_s = create_loss("ltml", labels=torch.from_numpy(full)).to(device)
    opt_d = torch.optim.Adam([*dual.parameters(), *loss_d.parameters()], lr=1e-4)
    opt_s = torch.optim.Adam([*single.parameters(), *loss_s.parameters()], lr=1e-4)
    pairs = build_training_batches(
        loss_name="ltml",
        sampler="class-aware",
        observed=full,
        features=x,
        rows=rows,
        batch_size=BATCH_SIZE,
        seed=0,
        device=device,
    )
    plain = FeatureBatches(
        x,
        rows,
        batch_size=BATCH_SIZE,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        device=device,
    )

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def candidate() -> None:
        train_dual_branch_epoch(dual, loss_d, opt_d, pairs, store, epoch=0)
        sync()

    def baseline() -> None:
        train_one_epoch(single, loss_s, opt_s, plain, store, epoch=0)
        sync()

    c, b, ratio = interleaved_ratio(candidate, baseline, rounds=3, repeats=1)
    note = f"{n:,} x {DIM}, {NUM_CLASSES} classes, batch {BATCH_SIZE}, MLP 512, Adam, {device.type}"
    row = {"benchmark": "dual_branch", "goal": "", "passed": None}
    return [
        {**row, "metric": "dual-branch epoch", "value": c, "unit": "s", "notes": note},
        {
            **row,
            "metric": "single-branch epoch",
            "value": b,
            "unit": "s",
            "notes": "same steps, same batch size",
        },
        {
            **row,
            "metric": "dual / single ratio",
            "value": ratio,
            "unit": "x",
            "goal": f"<= {GOAL_RATIO}",
            "passed": ratio <= GOAL_RATIO,
            "notes": "median of 3 alternating epochs",
        },
    ]


if __name__ == "__main__":  # pragma: no cover
    import sys

    for r in run(quick="--quick" in sys.argv):
        print(r)
