"""The common shell of every partialml loss.

Principle: the math lives in pure functions (:mod:`partialml.losses.functional`); a loss module only
stores settings and per-run state, and exposes the hooks the trainer calls.

Calling convention (every loss):

* ``loss(logits, targets, indices=None)``: ``logits`` float ``(B, C)``, ``targets`` integer ``(B, C)``
  in the encoding ``1`` positive / ``0`` negative / ``-1`` unknown, ``indices`` long ``(B,)`` sample
  indices into the training set (needed by losses with per-sample state: ``needs_indices = True``).
* ``reduction``: ``"mean"`` divides the sum by ``B * C`` (entries without a term count as zeros in the
  denominator, as in Cole et al. and Kim et al.), ``"sum"`` sums, ``"none"`` returns the per-entry
  ``(B, C)`` matrix. Each loss's default is its paper's.
* ``set_epoch(epoch)``: 0-indexed epochs, called by the trainer before each epoch.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from partialml.errors import PartialMLError

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")


def reduce_loss(per_entry: Tensor, reduction: Reduction) -> Tensor:
    """Reduce a per-entry ``(B, C)`` loss: ``mean`` is ``sum / (B * C)``, ``sum``, or ``none``."""
    if reduction == "none":
        return per_entry
    if reduction == "sum":
        return per_entry.sum()
    if reduction == "mean":
        return per_entry.sum() / max(per_entry.numel(), 1)
    raise PartialMLError(f"unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")


def check_logits_targets(logits: Tensor, targets: Tensor) -> None:
    """Raise a clear error unless ``logits`` and ``targets`` are matching ``(B, C)`` tensors."""
    if logits.ndim != 2:
        raise PartialMLError(f"logits must be (batch, classes), got shape {tuple(logits.shape)}")
    if targets.shape != logits.shape:
        raise PartialMLError(
            f"targets shape {tuple(targets.shape)} does not match logits shape {tuple(logits.shape)}"
        )


class PartialLabelLoss(nn.Module):
    """Base class of every registered loss.

    Subclasses set :attr:`default_reduction` to their paper's reduction and implement
    :meth:`compute`, returning the per-entry ``(B, C)`` loss; the base applies the reduction.

    Trainer hooks (no-ops here):

    * :meth:`set_epoch`: 0-indexed epoch, before each epoch.
    * :meth:`pop_corrections`: after a step, a ``(B, C)`` bool mask of unknown entries to write as
      positives into the LabelStore (LL-Cp), or ``None``.
    * :meth:`param_groups`: the loss's own learnable parameters with their learning rates (ROLE).
    * :meth:`wants_epoch_scores` / :meth:`update_from_scores`: a scoring pass over the whole training
      set before an epoch (EM+APL).
    * :meth:`from_labels`: build from the observed training labels, for losses that need data
      statistics (:attr:`requires_labels` is ``True``).
    """

    default_reduction: ClassVar[Reduction] = "mean"
    needs_indices: ClassVar[bool] = False
    requires_labels: ClassVar[bool] = False

    def __init__(self, *, reduction: Reduction | None = None) -> None:
        super().__init__()
        reduction = self.default_reduction if reduction is None else reduction
        if reduction not in REDUCTIONS:
            raise PartialMLError(f"unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")
        self.reduction: Reduction = reduction
        self.epoch = 0

    # -- hooks ---------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Set the 0-indexed epoch that the next calls belong to."""
        if int(epoch) < 0:
            raise PartialMLError(f"epoch must be >= 0 (epochs are 0-indexed), got {epoch}")
        self.epoch = int(epoch)

    def pop_corrections(self) -> Tensor | None:
        """Entries of the last batch to store as positives (``(B, C)`` bool), then forget them."""
        return None

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups for the loss's own parameters (empty for most losses)."""
        return []

    def wants_epoch_scores(self) -> bool:
        """Whether the trainer must score the training set before the current epoch."""
        return False

    def update_from_scores(self, scores: Tensor, observed: Tensor) -> None:
        """Receive ``(N, C)`` probabilities of the whole training set and its observed labels."""

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> PartialLabelLoss:
        """Build the loss from the ``(N, C)`` observed training labels (1 / 0 / -1)."""
        return cls(**kwargs)

    # -- computation ---------------------------------------------------------------------------------
    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        """The per-entry ``(B, C)`` loss. Implemented by subclasses."""
        raise NotImplementedError

    def reduced(
        self, logits: Tensor, targets: Tensor, indices: Tensor | None, reduction: Reduction
    ) -> Tensor:
        """The loss under ``reduction``; losses with a fused mean / sum path (LL, Hill, SPLC) override it."""
        return reduce_loss(self.compute(logits, targets, indices), reduction)

    def forward(self, logits: Tensor, targets: Tensor, indices: Tensor | None = None) -> Tensor:
        check_logits_targets(logits, targets)
        if self.needs_indices and indices is None:
            raise PartialMLError(f"loss {type(self).__name__} needs the sample indices of the batch")
        return self.reduced(logits, targets, indices, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


def as_target_masks(targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Boolean ``(positive, negative, unknown)`` masks of a 1 / 0 / -1 target matrix."""
    return targets == 1, targets == 0, targets == -1


def float_targets(targets: Tensor, like: Tensor) -> Tensor:
    """Targets as 0/1 floats in ``like``'s dtype and device, unknown (-1) mapped to 0 (the AN target).

    ``max(t, 0)`` then a cast: on the CPU about 15x faster than ``(t == 1).to(float)`` for int8 labels
    (a comparison to bool and a bool cast are each slower than the integer clamp).
    """
    return targets.clamp(min=0).to(dtype=like.dtype, device=like.device)


def unknown_mask(targets: Tensor) -> Tensor:
    """Boolean ``(B, C)`` mask of the unknown (``-1``) entries.

    For integer labels the sign bit (the only negative value is ``-1``): on the CPU about 15x faster than
    ``targets == -1``, whose bool output is not vectorized for int8 there.
    """
    if targets.is_floating_point():
        return targets == -1
    return torch.signbit(targets)


__all__ = [
    "REDUCTIONS",
    "PartialLabelLoss",
    "Reduction",
    "as_target_masks",
    "check_logits_targets",
    "float_targets",
    "reduce_loss",
    "unknown_mask",
]
