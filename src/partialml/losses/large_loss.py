"""Large-loss modification: LL-R, LL-Ct and LL-Cp (Kim et al., "Large Loss Matters in Weakly Supervised
Multi-Label Classification", CVPR 2022; snucml/LargeLossMatters).

Base loss: the assume-negative BCE ``l = BCE(z, 1[target == 1])`` per entry. At the 0-indexed epoch ``e``
the rate is ``r = e * delta_rel`` (no cap; the original's ``(t - 1) * Δrel`` with 1-indexed ``t``, so
epoch 0 is a warm-up with plain AN), and ``k = ceil(B * C * r)`` is a fraction of **all** ``B * C``
entries of the batch. The ``k`` largest AN losses are chosen among the **unknown** entries only (never an
observed ``1`` or ``0``; if ``k`` exceeds the number of unknown entries, all unknown entries are chosen):

* LL-R (rejection): chosen entries contribute ``0``.
* LL-Ct (temporary correction): chosen entries use the switched target, ``-log sigmoid(z)``.
* LL-Cp (permanent correction): ``k = ceil(B * C * delta_rel)`` constant from epoch 1 on (epoch 0: plain
  AN); chosen entries use ``-log sigmoid(z)`` and are returned once by ``pop_corrections()`` so that the
  trainer stores them as positives.

The loss is the mean over all ``B * C`` entries (rejected entries count in the denominator). The selection
uses detached losses. Ties: exactly ``k`` entries are chosen (``torch.topk``, which entry among equal
losses wins is unspecified); the original code keeps every entry ``>=`` the k-th value, which can choose
more than ``k``. The original also ranks observed positives at ``0`` and can select them when ``k``
exceeds the unknown entries with positive loss (reference-methods §3.2); we never do.

Default ``delta_rel`` (a fraction): LL-R 0.005, LL-Ct 0.002, LL-Cp 0.001, the per-scheme values hard-coded
in BoostLU's config (youngwk/BridgeGapExplanationPAMC), the best available proxy: the LL paper does not say
which value produced each cell of its Table 1 (its README grid is 0.1 %-0.5 %).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses.base import PartialLabelLoss, Reduction, reduce_loss
from partialml.losses.registry import register_loss

__all__ = [
    "LLCpLoss",
    "LLCtLoss",
    "LLRLoss",
    "large_loss_selection",
    "ll_cp_loss",
    "ll_ct_loss",
    "ll_k",
    "ll_r_loss",
    "ll_rate",
]


def ll_rate(epoch: int, delta_rel: float) -> float:
    """Rejection / correction rate ``epoch * delta_rel`` at the 0-indexed ``epoch`` (no cap).

    Example:
        >>> ll_rate(3, 0.002)
        0.006
    """
    if epoch < 0:
        raise PartialMLError(f"epoch must be >= 0 (epochs are 0-indexed), got {epoch}")
    if delta_rel < 0:
        raise PartialMLError(f"delta_rel must be >= 0 (a fraction, 0.002 = 0.2 %), got {delta_rel}")
    return epoch * delta_rel


def ll_k(num_entries: int, rate: float) -> int:
    """``k = ceil(num_entries * rate)``, the number of entries to reject / correct in a batch.

    ``num_entries * rate`` is rounded to 9 decimals first so that float noise such as
    ``256 * 5000 * 0.006 = 7680.000000000001`` does not add one entry.
    """
    return math.ceil(round(num_entries * rate, 9))


def large_loss_selection(per_entry_an_loss: Tensor, targets: Tensor, k: int) -> Tensor:
    """The ``k`` largest losses among unknown entries, as a ``(B, C)`` bool mask.

    Args:
        per_entry_an_loss: float ``(B, C)`` assume-negative losses (detached inside).
        targets: integer ``(B, C)`` in ``{1, 0, -1}``; only ``-1`` entries can be chosen.
        k: how many entries to choose; ``min(k, #unknown)`` are chosen, exactly (ties broken by
            ``torch.topk``).

    Runs on the device of the inputs with ``torch.topk`` and no host synchronization.

    Example:
        >>> large_loss_selection(torch.tensor([[3.0, 2.0, 1.0]]), torch.tensor([[1, -1, -1]]), 1)
        tensor([[False,  True, False]])
    """
    if k < 0:
        raise PartialMLError(f"k must be >= 0, got {k}")
    unknown = targets == -1
    mask = torch.zeros_like(unknown)
    k = min(int(k), per_entry_an_loss.numel())
    if k == 0:
        return mask
    scores = per_entry_an_loss.detach().masked_fill(~unknown, float("-inf"))
    chosen = torch.topk(scores.reshape(-1), k, sorted=False).indices
    mask.view(-1)[chosen] = True
    # when k exceeds the unknown entries, topk also returns -inf (observed) entries: drop them
    return mask & unknown


def _an(logits: Tensor, targets: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, (targets == 1).to(logits.dtype), reduction="none")


def _select(scores: Tensor, targets: Tensor, k: int) -> Tensor:
    """Selection from AN losses or, equivalently, from logits.

    On unknown entries the AN loss is ``softplus(z)``, strictly increasing in ``z``, so the ``k`` largest
    losses are the ``k`` largest logits; ranking the logits saves one pass over the batch.
    """
    if k <= 0:
        return torch.zeros_like(targets, dtype=torch.bool)
    with torch.no_grad():
        return large_loss_selection(scores.detach(), targets, k)


def _corrected(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """AN loss with the target switched to 1 on ``mask``: ``-log sigmoid(z)`` there (one BCE pass)."""
    return F.binary_cross_entropy_with_logits(
        logits, ((targets == 1) | mask).to(logits.dtype), reduction="none"
    )


def ll_r_loss(
    logits: Tensor, targets: Tensor, *, epoch: int, delta_rel: float = 0.005, reduction: Reduction = "mean"
) -> Tensor:
    """LL-R: AN with the ``k = ceil(B*C*epoch*delta_rel)`` largest unknown losses rejected (set to 0)."""
    k = ll_k(logits.numel(), ll_rate(epoch, delta_rel))
    per_entry = _an(logits, targets)
    if k > 0:
        per_entry = per_entry.masked_fill(_select(per_entry, targets, k), 0.0)
    return reduce_loss(per_entry, reduction)


def ll_ct_loss(
    logits: Tensor, targets: Tensor, *, epoch: int, delta_rel: float = 0.002, reduction: Reduction = "mean"
) -> Tensor:
    """LL-Ct: AN with the ``k`` largest unknown losses replaced by ``-log sigmoid(z)`` (target switched)."""
    k = ll_k(logits.numel(), ll_rate(epoch, delta_rel))
    return reduce_loss(_corrected(logits, targets, _select(logits, targets, k)), reduction)


def ll_cp_loss(
    logits: Tensor, targets: Tensor, *, epoch: int, delta_rel: float = 0.001, reduction: Reduction = "mean"
) -> tuple[Tensor, Tensor]:
    """LL-Cp: at epoch ``>= 1`` the constant ``k = ceil(B*C*delta_rel)`` largest unknown losses switch to
    ``-log sigmoid(z)``; epoch 0 is plain AN. Returns ``(loss, chosen (B, C) bool mask)``."""
    ll_rate(epoch, delta_rel)  # validates
    k = ll_k(logits.numel(), delta_rel) if epoch >= 1 else 0
    mask = _select(logits, targets, k)
    return reduce_loss(_corrected(logits, targets, mask), reduction), mask


class _LargeLoss(PartialLabelLoss):
    default_delta_rel: ClassVar[float] = 0.0

    def __init__(self, *, delta_rel: float | None = None, reduction: Reduction | None = None) -> None:
        super().__init__(reduction=reduction)
        delta_rel = self.default_delta_rel if delta_rel is None else float(delta_rel)
        if not 0.0 <= delta_rel <= 1.0:
            raise PartialMLError(f"delta_rel must be a fraction in [0, 1] (0.002 = 0.2 %), got {delta_rel}")
        self.delta_rel = delta_rel

    def k_for(self, num_entries: int) -> int:
        """The number of entries chosen in a batch of ``num_entries`` at the current epoch."""
        return ll_k(num_entries, ll_rate(self.epoch, self.delta_rel))

    def extra_repr(self) -> str:
        return f"delta_rel={self.delta_rel}, reduction={self.reduction!r}"


@register_loss(
    "ll-r", description="large loss rejection: zero the largest unknown losses", paper="Kim et al., CVPR 2022"
)
class LLRLoss(_LargeLoss):
    """LL-R (:func:`ll_r_loss`).

    Args:
        delta_rel: rate increase per epoch, a fraction; ``None`` is ``0.005`` (BoostLU's LL-R value,
            proxy for the LL paper's unstated choice).
        reduction: default ``"mean"`` over ``B * C`` (LL code).
    """

    default_delta_rel = 0.005

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return ll_r_loss(logits, targets, epoch=self.epoch, delta_rel=self.delta_rel, reduction="none")


@register_loss(
    "ll-ct",
    description="large loss temporary correction: switch the largest unknown targets to 1",
    paper="Kim et al., CVPR 2022",
)
class LLCtLoss(_LargeLoss):
    """LL-Ct (:func:`ll_ct_loss`).

    Args:
        delta_rel: rate increase per epoch, a fraction; ``None`` is ``0.002`` (BoostLU's LL-Ct value).
        reduction: default ``"mean"`` over ``B * C`` (LL code).
    """

    default_delta_rel = 0.002

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return ll_ct_loss(logits, targets, epoch=self.epoch, delta_rel=self.delta_rel, reduction="none")


@register_loss(
    "ll-cp",
    description="large loss permanent correction: store the largest unknown as positives",
    paper="Kim et al., CVPR 2022",
)
class LLCpLoss(_LargeLoss):
    """LL-Cp (:func:`ll_cp_loss`); after each call :meth:`pop_corrections` returns the chosen mask once.

    The trainer writes the mask into the LabelStore, so corrected entries are observed positives in
    later epochs (BoostLU's working copy of LL-Cp; the released LL code never writes them, a bug).

    Args:
        delta_rel: the constant fraction corrected per batch from epoch 1 on; ``None`` is ``0.001``
            (BoostLU's LL-Cp value).
        reduction: default ``"mean"`` over ``B * C`` (LL code).
    """

    default_delta_rel = 0.001

    def __init__(self, *, delta_rel: float | None = None, reduction: Reduction | None = None) -> None:
        super().__init__(delta_rel=delta_rel, reduction=reduction)
        self._corrections: Tensor | None = None

    def k_for(self, num_entries: int) -> int:
        return ll_k(num_entries, self.delta_rel) if self.epoch >= 1 else 0

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        per_entry, mask = ll_cp_loss(
            logits, targets, epoch=self.epoch, delta_rel=self.delta_rel, reduction="none"
        )
        self._corrections = mask
        return per_entry

    def pop_corrections(self) -> Tensor | None:
        """The ``(B, C)`` bool mask chosen by the last call, once; then ``None``."""
        mask, self._corrections = self._corrections, None
        return mask
