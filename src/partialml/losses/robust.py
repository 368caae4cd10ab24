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
from partialml.losses.base import PartialLabelLoss, Reduction, reduce_loss, unknown_mask
from partialml.losses.registry import register_loss

__all__ = ["HillLoss", "SplcLoss", "hill_loss", "splc_loss", "splc_pseudo_labels"]


def _reduce_fused(
    fn: type[torch.autograd.Function], logits: Tensor, reduction: Reduction, *args: object
) -> Tensor:
    """Apply a fused per-entry loss ``fn`` and the reduction (``"mean"`` divides by ``B * C``)."""
    if reduction not in ("mean", "sum", "none"):
        reduce_loss(logits, reduction)  # raises the standard error
    divisor = float(max(logits.numel(), 1)) if reduction == "mean" else 1.0
    out: Tensor = fn.apply(logits, reduction, divisor, *args)
    return out


def _focal_term(a: Tensor, gamma: float, need_grad: bool) -> tuple[Tensor, Tensor | None]:
    """``sigmoid(a)^gamma * softplus(a)`` per entry and its derivative in ``a``,
    ``sigmoid(a)^gamma * (gamma * (1 - sigmoid(a)) * softplus(a) + sigmoid(a))``.

    With ``a = -z`` this is the focal positive term ``(1 - p)^gamma * (-log p)``, with ``a = z`` the focal
    negative term ``p^gamma * (-log(1 - p))`` (``p = sigmoid(z)``). Seven elementwise passes with the
    gradient (sigmoid, softplus, power, product, ``1 - s``, one ``addcmul``, product), four without.
    """
    s = torch.sigmoid(a)
    sp = F.softplus(a)
    sg = s.square() if gamma == 2.0 else s.pow(gamma)
    loss = sg * sp
    if not need_grad:
        return loss, None
    grad = torch.addcmul(s, torch.sub(1.0, s), sp, value=gamma).mul_(sg)
    return loss, grad


def _observed_positives(targets: Tensor) -> Tensor:
    """Flat indices (long) of the observed positives ``1``: few per row in partial labels, so the
    per-positive terms are computed on these entries only and written with ``index_copy_``."""
    return torch.nonzero(targets.reshape(-1).clamp(min=0)).view(-1)  # faster than == 1 on int8 (CPU)


class _FusedElementwise(torch.autograd.Function):
    """Shared forward/backward of the fused elementwise losses: ``_compute`` returns the per-entry loss
    and, when the logits require a gradient, its derivative in the logits; the backward multiplies it by
    ``grad_output / divisor`` (first order only)."""

    @staticmethod
    def _compute(logits: Tensor, need_grad: bool, *args: object) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    @classmethod
    def forward(
        cls,
        ctx: torch.autograd.function.FunctionCtx,
        logits: Tensor,
        reduction: str,
        divisor: float,
        *args: object,
    ) -> Tensor:
        need_grad = bool(ctx.needs_input_grad[0])  # type: ignore[attr-defined]
        loss, grad = cls._compute(logits, need_grad, *args)
        if grad is not None:
            ctx.save_for_backward(grad)
        ctx.divisor = divisor  # type: ignore[attr-defined]
        ctx.num_args = len(args)  # type: ignore[attr-defined]
        if reduction == "none":
            return loss
        total = loss.sum()
        return total if divisor == 1.0 else total / divisor

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = ctx.saved_tensors  # type: ignore[attr-defined]
        scale = grad_output if ctx.divisor == 1.0 else grad_output / ctx.divisor  # type: ignore[attr-defined]
        return (grad * scale, None, None, *([None] * ctx.num_args))  # type: ignore[attr-defined]


class _FusedHill(_FusedElementwise):
    """Hill per entry and its logit gradient (:func:`hill_loss`).

    Every entry first gets the negative term, ``p = sigmoid(z)``, loss ``(lamb - p) p^2``,
    ``dL/dz = (2 lamb - 3 p) p^2 (1 - p)``; the observed positives (gathered: few per row) are then
    overwritten with ``a = margin - z``, loss ``sigmoid(a)^gamma softplus(a)`` (``= (1 - p_m)^gamma
    (-log p_m)``), ``dL/dz = -dL/da``.
    """

    @staticmethod
    def _compute(logits: Tensor, need_grad: bool, *args: object) -> tuple[Tensor, Tensor | None]:
        targets, margin, gamma, lamb = args
        assert isinstance(targets, Tensor)
        logits = logits.contiguous()  # the per-entry results are written through flat views
        lamb_f = float(lamb)  # type: ignore[arg-type]
        positive = _observed_positives(targets)
        p = torch.sigmoid(logits)
        p2 = p.square()
        loss = torch.sub(lamb_f, p).mul_(p2)
        a = torch.sub(float(margin), logits.reshape(-1).index_select(0, positive))  # type: ignore[arg-type]
        pos, pos_grad = _focal_term(a, float(gamma), need_grad)  # type: ignore[arg-type]
        loss.view(-1).index_copy_(0, positive, pos)
        if pos_grad is None:
            return loss, None
        q = torch.addcmul(p2, p2, p, value=-1.0)  # p^2 (1 - p)
        grad = torch.mul(q, 2.0 * lamb_f).addcmul_(q, p, value=-3.0)
        grad.view(-1).index_copy_(0, positive, pos_grad.neg_())
        return loss, grad


class _FusedSplc(_FusedElementwise):
    """SPLC per entry and its logit gradient (:func:`splc_loss`) through one focal term.

    ``a = -z`` on pseudo-positives and ``z`` elsewhere, loss ``sigmoid(a)^gamma softplus(a)``,
    ``dL/dz = -dL/da`` on pseudo-positives and ``dL/da`` elsewhere; the observed positives (gathered:
    few per row) are then overwritten with ``a = margin - z`` and ``dL/dz = -dL/da``.
    """

    @staticmethod
    def _compute(logits: Tensor, need_grad: bool, *args: object) -> tuple[Tensor, Tensor | None]:
        targets, margin, gamma, pseudo = args
        assert isinstance(targets, Tensor)
        logits = logits.contiguous()  # the per-entry results are written through flat views
        gamma_f = float(gamma)  # type: ignore[arg-type]
        positive = _observed_positives(targets)
        assert pseudo is None or isinstance(pseudo, Tensor)
        a = logits if pseudo is None else torch.where(pseudo, logits.neg(), logits)
        loss, grad = _focal_term(a, gamma_f, need_grad)
        a_pos = torch.sub(float(margin), logits.reshape(-1).index_select(0, positive))  # type: ignore[arg-type]
        pos, pos_grad = _focal_term(a_pos, gamma_f, need_grad)
        loss.view(-1).index_copy_(0, positive, pos)
        if grad is None or pos_grad is None:
            return loss, None
        if pseudo is not None:
            grad = torch.where(pseudo, grad.neg(), grad)
        grad.view(-1).index_copy_(0, positive, pos_grad.neg_())
        return loss, grad


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

    Loss and logit gradient are computed together in one fused pass (closed-form derivative, first
    order only; checked against autograd of the formula above in the tests).

    Example:
        >>> round(hill_loss(torch.zeros(1, 1), torch.tensor([[0]])).item(), 4)  # (1.5 - 0.5) * 0.25
        0.25
    """
    return _reduce_fused(_FusedHill, logits, reduction, targets, margin, gamma, lamb)


def splc_pseudo_labels(logits: Tensor, targets: Tensor, *, tau: float = 0.6) -> Tensor:
    """SPLC's pseudo-positives ``(B, C)`` bool: unknown entries (``-1``) with ``sigmoid(z) > tau``.

    Observed negatives (``0``) are never pseudo-labelled. Computed without gradient.
    """
    with torch.no_grad():
        return unknown_mask(targets) & (torch.sigmoid(logits.detach()) > tau)


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
    factors not detached (original code). Loss and logit gradient are computed in one fused pass
    (closed-form derivative, first order only).
    """
    pseudo = splc_pseudo_labels(logits, targets, tau=tau) if epoch >= change_epoch else None
    return _reduce_fused(_FusedSplc, logits, reduction, targets, margin, gamma, pseudo)


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
        return self._loss(logits, targets, "none")

    def reduced(
        self, logits: Tensor, targets: Tensor, indices: Tensor | None, reduction: Reduction
    ) -> Tensor:
        """The loss under ``reduction``, in the fused pass for ``"mean"`` / ``"sum"``."""
        return self._loss(logits, targets, reduction)

    def _loss(self, logits: Tensor, targets: Tensor, reduction: Reduction) -> Tensor:
        return hill_loss(
            logits, targets, margin=self.margin, gamma=self.gamma, lamb=self.lamb, reduction=reduction
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
        return self._loss(logits, targets, "none")

    def reduced(
        self, logits: Tensor, targets: Tensor, indices: Tensor | None, reduction: Reduction
    ) -> Tensor:
        """The loss under ``reduction``, in the fused pass for ``"mean"`` / ``"sum"``."""
        return self._loss(logits, targets, reduction)

    def _loss(self, logits: Tensor, targets: Tensor, reduction: Reduction) -> Tensor:
        return splc_loss(
            logits,
            targets,
            epoch=self.epoch,
            margin=self.margin,
            tau=self.tau,
            change_epoch=self.change_epoch,
            gamma=self.gamma,
            reduction=reduction,
        )
