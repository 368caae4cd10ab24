"""Focal loss and the asymmetric loss (ASL, Ridnik et al., ICCV 2021), as the baselines of
robust-loss-mlml (xinyu1205/robust-loss-mlml, ``src/loss_functions/losses.py`` ``AsymmetricLoss`` and
``train.py``, commit e8d4eff; the class follows Alibaba-MIIL/ASL).

Inputs: ``logits`` float ``(B, C)``, ``targets`` integer ``(B, C)`` in ``{1, 0, -1}``; unknown entries are
negatives (AN-style, as in those repositories, whose label files list only kept positives).

Per entry, with ``p = sigmoid(z)``, ``y = 1[target == 1]``, probability shifting ``p_m = max(p - clip, 0)``
on negatives (``clip = 0``: ``p_m = p``)::

    positive:  -(1 - p)^gamma_pos   * log(max(p, eps))
    negative:  -p_m^gamma_neg       * log(max(1 - p_m, eps))

``eps = 1e-8`` is the original's log clamp (kept: the paper's code has it; it only acts when a probability
falls below ``1e-8``). The logs are computed as ``max(logsigmoid(z), log eps)``, equal to the original's
``log(max(p, eps))`` but stable.

Focusing weights and gradient: robust-loss-mlml's ``AsymmetricLoss`` defaults to
``disable_torch_grad_focal_loss=True`` and its ``train.py`` keeps that default for the BCE, Focal and ASL
baselines, so the weights ``(1 - p)^gamma`` are constants for backpropagation there (Alibaba-MIIL/ASL's
``train.py`` passes ``True`` as well; only ``AsymmetricLossOptimized`` defaults to ``False``). Our default
is therefore ``True``; ``False`` gives the fully differentiated focal loss. The original toggles the
global grad mode; we detach instead. Reduction: ``"sum"`` (original).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses.base import PartialLabelLoss, Reduction, reduce_loss
from partialml.losses.registry import register_loss

__all__ = ["AslLoss", "FocalLoss", "asl_loss", "class_balanced_weights", "focal_loss"]


def asl_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    gamma_neg: float = 4.0,
    gamma_pos: float = 0.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    disable_torch_grad_focal_loss: bool = True,
    reduction: Reduction = "sum",
) -> Tensor:
    """Asymmetric loss (see the module docstring for the formula and the provenance of each default).

    ``gamma_neg = gamma_pos = clip = 0`` is BCE against the AN target (up to the ``eps`` clamp).

    Example:
        >>> round(asl_loss(torch.zeros(1, 2), torch.tensor([[1, -1]]), clip=0.0).item(), 4)
        0.7365
    """
    positive = targets == 1
    log_eps = math.log(eps) if eps > 0 else float("-inf")
    log_p = F.logsigmoid(logits).clamp_min(log_eps)
    p = torch.sigmoid(logits)
    if clip > 0:
        # 1 - p_m = min(1 - p + clip, 1) >= clip > 0
        one_minus_pm = (torch.sigmoid(-logits) + clip).clamp_max(1.0)
        log_not_pm = torch.log(one_minus_pm).clamp_min(log_eps)
        p_m = 1.0 - one_minus_pm
    else:
        log_not_pm = F.logsigmoid(-logits).clamp_min(log_eps)
        p_m = p
    loss = torch.where(positive, log_p, log_not_pm)
    if gamma_neg > 0 or gamma_pos > 0:
        base = torch.where(positive, 1.0 - p, p_m)
        if disable_torch_grad_focal_loss:
            base = base.detach()
        exponent = torch.full_like(logits, gamma_neg).masked_fill(positive, gamma_pos)
        loss = loss * base.pow(exponent)
    return reduce_loss(-loss, reduction)


def focal_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    gamma: float = 2.0,
    eps: float = 1e-8,
    disable_torch_grad_focal_loss: bool = True,
    reduction: Reduction = "sum",
) -> Tensor:
    """Focal loss on both sides: ASL with ``gamma_neg = gamma_pos = gamma`` and ``clip = 0``.

    Positive ``-(1 - p)^gamma log p``, negative (``0`` and unknown ``-1``) ``-p^gamma log(1 - p)``;
    ``gamma = 2`` and the detached focusing weights are robust-loss-mlml's "Focal" baseline.
    """
    return asl_loss(
        logits,
        targets,
        gamma_neg=gamma,
        gamma_pos=gamma,
        clip=0.0,
        eps=eps,
        disable_torch_grad_focal_loss=disable_torch_grad_focal_loss,
        reduction=reduction,
    )


def _check(name: str, *, clip: float = 0.0, eps: float = 0.0, **gammas: float) -> None:
    for key, value in gammas.items():
        if value < 0:
            raise PartialMLError(f"{name}: {key} must be >= 0, got {value}")
    if not 0.0 <= clip < 1.0:
        raise PartialMLError(f"{name}: clip must be in [0, 1), got {clip}")
    if not 0.0 <= eps < 1.0:
        raise PartialMLError(f"{name}: eps must be in [0, 1), got {eps}")


@register_loss(
    "focal",
    description="focal loss gamma=2 on both sides, unknown as negative",
    paper="Lin et al., ICCV 2017",
)
class FocalLoss(PartialLabelLoss):
    """Focal loss (:func:`focal_loss`), robust-loss-mlml's baseline.

    Args:
        gamma: focusing exponent on both sides; ``2.0`` (robust-loss-mlml ``train.py``).
        eps: log clamp; ``1e-8`` (original ``AsymmetricLoss``).
        disable_torch_grad_focal_loss: focusing weights without gradient; ``True`` (original default).
        class_balanced_beta: ``None`` (default, plain focal) or ``beta`` in ``[0, 1)``: class-balanced focal
            (Cui et al., CVPR 2019), every entry of class ``k`` weighted by
            ``w_k = (1 - beta) / (1 - beta^{n_k})``, normalized so that ``sum_k w_k = C`` (Cui et al.'s
            normalization); ``n_k`` = observed positives of class ``k`` (at least 1; a class with none
            counts as 1). Common choice ``0.9`` (DB's CB setting) or ``0.999``.
        class_counts: ``(C,)`` ``n_k``; set by :meth:`from_labels` when ``class_balanced_beta`` is given.
        reduction: default ``"sum"`` (original).
    """

    default_reduction = "sum"

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        eps: float = 1e-8,
        disable_torch_grad_focal_loss: bool = True,
        class_balanced_beta: float | None = None,
        class_counts: Sequence[float] | Tensor | None = None,
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        _check("focal", eps=eps, gamma=gamma)
        self.gamma, self.eps = gamma, eps
        self.disable_torch_grad_focal_loss = disable_torch_grad_focal_loss
        self.class_balanced_beta = None if class_balanced_beta is None else float(class_balanced_beta)
        self.class_weights: Tensor | None = None
        if self.class_balanced_beta is not None:
            beta = self.class_balanced_beta
            if not 0.0 <= beta < 1.0:
                raise PartialMLError(f"focal: class_balanced_beta must be in [0, 1), got {beta}")
            if class_counts is None:
                raise PartialMLError(
                    "focal: class_balanced_beta needs class_counts (FocalLoss.from_labels(observed, ...))"
                )
            self.class_weights = class_balanced_weights(class_counts, beta)

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> FocalLoss:
        if kwargs.get("class_balanced_beta") is not None:
            kwargs.setdefault("class_counts", (torch.as_tensor(observed) == 1).sum(dim=0).double())
        return cls(**kwargs)

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        out = focal_loss(
            logits,
            targets,
            gamma=self.gamma,
            eps=self.eps,
            disable_torch_grad_focal_loss=self.disable_torch_grad_focal_loss,
            reduction="none",
        )
        if self.class_weights is None:
            return out
        if self.class_weights.numel() != logits.shape[1]:
            raise PartialMLError(
                f"focal: logits have {logits.shape[1]} classes, class_counts {self.class_weights.numel()}"
            )
        return out * self.class_weights.to(device=logits.device, dtype=logits.dtype)


def class_balanced_weights(class_counts: Sequence[float] | Tensor, beta: float) -> Tensor:
    """Cui et al. (CVPR 2019) ``w_k = (1 - beta) / (1 - beta^{n_k})`` normalized to sum to ``C``; ``(C,)``
    float64. ``n_k`` is clamped to at least 1 (a class without positive would get an infinite weight);
    ``beta = 0`` gives all ones.
    """
    n = torch.as_tensor(class_counts, dtype=torch.float64).flatten().clamp_min(1.0)
    w = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), n))
    return w / w.sum() * n.numel()


@register_loss(
    "asl",
    description="asymmetric loss: gamma_neg=4, gamma_pos=0, clip=0.05",
    paper="Ridnik et al., ICCV 2021",
)
class AslLoss(PartialLabelLoss):
    """Asymmetric loss (:func:`asl_loss`); defaults from robust-loss-mlml's ``train.py`` "Asl" baseline.

    Args:
        gamma_neg: negative focusing exponent; ``4``.
        gamma_pos: positive focusing exponent; ``0``.
        clip: probability shift on negatives; ``0.05``.
        eps: log clamp; ``1e-8`` (original ``AsymmetricLoss``).
        disable_torch_grad_focal_loss: focusing weights without gradient; ``True`` (original default).
        reduction: default ``"sum"`` (original).
    """

    default_reduction = "sum"

    def __init__(
        self,
        *,
        gamma_neg: float = 4.0,
        gamma_pos: float = 0.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        disable_torch_grad_focal_loss: bool = True,
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        _check("asl", clip=clip, eps=eps, gamma_neg=gamma_neg, gamma_pos=gamma_pos)
        self.gamma_neg, self.gamma_pos, self.clip, self.eps = gamma_neg, gamma_pos, clip, eps
        self.disable_torch_grad_focal_loss = disable_torch_grad_focal_loss

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return asl_loss(
            logits,
            targets,
            gamma_neg=self.gamma_neg,
            gamma_pos=self.gamma_pos,
            clip=self.clip,
            eps=self.eps,
            disable_torch_grad_focal_loss=self.disable_torch_grad_focal_loss,
            reduction="none",
        )
