"""Forward + backward time of every loss relative to ``binary_cross_entropy_with_logits``.

Protocol: float32 logits on the CPU, one torch thread (set for the run, restored after), targets
single-positive (one 1 per row, the rest -1, seeded), at batch x classes of 16 x 20, 64 x 80 and
256 x 5,000; each loss at an epoch where its schedule is active (epoch 3: LL rate 3 * delta_rel, SPLC
pseudo-labels on).

* Candidate: ``loss(z, targets, indices)`` of the registered module (``create_loss``) with ``targets``
  the **int8** 1 / 0 / -1 matrix as the trainer passes it (decoding to float targets and masks is part of
  the candidate's time), then ``.backward()`` and ``pop_corrections()``.
* Baseline: ``F.binary_cross_entropy_with_logits(z, y)`` with ``y`` the **precomputed** float AN target,
  mean reduction, then ``.backward()``.
* Both make a fresh leaf ``z`` per call. Timing: :func:`benchmarks.timing.interleaved_ratios` (warm-up,
  then 15 rounds of baseline / candidate / baseline blocks of at least 20 ms each); reported: the
  **median** of the per-round ratios, with the range over rounds in the notes.

Goal (issue #7): at most 1.3x for LL-R, LL-Ct, LL-Cp, Hill and SPLC.

Native kernels: the benchmark builds (or finds) the optional C++ kernels of
:mod:`partialml.losses.native` under ``build/native-kernels`` and times the five goal losses with them
where the library takes them (Hill and SPLC at every shape, LL under ``LL_MAX_ENTRIES`` entries); there
the goal row is the native path and a second row, without goal, the pure PyTorch path. Every other loss,
and LL at 256 x 5,000, runs the PyTorch path. Without a C++ toolchain the goal rows are the PyTorch path
and say so.

Two floor rows per shape (no goal) say how much of BCE's time is fixed cost that no loss can avoid: the
same leaf and ``.backward()`` around ``z.sum()`` (one cheap autograd node), and around a custom
``autograd.Function`` that does no work (the shell of the fused losses). A loss that is more than one ATen
call has at most ``1.3 - floor`` of BCE's time for all of its own work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.timing import interleaved_ratios
from partialml.errors import PartialMLError
from partialml.labels.long_tail import loss_class_counts
from partialml.losses import create_loss, list_losses, loss_entry, loss_options, native

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


class _NoWork(torch.autograd.Function):
    """Autograd shell with no work: returns a stored scalar, hands back a stored gradient."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, value: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        ctx.grad = grad
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return ctx.grad, None, None


def _floor_rows(b: int, c: int, logits0: torch.Tensor, baseline: Any, rounds: int) -> list[dict[str, Any]]:
    """The fixed-cost floors (see the module docstring) as ratios to BCE, no goal."""
    value, grad = torch.zeros(()), torch.zeros_like(logits0)

    def engine() -> None:
        logits0.detach().requires_grad_(True).sum().backward()

    def shell() -> None:
        _NoWork.apply(logits0.detach().requires_grad_(True), value, grad).backward()

    rows = []
    for label, fn in (("z.sum().backward()", engine), ("no-op autograd.Function", shell)):
        stats = interleaved_ratios(fn, baseline, rounds=rounds)
        rows.append(
            {
                "benchmark": "losses_speed",
                "metric": f"floor: {label} / BCE at {b}x{c}",
                "value": stats.median,
                "unit": "x",
                "goal": "",
                "passed": None,
                "notes": stats.describe(),
            }
        )
    return rows


#: Where the benchmark (and the tests) build the native kernels: the repository's ignored build folder.
NATIVE_ROOT = Path(__file__).resolve().parents[1] / "build" / "native-kernels"


def native_kernels() -> tuple[Any, str]:
    """``(module, note)``: the native kernels built (or found) under :data:`NATIVE_ROOT`, or ``None`` and
    why not. The process keeps the PyTorch paths until a row activates the module."""
    previous = native.activate(None)
    try:
        native.build(NATIVE_ROOT)
        return native.kernels(), "native kernels"
    except PartialMLError as exc:
        return None, f"PyTorch path: native kernels not built ({exc})"
    finally:
        native.activate(previous)


def _time_shape(
    b: int, c: int, names: list[str], rounds: int, kernels: tuple[Any, str] = (None, "")
) -> list[dict[str, Any]]:
    """Every registered loss at one batch shape, as a ratio to plain BCE on the same logits; the goal
    losses with the native kernels where they apply (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    logits0, targets = _batch(b, c, seed=0)
    indices = torch.arange(b)
    an_target = (targets == 1).float()

    def baseline() -> None:
        z = logits0.detach().requires_grad_(True)
        F.binary_cross_entropy_with_logits(z, an_target).backward()

    if b * c < 100_000:  # the floors matter where the time is per call, not per entry
        rows.extend(_floor_rows(b, c, logits0, baseline, rounds))
    for name in names:
        loss = _build(name, targets, n=b)

        def candidate(loss: Any = loss) -> None:
            z = logits0.detach().requires_grad_(True)
            out = loss(z, targets, indices)
            out.backward()
            loss.pop_corrections()

        in_goal = name in GOAL_LOSSES
        module, note = kernels
        paths: list[tuple[Any, str, bool]] = [(None, "", in_goal)]
        if in_goal and (name in ("hill", "splc") or b * c < native.LL_MAX_ENTRIES):
            if module is not None:
                paths = [(module, f"{note}; ", True), (None, "PyTorch path; ", False)]
            else:
                paths = [(None, f"{note}; ", True)]
        for active, prefix, goal_row in paths:
            previous = native.activate(active)
            try:
                stats = interleaved_ratios(candidate, baseline, rounds=rounds)
            finally:
                native.activate(previous)
            suffix = "" if goal_row or not in_goal else ", PyTorch path"
            rows.append(
                {
                    "benchmark": "losses_speed",
                    "metric": f"{name} fwd+bwd / BCE at {b}x{c}{suffix}",
                    "value": stats.median,
                    "unit": "x",
                    "goal": f"<= {GOAL}x" if goal_row else "",
                    "passed": (stats.median <= GOAL) if goal_row else None,
                    "notes": prefix + stats.describe(),
                }
            )
    return rows


def run(quick: bool = False, *, names: list[str] | None = None, threads: int = 1) -> list[dict[str, Any]]:
    """Rows for ``benchmarks.run``: every registered loss (or ``names``) at every shape, on ``threads``
    torch threads (restored afterwards)."""
    shapes = [*SHAPES[:2], (256, 1000)] if quick else SHAPES
    names = list_losses() if names is None else names
    kernels = native_kernels() if GOAL_LOSSES & set(names) else (None, "")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return [
            row
            for b, c in shapes
            for row in _time_shape(b, c, names, rounds=7 if quick else 15, kernels=kernels)
        ]
    finally:
        torch.set_num_threads(previous)


if __name__ == "__main__":
    import sys

    for row in run(
        quick="--quick" in sys.argv, names=[a for a in sys.argv[1:] if not a.startswith("-")] or None
    ):
        print(f"{row['metric']}: {row['value']:.3f} x  ({row['notes']})", flush=True)
