"""Robust losses for missing labels: Hill and SPLC (Zhang et al., "Simple and Robust Loss Design for
Multi-Label Learning with Missing Labels", arXiv 2112.07368, 2021; xinyu1205/robust-loss-mlml,
``src/loss_functions/losses.py``, commit e8d4eff).

Inputs: ``logits`` float ``(B, C)``, ``targets`` integer ``(B, C)`` in ``{1, 0, -1}``. The original code
knows only positives and "everything else"; here observed negatives ``0`` and unknown ``-1`` are both
negatives for Hill, and for SPLC only unknown entries can become pseudo-positives (our ``0`` is an
annotated negative). Defaults are the original code's: reduction ``"sum"``, margin ``1``, ``gamma = 2``,
Hill ``lamb = 1.5``, SPLC ``tau = 0.6`` and ``change_epoch = 1`` (0-indexed: from the second epoch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses.base import PartialLabelLoss, Reduction, reduce_loss
from partialml.losses.registry import register_loss

__all__ = ["HillLoss", "SplcLoss", "hill_loss", "splc_loss", "splc_pseudo_labels"]


def hill_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    margin: float = 1.0,
    gamma: float = 2.0,
    lamb: float = 1.5,
    reduction: Reduction = "sum",
) -> Tensor:
    """Hill loss.

    Positive (``1``): ``-(1 - p_m)^gamma * log p_m`` with ``p_m = sigmoid(z - margin)`` (focal margin; the
    focal factor is not detached, as in the original). Every other entry (``0`` and ``-1``):
    ``(lamb - p) * p^2`` with ``p = sigmoid(z)``, no margin. With ``lamb = 1.5`` the negative term's
    derivative in ``p``, ``2 lamb p - 3 p^2``, vanishes at ``p = 0`` and ``p = 1`` and its logit gradient is
    ``3 p^2 (1 - p)^2``.

    Example:
        >>> round(hill_loss(torch.zeros(1, 1), torch.tensor([[0]])).item(), 4)  # (1.5 - 0.5) * 0.25
        0.25
    """
    positive = targets == 1
    shifted = logits - margin
    pos_term = -torch.sigmoid(-shifted).pow(gamma) * F.logsigmoid(shifted)
    p = torch.sigmoid(logits)
    neg_term = (lamb - p) * p.square()
    return reduce_loss(torch.where(positive, pos_term, neg_term), reduction)


def splc_pseudo_labels(logits: Tensor, targets: Tensor, *, tau: float = 0.6) -> Tensor:
    """SPLC's pseudo-positives ``(B, C)`` bool: unknown entries (``-1``) with ``sigmoid(z) > tau``.

    Observed negatives (``0``) are never pseudo-labelled. Computed without gradient.
    """
    with torch.no_grad():
        return (targets == -1) & (torch.sigmoid(logits.detach()) > tau)


def splc_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    epoch: int,
    margin: float = 1.0,
    tau: float = 0.6,
    change_epoch: int = 1,
    gamma: float = 2.0,
    reduction: Reduction = "sum",
) -> Tensor:
    """Self-paced loss correction (SPLC) with the focal margin loss.

    Observed positives use the shifted logit ``z - margin``; from the 0-indexed ``epoch >= change_epoch``
    an unknown entry with ``sigmoid(z) > tau`` is a positive for this batch with the unshifted logit
    (never stored). Then, with ``p`` the sigmoid of the (shifted) logit: positives
    ``(1 - p)^gamma * (-log p)``, negatives (``0``, other ``-1``) ``p^gamma * (-log(1 - p))``; focal
    factors not detached (original code).
    """
    positive = targets == 1
    z = torch.where(positive, logits - margin, logits)
    if epoch >= change_epoch:
        positive = positive | splc_pseudo_labels(logits, targets, tau=tau)
    pos_term = -torch.sigmoid(-z).pow(gamma) * F.logsigmoid(z)
    neg_term = -torch.sigmoid(z).pow(gamma) * F.logsigmoid(-z)
    return reduce_loss(torch.where(positive, pos_term, neg_term), reduction)


def _check_nonneg(name: str, **values: float) -> None:
    for key, value in values.items():
        if value < 0:
            raise PartialMLError(f"{name}: {key} must be >= 0, got {value}")


@register_loss(
    "hill",
    description="Hill loss: focal margin positives, hill-shaped negatives",
    paper="Zhang et al., arXiv 2021",
)
class HillLoss(PartialLabelLoss):
    """Hill loss (:func:`hill_loss`).

    Args:
        margin: positive-logit margin; ``1.0`` (original code, README: 0.5-1.0 work alike).
        gamma: focal exponent of the positive term; ``2.0`` (original code).
        lamb: negative weighting ``lambda``; ``1.5`` (original code, never changed by the authors).
        reduction: default ``"sum"`` (original code).
    """

    default_reduction = "sum"

    def __init__(
        self,
        *,
        margin: float = 1.0,
        gamma: float = 2.0,
        lamb: float = 1.5,
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        _check_nonneg("hill", gamma=gamma)
        self.margin, self.gamma, self.lamb = margin, gamma, lamb

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return hill_loss(
            logits, targets, margin=self.margin, gamma=self.gamma, lamb=self.lamb, reduction="none"
        )


@register_loss(
    "splc",
    description="self-paced loss correction: confident unknowns become positives",
    paper="Zhang et al., arXiv 2021",
)
class SplcLoss(PartialLabelLoss):
    """SPLC (:func:`splc_loss`); uses the epoch set by :meth:`set_epoch`.

    Args:
        margin: margin on observed positives; ``1.0`` (original code).
        tau: pseudo-positive threshold on ``sigmoid(z)``; ``0.6`` (original code; README: 0.65 for
            COCO with 75 % labels left).
        change_epoch: first 0-indexed epoch with pseudo-labels; ``1`` (original code, 0-indexed loop).
        gamma: focal exponent on both sides; ``2.0`` (original code).
        reduction: default ``"sum"`` (original code).
    """

    default_reduction = "sum"

    def __init__(
        self,
        *,
        margin: float = 1.0,
        tau: float = 0.6,
        change_epoch: int = 1,
        gamma: float = 2.0,
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        _check_nonneg("splc", gamma=gamma, change_epoch=change_epoch)
        if not 0.0 <= tau <= 1.0:
            raise PartialMLError(f"splc: tau must be in [0, 1], got {tau}")
        self.margin, self.tau, self.change_epoch, self.gamma = margin, tau, int(change_epoch), gamma

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return splc_loss(
            logits,
            targets,
            epoch=self.epoch,
            margin=self.margin,
            tau=self.tau,
            change_epoch=self.change_epoch,
            gamma=self.gamma,
            reduction="none",
        )
