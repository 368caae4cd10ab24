"""Multi-process training with DistributedDataParallel, launched by ``torchrun``.

``torchrun --nproc-per-node N -m partialml train ...`` (or the ``partialml`` console script under
``torchrun``) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them and joins the process group (``nccl`` on CUDA, ``gloo`` on the CPU;
``env://`` rendezvous). Without them (or with ``WORLD_SIZE=1``) everything here is a no-op and training
is the ordinary single-process run. See ``docs/distributed.md`` for the protocol; in short:

* ``--batch-size`` is the **per-rank** batch; the global batch is ``batch_size * world_size``. Every
  rank draws the same seeded permutation of the epoch, cuts it in global batches of
  ``batch_size * world_size`` positions and takes its slice :func:`shard` (``torch.tensor_split``: equal
  slices of full batches, near-equal slices of the last one).
* Each rank's loss is weighted by ``n_rank * world_size / n_global`` (:meth:`StepSync.loss_weight`)
  so that DDP's gradient **average** equals the gradient of the mean loss over the global batch, also
  for an uneven last batch: the updates are those of one process with the global batch.
* LL-Cp corrections: :meth:`StepSync.gather_corrections` all-gathers ``(positions, mask)`` so that every
  rank writes every correction and the LabelStores stay identical.
* Scoring passes (validation, test, EM-APL's epoch scores): each rank scores a disjoint contiguous slice
  of the rows, :func:`gather_cat` all-gathers them (padded to the largest slice, padding dropped), so
  no sample is counted twice; rank 0 computes the metrics and writes every file.
* LL top-k: per rank by default (as the original code: ``k`` from the rank's own ``b * C`` entries), or
  global (``--ll-topk global``, :class:`GlobalTopK`): the batch's logits and targets are all-gathered and
  one selection runs over the global batch, as one process with the global batch would.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from partialml.engine.run_dir import RunDir
from partialml.errors import PartialMLError

__all__ = [
    "DistContext",
    "GlobalTopK",
    "SilentRunDir",
    "StepSync",
    "all_gather_variable",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "env_world_size",
    "gather_cat",
    "init_distributed",
    "is_distributed",
    "is_main",
    "rank",
    "shard",
    "teardown",
    "world_size",
]

#: The torchrun variables read by :func:`init_distributed`.
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """The process's place in the run: ``rank`` in ``[0, world_size)``, ``local_rank`` on its node,
    the ``backend`` (``"none"`` for a single process) and the ``device`` it trains on."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise PartialMLError(
            f"environment variable {name}={value!r}: expected an integer (set by torchrun)"
        ) from None


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset): whether torchrun started this process."""
    size = _env_int("WORLD_SIZE")
    return 1 if size is None else size


def is_distributed() -> bool:
    """Whether a process group of more than one process is initialized."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0 (or a single process): the process that logs and writes files."""
    return rank() == 0


def init_distributed(device: str | torch.device = "auto", *, timeout_s: float = 1800.0) -> DistContext:
    """Join the process group described by the torchrun variables; a single process without them.

    Backend ``nccl`` when the run uses CUDA (each rank on ``cuda:LOCAL_RANK``), else ``gloo``.
    ``device`` is ``auto`` / ``cpu`` / ``cuda`` (the ``--device`` option) or a torch device. Calling it
    again in an initialized process returns the current context.

    Raises:
        PartialMLError: incomplete or inconsistent torchrun variables, or ``--device cuda`` without
            enough CUDA devices for ``LOCAL_RANK``.
    """
    size = env_world_size()
    name = str(device)
    cuda = torch.cuda.is_available() if name == "auto" else name.startswith("cuda")
    if size <= 1:
        single = torch.device("cuda" if cuda else "cpu") if name == "auto" else torch.device(name)
        return DistContext(0, 1, 0, "none", single)
    missing = [v for v in ENV_VARS if not os.environ.get(v)]
    if missing:
        raise PartialMLError(
            f"WORLD_SIZE={size} but {', '.join(missing)} not set; launch with torchrun --nproc-per-node N"
        )
    r, local = int(_env_int("RANK") or 0), int(_env_int("LOCAL_RANK") or 0)
    if not 0 <= r < size:
        raise PartialMLError(f"environment variable RANK={r}: expected 0 <= RANK < WORLD_SIZE={size}")
    if cuda:
        if not torch.cuda.is_available() or local >= torch.cuda.device_count():
            raise PartialMLError(
                f"LOCAL_RANK={local}: {torch.cuda.device_count()} CUDA device(s) visible; "
                "use --nproc-per-node <= the number of GPUs, or --device cpu"
            )
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout_s)
        )
    return DistContext(dist.get_rank(), dist.get_world_size(), local, dist.get_backend(), dev)


def teardown() -> None:
    """Leave the process group (no-op when none is initialized).

    Every rank first meets the others at a barrier: a rank that destroys its group while a peer is still
    in a collective (or still talking to rank 0's store) can make that peer's gloo threads abort
    ("terminate called without an active exception"), seen once under load in the torchrun test.
    """
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def _comm_device(t: Tensor) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else t.device


def broadcast_object(obj: Any, *, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects; the object itself when single)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums over ranks of a few numbers (float64)."""
    if not is_distributed():
        return [float(v) for v in values]
    probe = torch.zeros(0)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device(probe))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu()]


def all_gather_variable(t: Tensor) -> list[Tensor]:
    """Every rank's ``t`` (same trailing shape and dtype, any first dimension), in rank order.

    Pads each to the largest first dimension, gathers, and drops the padding again (the "pad and drop"
    of uneven shares). Results are on ``t``'s device.
    """
    if not is_distributed():
        return [t]
    device = _comm_device(t)
    local = t.to(device)
    sizes_t = torch.tensor([local.shape[0]], dtype=torch.long, device=device)
    all_sizes = [torch.zeros_like(sizes_t) for _ in range(dist.get_world_size())]
    dist.all_gather(all_sizes, sizes_t)
    sizes = [int(s) for s in all_sizes]
    longest = max(sizes)
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    out = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(out, padded.contiguous())
    return [o[:s].to(t.device) for o, s in zip(out, sizes, strict=True)]


def gather_cat(t: Tensor) -> Tensor:
    """:func:`all_gather_variable` concatenated along the first dimension (rank order)."""
    parts = all_gather_variable(t)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def shard(items: Tensor, *, num_replicas: int, rank: int) -> Tensor:
    """Rank ``rank``'s contiguous slice of ``items`` (``torch.tensor_split`` into ``num_replicas``
    near-equal parts, the first ones one longer; the parts are disjoint and cover ``items``)."""
    if num_replicas == 1:
        return items
    return torch.tensor_split(items, num_replicas)[rank]


class StepSync:
    """The per-step collectives of a training step under DDP (every rank must call the same ones).

    A single-process instance (``world_size() == 1``) returns its inputs unchanged.
    """

    def __init__(self) -> None:
        self.world = world_size()

    def loss_weight(self, n_local: int) -> float:
        """``n_local * W / n_global``: makes DDP's gradient average the global-batch mean's gradient
        (valid for losses with ``reduction="mean"`` over the batch: every built-in default)."""
        if self.world == 1:
            return 1.0
        (n_global,) = all_reduce_sum([n_local])
        return 0.0 if n_global == 0 else n_local * self.world / n_global

    def any_true(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (so that every rank takes the same branch)."""
        if self.world == 1:
            return bool(flag)
        (count,) = all_reduce_sum([1.0 if flag else 0.0])
        return count > 0

    def gather_corrections(self, positions: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor] | None:
        """Every rank's ``(positions (B_r,), mask (B_r, C) bool)``, concatenated; ``None`` when no rank
        has a mask (``mask`` must be ``None`` on all ranks or on none: the same loss runs everywhere)."""
        if self.world == 1:
            return None if mask is None else (positions, mask)
        if mask is None:
            return None
        pos = gather_cat(positions.to(torch.long).cpu())
        m = gather_cat(mask.to(torch.uint8).cpu()).bool()
        return pos, m

    def average_gradients(self, params: Iterable[Tensor]) -> None:
        """All-reduce average of the gradients of parameters outside the DDP model (a loss's own
        parameters: ROLE's label estimates, LTML's learned compensation). Parameters without a
        gradient count as zero."""
        if self.world == 1:
            return
        for p in params:
            if not p.requires_grad:
                continue
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grad = p.grad.to(_comm_device(p.grad))
            dist.all_reduce(grad, op=dist.ReduceOp.SUM)
            p.grad.copy_(grad.div_(self.world))


class GlobalTopK:
    """The LL selection over the **global** batch (``--ll-topk global``), as one process would make it.

    Called by :class:`partialml.losses.large_loss._LargeLoss` with the rank's detached logits
    ``(B_r, C)``, targets ``(B_r, C)`` and ``k_for`` (entries -> ``k``); all-gathers logits and targets
    (rank order = the global batch's order), computes ``k = k_for(sum_r B_r * C)``, selects with
    :func:`partialml.losses.large_loss.large_loss_selection` and returns the flat indices of the rank's
    own rows. Cost: one all-gather of ``B_r * C`` floats and int8s per step.
    """

    def __call__(self, logits: Tensor, targets: Tensor, k_for: Callable[[int], int]) -> Tensor:
        from partialml.losses.large_loss import large_loss_selection

        all_logits = all_gather_variable(logits.detach())
        all_targets = all_gather_variable(targets.to(torch.int8))
        offset = sum(int(p.shape[0]) for p in all_logits[: rank()])
        full_logits, full_targets = torch.cat(all_logits), torch.cat(all_targets)
        k = k_for(full_logits.numel())
        mask = large_loss_selection(full_logits, full_targets, k)
        mine = mask[offset : offset + logits.shape[0]]
        return torch.nonzero(mine.reshape(-1)).view(-1)


class SilentRunDir(RunDir):
    """A :class:`~partialml.engine.run_dir.RunDir` whose writers do nothing: the run directory of ranks
    other than 0 (paths and checks still work: every rank reads ``best.pt`` at the end)."""

    def clear_previous_run(self) -> None:
        return None

    def create(self) -> None:
        return None

    def write_text(self, name: str, text: str) -> Path:
        return self.path / name

    def append_log(self, event: dict[str, Any]) -> None:
        return None
