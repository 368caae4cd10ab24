"""Forward + backward time of every loss relative to ``binary_cross_entropy_with_logits``.

Protocol: float32 logits on the CPU, targets single-positive (one 1 per row, the rest -1, seeded), at
batch x classes of 16 x 20, 64 x 80 and 256 x 5,000; each loss at an epoch where its schedule is active
(epoch 3: LL rate 3 * delta_rel, SPLC pseudo-labels on). Baseline: BCE-with-logits against the AN target
(mean), in the same process, timed in alternating rounds. Goal (issue #7): at most 1.3x for LL-R, LL-Ct,
LL-Cp, Hill and SPLC.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.timing import interleaved_ratio
from partialml.labels.long_tail import loss_class_counts
from partialml.losses import create_loss, list_losses, loss_entry, loss_options

SHAPES = [(16, 20), (64, 80), (256, 5000)]
GOAL_LOSSES = {"ll-r", "ll-ct", "ll-cp", "hill", "splc"}
GOAL = 1.3


def _batch(b: int, c: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g)
    targets = torch.full((b, c), -1, dtype=torch.int8)
    targets[torch.arange(b), torch.randint(0, c, (b,), generator=g)] = 1
    return logits, targets


def _build(name: str, targets: torch.Tensor, n: int) -> Any:
    """The loss ``name`` at epoch 3, built as the trainer builds it: data-derived losses from ``n`` rows of
    observed labels, class-count losses (DB, LTML, RW) with the counts clipped to ``[1, n - 1]``."""
    observed = targets.repeat((n + targets.shape[0] - 1) // targets.shape[0], 1)[:n]
    options = loss_options(name)
    kwargs: dict[str, Any] = {}
    if "class_counts" in options:
        counts, num, _ = loss_class_counts(observed.numpy())
        kwargs["class_counts"] = torch.from_numpy(counts).double()
        if "num_samples" in options:
            kwargs["num_samples"] = num
    if name in ("epr", "role"):
        kwargs["expected_positives"] = 2.9
    if loss_entry(name).cls.requires_labels:
        loss = create_loss(name, labels=observed, **kwargs)
    else:
        loss = create_loss(name, **kwargs)
    loss.set_epoch(3)
    return loss


def _time_shape(b: int, c: int) -> list[dict[str, Any]]:
    """Every registered loss at one batch shape, as a ratio to plain BCE on the same logits."""
    rows: list[dict[str, Any]] = []
    logits0, targets = _batch(b, c, seed=0)
    indices = torch.arange(b)
    an_target = (targets == 1).float()

    def baseline() -> None:
        z = logits0.detach().requires_grad_(True)
        F.binary_cross_entropy_with_logits(z, an_target).backward()

    for name in list_losses():
        loss = _build(name, targets, n=b)

        def candidate(loss: Any = loss) -> None:
            z = logits0.detach().requires_grad_(True)
            out = loss(z, targets, indices)
            out.backward()
            loss.pop_corrections()

        _, _, ratio = interleaved_ratio(candidate, baseline, rounds=3, repeats=10)
        in_goal = name in GOAL_LOSSES
        rows.append(
            {
                "benchmark": "losses_speed",
                "metric": f"{name} fwd+bwd / BCE at {b}x{c}",
                "value": ratio,
                "unit": "x",
                "goal": f"<= {GOAL}x" if in_goal else "",
                "passed": (ratio <= GOAL) if in_goal else None,
                "notes": "",
            }
        )
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    shapes = [*SHAPES[:2], (256, 1000)] if quick else SHAPES
    return [row for b, c in shapes for row in _time_shape(b, c)]
