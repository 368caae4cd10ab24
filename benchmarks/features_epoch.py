"""Speed of one training epoch of the ``features`` setting against bare ``nn.Linear`` training.

Protocol: synthetic float32 features, 82,081 x 2,048 (COCO-2014 train size and ResNet-50 width;
``quick``: 20,000 rows), 80 classes, about 2.9 positives per sample, single-positive observed labels in
a LabelStore, a linear head, loss ``an``, Adam, **batch 256**, CPU (or the GPU when one is present).

* candidate: :func:`partialml.engine.train_one_epoch` over :class:`partialml.engine.FeatureBatches`
  (batch gather, LabelStore lookup, forward, loss, NaN check, backward, Adam step, corrections hook);
* baseline: a bare loop over the same index batches: gather ``x[idx]``, ``nn.Linear`` forward,
  ``binary_cross_entropy_with_logits`` against a precomputed float target matrix, backward, Adam step.

Both run in the same process, alternating, several rounds; the medians are compared. Goal: the
candidate takes at most 2x the baseline's time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from partialml.engine.loaders import FeatureBatches
from partialml.engine.trainer import train_one_epoch
from partialml.labels import LabelStore, single_positive
from partialml.losses import create_loss

BATCH_SIZE = 256
NUM_CLASSES = 80
DIM = 2048
GOAL_RATIO = 2.0


def _data(n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((n, DIM), dtype=np.float32))
    full = (rng.random((n, NUM_CLASSES)) < 2.9 / NUM_CLASSES).astype(np.int8)
    full[np.arange(n), rng.integers(0, NUM_CLASSES, n)] = 1  # at least one positive per sample
    return x, full


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time one epoch of the trainer's loop and of a bare loop; rows as ``benchmarks.run`` expects."""
    n = 20_000 if quick else 82_081
    rounds = 3
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_cpu, full = _data(n)
    x = x_cpu.to(device)
    store = LabelStore.from_dense(single_positive(full, seed=0), full=full)
    targets = (store.to_dense() == 1).float().to(device)  # the AN target, for the bare loop
    rows = np.arange(n)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(DIM, NUM_CLASSES)).to(device)
    loss_fn = create_loss("an").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen_a = torch.Generator().manual_seed(1)
    batches = FeatureBatches(x, rows, batch_size=BATCH_SIZE, shuffle=True, generator=gen_a, device=device)

    torch.manual_seed(0)
    bare = nn.Linear(DIM, NUM_CLASSES).to(device)
    bare_opt = torch.optim.Adam(bare.parameters(), lr=1e-4)
    gen_b = torch.Generator().manual_seed(1)

    def candidate() -> float:
        _sync(device)
        t0 = time.perf_counter()
        loss_fn.set_epoch(0)
        train_one_epoch(model, loss_fn, opt, batches, store, epoch=0)
        _sync(device)
        return time.perf_counter() - t0

    def baseline() -> float:
        order = torch.split(torch.randperm(n, generator=gen_b), BATCH_SIZE)
        _sync(device)
        t0 = time.perf_counter()
        for idx in order:
            idx_d = idx.to(device)
            xb = x.index_select(0, idx_d)
            loss = F.binary_cross_entropy_with_logits(bare(xb), targets.index_select(0, idx_d))
            bare_opt.zero_grad(set_to_none=True)
            loss.backward()
            bare_opt.step()
        _sync(device)
        return time.perf_counter() - t0

    candidate()  # warm-up (allocator, kernels)
    baseline()
    cand, base = [], []
    for _ in range(rounds):
        cand.append(candidate())
        base.append(baseline())
    c, b = statistics.median(cand), statistics.median(base)
    ratio = c / b
    note = (
        f"{n:,} x {DIM} float32, {NUM_CLASSES} classes, batch {BATCH_SIZE}, linear head, loss an, Adam, "
        f"{device.type}; median of {rounds} alternating epochs"
    )
    return [
        {
            "benchmark": "features_epoch",
            "metric": "trainer epoch",
            "value": c,
            "unit": "s",
            "goal": "",
            "passed": None,
            "notes": note,
        },
        {
            "benchmark": "features_epoch",
            "metric": "bare nn.Linear epoch",
            "value": b,
            "unit": "s",
            "goal": "",
            "passed": None,
            "notes": "gather x[idx], forward, BCE on precomputed targets, backward, Adam step",
        },
        {
            "benchmark": "features_epoch",
            "metric": "trainer / bare ratio",
            "value": ratio,
            "unit": "x",
            "goal": f"<= {GOAL_RATIO}",
            "passed": ratio <= GOAL_RATIO,
            "notes": "same batches, same process",
        },
    ]


if __name__ == "__main__":  # pragma: no cover
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
