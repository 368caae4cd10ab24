"""Inverse-frequency re-weighting ("RW"), the long-tail baseline of Wu et al. (ECCV 2020, Table 1).

Every entry of class ``k`` gets the weight ``w_k = (1 / n_k)^power``, normalized so that the weights average to
1 over the classes (so the loss keeps the scale of the unweighted one); ``n_k`` is the number of observed
positives of class ``k`` in the training set, clamped to at least 1. ``power = 1`` is plain inverse frequency,
``power = 0.5`` its square-root smoothing. The base term is AN (unknown entries as negatives) or, with
``unknown="ignore"``, IU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

import torch
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses.base import PartialLabelLoss, Reduction
from partialml.losses.bce import an_per_entry, iu_loss
from partialml.losses.registry import register_loss

UnknownPolicy = Literal["negative", "ignore"]


def inverse_frequency_weights(class_counts: Sequence[float] | Tensor, *, power: float = 1.0) -> Tensor:
    """``(C,)`` float64 weights ``(1 / max(n_k, 1))^power / mean_k (1 / max(n_k, 1))^power``.

    Example:
        >>> inverse_frequency_weights([1, 3], power=1.0).tolist()
        [1.5, 0.5]
    """
    counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
    if counts.numel() == 0 or not torch.isfinite(counts).all() or (counts < 0).any():
        raise PartialMLError("rw: class_counts must be finite, non-negative counts, one per class")
    if power < 0:
        raise PartialMLError(f"rw: power must be >= 0, got {power}")
    raw = counts.clamp_min(1.0).reciprocal().pow(power)
    return raw / raw.mean()


@register_loss(
    "rw",
    description="inverse class-frequency re-weighted AN/BCE (long-tail baseline RW)",
    paper="Wu et al., ECCV 2020 (baseline)",
)
class ReweightedLoss(PartialLabelLoss):
    """AN (or IU) with per-class weights from :func:`inverse_frequency_weights`.

    Args:
        class_counts: ``(C,)`` observed positives per class; the trainer passes them from the training labels
            (:meth:`from_labels` counts them).
        power: exponent of the inverse frequency; default ``1.0`` (plain inverse frequency).
        unknown: ``"negative"`` (AN, default) or ``"ignore"`` (IU) for the ``-1`` entries.
        reduction: default ``"mean"`` over ``B * C``.
    """

    requires_labels = False  # class_counts suffice; from_labels counts them when labels are given

    def __init__(
        self,
        *,
        class_counts: Sequence[float] | Tensor,
        power: float = 1.0,
        unknown: UnknownPolicy = "negative",
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        if unknown not in ("negative", "ignore"):
            raise PartialMLError(f"rw: unknown must be 'negative' or 'ignore', got {unknown!r}")
        self.power = float(power)
        self.unknown: UnknownPolicy = unknown
        self.register_buffer("class_weights", inverse_frequency_weights(class_counts, power=power))

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> ReweightedLoss:
        kwargs.setdefault("class_counts", (torch.as_tensor(observed) == 1).sum(dim=0).double())
        return cls(**kwargs)

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        weights = cast(Tensor, self.class_weights)
        if weights.numel() != logits.shape[1]:
            raise PartialMLError(f"rw: logits have {logits.shape[1]} classes, class_counts {weights.numel()}")
        base = (
            an_per_entry(logits, targets)
            if self.unknown == "negative"
            else iu_loss(logits, targets, reduction="none")
        )
        return base * weights.to(device=logits.device, dtype=logits.dtype)

    def extra_repr(self) -> str:
        return f"power={self.power}, unknown={self.unknown!r}, reduction={self.reduction!r}"


__all__ = ["ReweightedLoss", "inverse_frequency_weights"]
