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

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses import native
from partialml.losses.base import PartialLabelLoss, Reduction, unknown_mask
from partialml.losses.fused import FusedElementwise, accumulation_dtype, reduce_fused
from partialml.losses.registry import register_loss

__all__ = ["HillLoss", "SplcLoss", "hill_loss", "splc_loss", "splc_pseudo_labels"]


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


class _FusedHill(FusedElementwise):
    """Hill per entry and its logit gradient (:func:`hill_loss`).

    Every entry first gets the negative term, ``p = sigmoid(z)``, loss ``(lamb - p) p^2``,
    ``dL/dz = (2 lamb - 3 p) p^2 (1 - p)``; the observed positives (gathered: few per row) are then
    overwritten with ``a = margin - z``, loss ``sigmoid(a)^gamma softplus(a)`` (``= (1 - p_m)^gamma
    (-log p_m)``), ``dL/dz = -dL/da``.
    """

    @staticmethod
    def compute(logits: Tensor, need_grad: bool, summed: bool, *args: object) -> tuple[Tensor, Tensor | None]:
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


class _FusedSplc(FusedElementwise):
    """SPLC per entry and its logit gradient (:func:`splc_loss`) through one dense focal term.

    With ``sn = +1`` on observed positives and pseudo-positives and ``-1`` elsewhere, every entry has
    ``a = -sn * z + margin * [observed positive]`` (``margin - z``, ``-z`` or ``z``), loss
    ``sigmoid(a)^gamma softplus(a)`` and ``dL/dz = -sn * dL/da``. ``softplus(a)`` and ``sigmoid(a)`` come
    from one ``log_sigmoid_forward(-a)`` (its buffer gives the sigmoid through ``log_sigmoid_backward``
    without a second transcendental pass). No gather or scatter, no bool operand in float arithmetic
    (a slow path on the CPU), four batch-sized allocations (fresh memory is expensive: its first touch
    costs more than a pass of arithmetic); the gradient is built in place.
    """

    @staticmethod
    def compute(logits: Tensor, need_grad: bool, summed: bool, *args: object) -> tuple[Tensor, Tensor | None]:
        targets, margin, gamma, threshold = args
        assert isinstance(targets, Tensor)
        # the signs are built in the targets' integer dtype and converted once: a float op with an integer
        # or bool operand converts that operand first (a hidden batch-sized copy at every step)
        positive = targets.clamp(min=0)  # faster than == 1 on int8 (CPU)
        if threshold is None:
            code = positive
        else:  # 1 on observed positives and on pseudo-positives (unknown entries with z > logit(tau))
            code = torch.gt(logits, float(threshold), out=torch.empty_like(positive))  # type: ignore[arg-type]
            code.mul_(targets.clamp(max=0).neg_()).add_(positive)
        sn = code.mul(2).sub_(1).to(logits.dtype)
        work = torch.mul(logits, sn)  # -a
        positive_f = positive.to(logits.dtype)
        if float(margin) != 0.0:  # type: ignore[arg-type]
            work.sub_(positive_f, alpha=float(margin))  # type: ignore[arg-type]
        neg_softplus_a = torch.empty_like(work)  # log sigmoid(-a) = -softplus(a), never negated: see below
        buffer = torch.ops.aten.log_sigmoid_forward.output(work, output=neg_softplus_a, buffer=positive_f)[1]
        one = work.new_ones(())
        # sigmoid(a) = d log sigmoid(-a) / d(-a), written over -a (same shape and strides: elementwise safe)
        sig_a = torch.ops.aten.log_sigmoid_backward.grad_input(
            one.expand_as(work), work, buffer, grad_input=work
        )
        gamma_f = float(gamma)  # type: ignore[arg-type]
        sg = torch.pow(sig_a, gamma_f, out=buffer) if buffer.shape == sig_a.shape else sig_a.pow(gamma_f)
        neg_loss = neg_softplus_a.mul_(sg)  # -L = -sigmoid(a)^gamma softplus(a)
        if summed:
            loss = neg_loss.sum(dtype=accumulation_dtype(neg_loss.dtype)).neg_()
        else:
            loss = torch.neg(neg_loss) if need_grad else neg_loss.neg_()
        if not need_grad:
            return loss, None
        # -dL/da = gamma * (-L) * (1 - sigmoid(a)) - sigmoid(a)^gamma * sigmoid(a), built over -L (working
        # with -L and -dL/da saves two negation passes over the batch)
        grad = neg_loss.addcmul_(neg_loss, sig_a, value=-1.0)
        grad.mul_(gamma_f).addcmul_(sg, sig_a, value=-1.0)
        return loss, grad.mul_(sn)  # dL/dz = -sn * dL/da


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
    if native.usable(logits, reduction):
        kernel = native.kernels().hill
        return native.native_call(
            kernel, logits, targets, reduction, float(margin), float(gamma), float(lamb)
        )
    return reduce_fused(_FusedHill, logits, reduction, targets, margin, gamma, lamb)


def _logit_threshold(tau: float) -> float:
    """``log(tau / (1 - tau))``: ``sigmoid(z) > tau`` exactly when ``z`` exceeds it (``-inf`` / ``inf`` at
    ``tau`` 0 / 1)."""
    if tau <= 0.0:
        return float("-inf")
    if tau >= 1.0:
        return float("inf")
    return math.log(tau) - math.log1p(-tau)


def splc_pseudo_labels(logits: Tensor, targets: Tensor, *, tau: float = 0.6) -> Tensor:
    """SPLC's pseudo-positives ``(B, C)`` bool: unknown entries (``-1``) with ``sigmoid(z) > tau``.

    Evaluated as ``z > log(tau / (1 - tau))``: the same set in exact arithmetic, without a sigmoid pass.
    Near the threshold it can differ from the original's rounded ``sigmoid(z) > tau`` (a few entries in
    float16 / bfloat16, where the sigmoid's rounding is coarse); it is the closer of the two to the exact
    set. Observed negatives (``0``) are never pseudo-labelled. Computed without gradient.
    """
    with torch.no_grad():
        return unknown_mask(targets) & (logits.detach() > _logit_threshold(tau))


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
    threshold = _logit_threshold(tau) if epoch >= change_epoch else None
    if native.usable(logits, reduction):
        kernel = native.kernels().splc
        return native.native_call(kernel, logits, targets, reduction, float(margin), float(gamma), threshold)
    return reduce_fused(_FusedSplc, logits, reduction, targets, margin, gamma, threshold)


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
