"""BCE-style losses of Cole et al. (CVPR 2021): full-label BCE, AN, IU, WAN and AN-LS.

Every function takes ``logits`` float ``(B, C)`` and ``targets`` integer ``(B, C)`` in the partialml
encoding (``1`` observed positive, ``0`` observed negative, ``-1`` unknown) and returns the loss reduced
by ``reduction`` (``"none"`` gives the per-entry ``(B, C)`` matrix).

Provenance of the defaults: elijahcole/single-positive-multi-label, ``losses.py`` (commit 0ea84b0): every
loss is summed and divided by ``B * C`` (reduction ``"mean"``), WAN's weight is ``1 / (C - 1)``, the
label-smoothing coefficient is ``0.1``. Cole computes ``-log(x + 1e-5)`` on probabilities; we use the
exact, numerically stable ``binary_cross_entropy_with_logits`` instead (no clamp: the paper has none,
the ``1e-5`` is an implementation detail of the original code that changes values by at most ~1e-5
relative for non-saturated probabilities).

Cole's AN, WAN and AN-LS assert that no observed negative exists (single-positive data). With our encoding
observed negatives (``0``) can exist (partial labels); they are treated as real negatives: full weight in
WAN, the same smoothed negative term as an unknown entry in AN-LS.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses.base import PartialLabelLoss, Reduction, float_targets, reduce_loss
from partialml.losses.registry import register_loss

__all__ = [
    "AnLoss",
    "AnLsLoss",
    "BceLoss",
    "IuLoss",
    "WanLoss",
    "an_loss",
    "an_ls_loss",
    "an_per_entry",
    "bce_loss",
    "iu_loss",
    "wan_loss",
]


def an_per_entry(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-entry assume-negative loss ``(B, C)``: ``-log p`` on ``1``, ``-log(1 - p)`` on ``0`` and ``-1``."""
    return F.binary_cross_entropy_with_logits(logits, float_targets(targets, logits), reduction="none")


def bce_loss(logits: Tensor, targets: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """Full-label BCE: ``-log p`` on ``1``, ``-log(1 - p)`` on ``0``, unknown entries contribute ``0``.

    Trained on full labels this is Cole et al.'s "Full label" oracle. Default reduction ``"mean"``
    (sum over entries / ``(B * C)``, Cole's normalization).

    Example:
        >>> bce_loss(torch.zeros(1, 2), torch.tensor([[1, 0]])).item()  # log 2
        0.6931471824645996
    """
    if reduction not in ("mean", "sum", "none"):
        reduce_loss(logits, reduction)  # raises the standard error
    weight = (targets != -1).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(
        logits, float_targets(targets, logits), weight=weight, reduction=reduction
    )


def an_loss(logits: Tensor, targets: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """Assume negative (AN): ``-log p`` on ``1``, ``-log(1 - p)`` on ``0`` and on unknown ``-1``.

    Cole et al., CVPR 2021 ("Naive AN"). Default reduction ``"mean"`` over ``B * C`` (Cole).

    Example:
        >>> an_loss(torch.zeros(1, 2), torch.tensor([[1, -1]])).item()  # log 2
        0.6931471824645996
    """
    if reduction not in ("mean", "sum", "none"):
        reduce_loss(logits, reduction)  # raises the standard error
    # one ATen call: its mean is sum / (B * C) and its backward has no Python node
    return F.binary_cross_entropy_with_logits(logits, float_targets(targets, logits), reduction=reduction)


def iu_loss(logits: Tensor, targets: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """Ignore unknown (IU): ``-log p`` on ``1``, ``-log(1 - p)`` on ``0``, unknown entries ``0``.

    Cole et al., CVPR 2021 ("Naive IU"); the mean still divides by all ``B * C`` entries (Cole's
    normalization), so unknown entries count as zeros in the denominator.
    """
    return bce_loss(logits, targets, reduction=reduction)


def wan_loss(
    logits: Tensor, targets: Tensor, *, gamma: float | None = None, reduction: Reduction = "mean"
) -> Tensor:
    """Weak assume negative (WAN): AN with the assumed-negative term weighted by ``gamma``.

    ``-log p`` on ``1``; ``-log(1 - p)`` on an observed negative ``0`` (weight 1: it is an annotation);
    ``gamma * (-log(1 - p))`` on an unknown ``-1``. ``gamma=None`` means ``1 / (C - 1)`` (Cole et al.,
    CVPR 2021, ``loss_wan``, which only allows single-positive data, i.e. no observed negatives).
    """
    num_classes = logits.shape[-1]
    if gamma is None:
        if num_classes < 2:
            raise PartialMLError("wan: gamma=None (1 / (C - 1)) needs at least 2 classes")
        gamma = 1.0 / (num_classes - 1)
    weight = torch.ones_like(logits).masked_fill(targets == -1, gamma)
    return reduce_loss(an_per_entry(logits, targets) * weight, reduction)


def an_ls_loss(logits: Tensor, targets: Tensor, *, eps: float = 0.1, reduction: Reduction = "mean") -> Tensor:
    """AN with label smoothing (AN-LS, "LSAN" in Cole et al., CVPR 2021), ``eps = 0.1`` (Cole).

    Positive ``1``: ``(1 - eps)(-log p) + eps(-log(1 - p))``; assumed or observed negative (``0``, ``-1``):
    ``(1 - eps)(-log(1 - p)) + eps(-log p)``. Equivalently BCE against the soft target
    ``1 - eps`` / ``eps``.
    """
    soft = torch.full_like(logits, eps).masked_fill(targets == 1, 1.0 - eps)
    return reduce_loss(F.binary_cross_entropy_with_logits(logits, soft, reduction="none"), reduction)


@register_loss(
    "bce",
    description="full-label BCE; unknown entries ignored (Full-label oracle)",
    paper="Cole et al., CVPR 2021",
)
class BceLoss(PartialLabelLoss):
    """Full-label BCE (:func:`bce_loss`); default reduction ``"mean"`` over ``B * C`` (Cole)."""

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return bce_loss(logits, targets, reduction="none")

    def reduced(
        self, logits: Tensor, targets: Tensor, indices: Tensor | None, reduction: Reduction
    ) -> Tensor:
        """The loss under ``reduction`` in one ATen call (no per-entry matrix, no Python autograd node)."""
        return bce_loss(logits, targets, reduction=reduction)


@register_loss(
    "an", description="assume negative: unknown labels are negatives", paper="Cole et al., CVPR 2021"
)
class AnLoss(PartialLabelLoss):
    """Assume negative (:func:`an_loss`); default reduction ``"mean"`` over ``B * C`` (Cole)."""

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return an_per_entry(logits, targets)

    def reduced(
        self, logits: Tensor, targets: Tensor, indices: Tensor | None, reduction: Reduction
    ) -> Tensor:
        """The loss under ``reduction`` in one ATen call (no per-entry matrix, no Python autograd node)."""
        return an_loss(logits, targets, reduction=reduction)


@register_loss(
    "iu", description="ignore unknown: only observed labels contribute", paper="Cole et al., CVPR 2021"
)
class IuLoss(PartialLabelLoss):
    """Ignore unknown (:func:`iu_loss`); default reduction ``"mean"`` over ``B * C`` (Cole)."""

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return iu_loss(logits, targets, reduction="none")

    def reduced(
        self, logits: Tensor, targets: Tensor, indices: Tensor | None, reduction: Reduction
    ) -> Tensor:
        """The loss under ``reduction`` in one ATen call (no per-entry matrix, no Python autograd node)."""
        return iu_loss(logits, targets, reduction=reduction)


@register_loss(
    "wan",
    description="weak assume negative: unknown negatives weighted 1/(C-1)",
    paper="Cole et al., CVPR 2021",
)
class WanLoss(PartialLabelLoss):
    """Weak assume negative (:func:`wan_loss`).

    Args:
        gamma: weight of the assumed-negative (unknown) term; ``None`` is ``1 / (C - 1)`` (Cole).
        reduction: default ``"mean"`` over ``B * C`` (Cole).
    """

    def __init__(self, *, gamma: float | None = None, reduction: Reduction | None = None) -> None:
        super().__init__(reduction=reduction)
        if gamma is not None and gamma < 0:
            raise PartialMLError(f"wan: gamma must be >= 0, got {gamma}")
        self.gamma = gamma

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return wan_loss(logits, targets, gamma=self.gamma, reduction="none")


@register_loss(
    "an-ls", description="assume negative with label smoothing eps=0.1", paper="Cole et al., CVPR 2021"
)
class AnLsLoss(PartialLabelLoss):
    """AN with label smoothing (:func:`an_ls_loss`).

    Args:
        eps: smoothing coefficient in ``[0, 1)``; default ``0.1`` (Cole's ``ls_coef``).
        reduction: default ``"mean"`` over ``B * C`` (Cole).
    """

    def __init__(self, *, eps: float = 0.1, reduction: Reduction | None = None) -> None:
        super().__init__(reduction=reduction)
        if not 0.0 <= eps < 1.0:
            raise PartialMLError(f"an-ls: eps must be in [0, 1), got {eps}")
        self.eps = eps

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return an_ls_loss(logits, targets, eps=self.eps, reduction="none")
