"""The LTML two-branch training step of the ``features`` setting, and the trainer's sampler wiring.

LTML (Guo & Wang, CVPR 2021; reference-methods.md section 3.7) trains Subnet-U on instance-balanced
(uniform) batches and Subnet-R on class-balanced (re-balanced) batches, with a consistency term between
the branches. One step here takes one uniform batch ``x^u`` (:class:`~partialml.data.samplers.UniformSampler`)
and one re-balanced batch ``x^r`` (:class:`~partialml.data.samplers.ClassAwareSampler`), runs the shared
trunk once on both (concatenated) and **both** heads on both batches, giving ``u(x^u), r(x^u), u(x^r),
r(x^r)``. The loss is exactly the paper's total loss::

    L = loss_fn(u(x^u), y^u, peer_logits=r(x^u)) + loss_fn(r(x^r), y^r, peer_logits=u(x^r))
      = L_cls(u(x^u), y^u) + L_cls(r(x^r), y^r) + lamb [L_con(u(x^u), r(x^u)) + L_con(r(x^r), u(x^r))]

with :class:`~partialml.losses.LTMLLoss` (its ``consistency`` space and ``detach_peer`` options decide
the form of ``L_con`` and whether the peer branch gets its gradient). Not computed: Subnet-R's
classification loss on the uniform batch and Subnet-U's on the re-balanced batch (the peers' logits
enter only the consistency term). A step's reported loss is ``L`` (the sum of the two branch losses).

Sampler wiring (:func:`build_training_batches`): with a dual-branch loss the uniform branch reads
:class:`UniformSampler` and the re-balanced branch :class:`ClassAwareSampler` in ``class-aware`` mode, or
DB's variant when ``--sampler db``; each epoch is ``ceil(N / batch_size)`` steps (the re-balanced sampler
draws ``N`` samples; with ``db`` the shorter of the two streams ends the epoch). With a single-branch loss
and ``--sampler class-aware|db`` the re-balanced sampler replaces the shuffled pass (plain re-sampling).
Samplers are seeded with the run seed and derive each epoch from ``(seed, epoch)``: resume needs no
sampler state beyond the epoch (and the step inside it, which the trainer keeps). Both settings share
this wiring: the features trainer reads the drawn positions with
:class:`~partialml.engine.loaders.SamplerBatches`, the end-to-end trainer passes ``batches_for`` to read
them as images (:class:`~partialml.engine.image_setting.ImageBatches` with a ``sampler``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from partialml.data.samplers import ClassAwareSampler, SamplerMode, UniformSampler
from partialml.engine.loaders import FeatureMatrix, SamplerBatches
from partialml.errors import PartialMLError

#: Losses trained with the two-branch model and step.
DUAL_BRANCH_LOSSES: frozenset[str] = frozenset({"ltml", "ltml-llr"})


def is_dual_branch(loss_name: str) -> bool:
    """Whether ``loss_name`` trains the LTML two-branch model (``ltml``, ``ltml-llr``)."""
    return loss_name in DUAL_BRANCH_LOSSES


class DualBatches:
    """Pairs ``((x_u, pos_u), (x_r, pos_r))`` of a uniform and a re-balanced batch stream.

    ``len`` is the shorter stream's number of batches; ``set_epoch`` reaches both samplers; ``skipped``
    sums the streams' unreadable images (image batches; 0 for features).
    """

    def __init__(self, uniform: Any, rebalanced: Any) -> None:
        self.uniform = uniform
        self.rebalanced = rebalanced

    def set_epoch(self, epoch: int) -> None:
        self.uniform.set_epoch(epoch)
        self.rebalanced.set_epoch(epoch)

    def __len__(self) -> int:
        return min(len(self.uniform), len(self.rebalanced))

    @property
    def skipped(self) -> int:
        return int(getattr(self.uniform, "skipped", 0)) + int(getattr(self.rebalanced, "skipped", 0))

    def __iter__(self) -> Iterator[tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]]:
        return iter(zip(self.uniform, self.rebalanced, strict=False))


def build_training_batches(
    *,
    loss_name: str,
    sampler: str,
    observed: Any,
    features: FeatureMatrix | None = None,
    rows: np.ndarray | None = None,
    batch_size: int,
    seed: int,
    device: torch.device,
    num_replicas: int = 1,
    rank: int = 0,
    batches_for: Callable[[Any], Any] | None = None,
) -> Any:
    """The batch source of a run, or ``None`` for the trainer's own shuffled pass.

    Args:
        loss_name: the loss (dual-branch losses get :class:`DualBatches`).
        sampler: ``uniform``, ``class-aware`` or ``db``.
        observed: ``(N, C)`` observed training labels (positions = rows of this matrix).
        features, rows: the feature matrix and the training rows (position ``j`` is ``rows[j]``).
        batch_size, seed, device: as the run's; num_replicas, rank: DDP share.
        batches_for: ``sampler -> batch source`` of ``(x, positions)`` batches of the sampler's draws;
            default :class:`SamplerBatches` over ``features`` / ``rows`` (the end-to-end setting passes
            image batches here).
    """
    if batches_for is None:
        if features is None or rows is None:
            raise ValueError("build_training_batches needs features and rows, or batches_for")
        feats, kept = features, rows

        def batches_for(chosen: Any) -> Any:
            return SamplerBatches(feats, kept, chosen, batch_size=batch_size, device=device)

    n = int(observed.shape[0])
    if is_dual_branch(loss_name):
        mode: SamplerMode = "db" if sampler == "db" else "class-aware"
        uni = UniformSampler(n, seed=seed, num_replicas=num_replicas, rank=rank)
        reb = ClassAwareSampler(
            observed,
            mode=mode,
            num_samples=None if mode == "db" else n,
            seed=seed + 1,
            num_replicas=num_replicas,
            rank=rank,
        )
        return DualBatches(batches_for(uni), batches_for(reb))
    if sampler == "uniform":
        return None
    if sampler not in ("class-aware", "db"):
        raise PartialMLError(f"--sampler: got {sampler!r}; expected uniform, class-aware or db")
    reb = ClassAwareSampler(
        observed,
        mode=cast(SamplerMode, sampler),
        seed=seed,
        num_replicas=num_replicas,
        rank=rank,
    )
    return batches_for(reb)


def dual_branch_loss(
    model: Any, loss_fn: Any, batch_u: tuple[Tensor, Tensor], batch_r: tuple[Tensor, Tensor], store: Any
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One step's loss ``L`` (module docstring) and the logits ``u(x^u)``, ``r(x^r)`` and their targets.

    Returns ``(L, u_u, r_r, targets)`` where ``targets`` stacks ``y^u`` over ``y^r``.
    """
    (x_u, pos_u), (x_r, pos_r) = batch_u, batch_r
    b_u = x_u.shape[0]
    u_all, r_all = model.branches(torch.cat([x_u, x_r]))
    y_u = store[pos_u].to(x_u.device, non_blocking=True)
    y_r = store[pos_r].to(x_r.device, non_blocking=True)
    u_u, r_u, u_r, r_r = u_all[:b_u], r_all[:b_u], u_all[b_u:], r_all[b_u:]
    dev = x_u.device
    loss_u = loss_fn(u_u, y_u, pos_u.to(dev), peer_logits=r_u)
    loss_r = loss_fn(r_r, y_r, pos_r.to(dev), peer_logits=u_r)
    return loss_u + loss_r, u_u, r_r, torch.cat([y_u, y_r])


def train_dual_branch_epoch(
    model: nn.Module,
    loss_fn: Any,
    optimizer: torch.optim.Optimizer,
    batches: Any,
    store: Any,
    *,
    epoch: int,
    rows: np.ndarray | None = None,
    wrap: Callable[[Any], Any] | None = None,
    step_callback: Any = None,
    start_step: int = 0,
    stats: Any = None,
    should_stop: Callable[[], bool] | None = None,
    on_bad_loss: Callable[[str, int, list[int]], bool] | None = None,
    scaler: Any | None = None,
) -> Any:
    """One epoch of two-branch steps over :class:`DualBatches`; same contract as
    :func:`partialml.engine.trainer.train_one_epoch` (resume inside an epoch, stop requests, non-finite
    losses). ``step_callback`` receives Subnet-U's logits on the uniform batch (the peer of the
    single-branch case); ``num_samples`` counts the uniform batches' samples, so ``mean_loss`` is the
    mean of ``L`` per step weighted by batch size.
    """
    from partialml.engine.trainer import EpochStats, TrainingDivergedError

    model.train()
    stats = EpochStats() if stats is None else stats
    source = batches if start_step == 0 else itertools.islice(batches, start_step, None)
    iterator = source if wrap is None else wrap(source)
    for step, (batch_u, batch_r) in enumerate(iterator, start=start_step):
        value, u_u, _, targets = dual_branch_loss(model, loss_fn, batch_u, batch_r, store)
        scalar = float(value.detach())
        positions = torch.cat([batch_u[1], batch_r[1]])
        if not math.isfinite(scalar):
            shown = positions if rows is None else torch.as_tensor(rows)[positions]
            samples = [int(i) for i in shown]
            listed = ", ".join(str(i) for i in samples[:20])
            more = f" and {len(samples) - 20} more" if len(samples) > 20 else ""
            message = (
                f"the loss is {scalar} at epoch {epoch}, step {step} (0-indexed); "
                f"samples (training-file rows) of the two batches: {listed}{more}"
            )
            loss_fn.pop_corrections()
            if on_bad_loss is None or not on_bad_loss(message, step, samples):
                raise TrainingDivergedError(message)
            stats.skipped += 1
            stats.steps += 1
            if should_stop is not None and should_stop():
                stats.interrupted = True
                break
            continue
        if step_callback is not None:
            b_u = batch_u[0].shape[0]
            step_callback(epoch, step, batch_u[1], u_u.detach(), targets[:b_u], loss_fn)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            value.backward()
            optimizer.step()
        else:  # torch.amp.GradScaler, as train_one_epoch
            scaler.scale(value).backward()
            scaler.step(optimizer)
            scaler.update()
        loss_fn.pop_corrections()
        n = int(batch_u[1].shape[0])
        stats.loss_sum += scalar * n
        stats.num_samples += n
        stats.steps += 1
        if should_stop is not None and should_stop():
            stats.interrupted = True
            break
    return stats


__all__ = [
    "DUAL_BRANCH_LOSSES",
    "DualBatches",
    "build_training_batches",
    "dual_branch_loss",
    "is_dual_branch",
    "train_dual_branch_epoch",
]
