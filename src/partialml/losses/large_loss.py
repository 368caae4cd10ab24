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
uses detached losses. Ties: exactly ``k`` entries are chosen (a partition of candidates on the CPU,
``torch.topk`` otherwise; which entry among equal losses wins is unspecified; unknown entries whose logit is
``-inf``, with zero loss, may be left out); the original code keeps every entry ``>=`` the k-th value, which
can choose more than ``k``. The original also ranks observed positives at ``0`` and can select them when ``k``
exceeds the unknown entries with positive loss (reference-methods §3.2); we never do.

Default ``delta_rel`` (a fraction): LL-R 0.005, LL-Ct 0.002, LL-Cp 0.001, the per-scheme values hard-coded
in BoostLU's config (youngwk/BridgeGapExplanationPAMC), the best available proxy: the LL paper does not say
which value produced each cell of its Table 1 (its README grid is 0.1 %-0.5 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses import native
from partialml.losses.base import PartialLabelLoss, Reduction, float_targets, reduce_loss, unknown_mask
from partialml.losses.bce import an_loss
from partialml.losses.fused import FusedElementwise, accumulation_dtype, reduce_fused
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


#: Below this many entries (or off the CPU) the selection is one ``torch.topk`` over the batch.
_CANDIDATE_MIN_ENTRIES = 1 << 15
#: Size of the strided sample that estimates a threshold below the k-th largest score.
_SAMPLE_SIZE = 8192
#: From this many entries on, ``"mean"`` / ``"sum"`` take :class:`_FusedLargeLoss`; below, one BCE call.
_FUSED_MIN_ENTRIES = 1 << 16
#: NumPy dtypes of the torch dtypes that the CPU candidate path handles (NumPy has no bfloat16).
_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)


def _candidate_topk(scores: Tensor, targets: Tensor, k: int) -> Tensor | None:
    """Exact top-``k`` of the unknown entries of the flat CPU ``scores`` through a small candidate set.

    A strided sample of the masked scores gives a threshold ``tau`` that lies below the k-th largest
    unknown score with overwhelming probability (the sample's ``mu + 4 sqrt(mu) + 8``-th largest value,
    ``mu = k * m / n`` the expected number of sampled entries above it, so a miss is a 4-sigma event);
    the candidates are the unknown entries with ``score >= tau`` (one scan; the unknown test runs on the
    candidates only) and a partition runs on them only. If fewer than ``k`` entries pass (an unlucky
    sample, ``k`` above the unknown count, NaN scores) it returns ``None`` and the caller falls back to
    the full ``topk``: the result is always the exact top-``k`` (``count(score >= tau) >= k`` implies
    ``tau <=`` the k-th largest, so every entry of the top-``k`` is a candidate).

    Runs in NumPy on the tensors' memory (no copy): one core, and about half the time of the same steps
    in torch at 256 x 5,000 (1.0 vs 1.9 ms; ``flatnonzero`` is the largest part). ``tau`` is an entry of
    the array, so every comparison is exact in the array's dtype.
    """
    z = scores.numpy()
    t = targets.numpy()
    n = z.size
    stride = max(1, n // _SAMPLE_SIZE)
    sample = np.where(t[::stride] < 0, z[::stride], -np.inf).astype(z.dtype, copy=False)
    m = sample.size
    mu = k * m / n
    ks = min(m, math.ceil(mu + 4.0 * math.sqrt(mu) + 8.0))
    tau = np.partition(sample, m - ks)[m - ks]
    if not tau > -np.inf:  # NaN in the sample, or too few unknown entries in it
        return None
    candidates = np.flatnonzero(z >= tau)
    candidates = candidates[t[candidates] < 0]
    c = candidates.size
    if c < k:
        return None
    return torch.from_numpy(candidates[np.argpartition(z[candidates], c - k)[c - k :]])


def _chosen_indices(scores: Tensor, targets: Tensor, k: int) -> Tensor:
    """Flat indices (long ``(min(k, #unknown),)``, no order) of the largest ``scores`` among unknown entries.

    ``scores`` float and ``targets`` integer (``-1`` unknown), both ``(B, C)``. On the CPU with at least
    ``_CANDIDATE_MIN_ENTRIES`` entries (float16/32/64): :func:`_candidate_topk` (no sort of the whole
    batch); otherwise,
    or when it returns ``None``: one ``torch.topk(sorted=False)`` over the batch with observed entries at
    ``-inf``, whose observed picks (``k`` above the unknown count) are dropped. Either path is exact;
    which entry among equal scores wins is unspecified, and an unknown entry whose score is ``-inf``
    (zero AN loss) may be left out. One host synchronization (whether an observed entry was picked).
    """
    flat = scores.detach().reshape(-1)
    flat_targets = targets.reshape(-1)
    n = flat.numel()
    if k <= 0 or n == 0:
        return torch.zeros(0, dtype=torch.long, device=flat.device)
    if flat.device.type == "cpu" and n >= _CANDIDATE_MIN_ENTRIES and flat.dtype in _NUMPY_FLOATS:
        chosen = _candidate_topk(flat, flat_targets, k)
        if chosen is not None:
            return chosen
    unknown = unknown_mask(flat_targets)
    values, chosen = torch.topk(torch.where(unknown, flat, float("-inf")), min(k, n), sorted=False)
    if bool(values.isneginf().any()):
        # k above the unknown count (or unknown scores of -inf): never return an observed entry
        chosen = chosen[unknown[chosen]]
    return chosen


def large_loss_selection(per_entry_an_loss: Tensor, targets: Tensor, k: int) -> Tensor:
    """The ``k`` largest losses among unknown entries, as a ``(B, C)`` bool mask.

    Args:
        per_entry_an_loss: float ``(B, C)`` assume-negative losses (detached inside).
        targets: integer ``(B, C)`` in ``{1, 0, -1}``; only ``-1`` entries can be chosen.
        k: how many entries to choose; ``min(k, #unknown)`` are chosen, exactly (ties: which entry among
            equal losses wins is unspecified).

    Runs on the device of the inputs; on the CPU a large batch is never fully sorted (candidate
    threshold, then a partition of the candidates; see :func:`_candidate_topk`).

    Example:
        >>> large_loss_selection(torch.tensor([[3.0, 2.0, 1.0]]), torch.tensor([[1, -1, -1]]), 1)
        tensor([[False,  True, False]])
    """
    if k < 0:
        raise PartialMLError(f"k must be >= 0, got {k}")
    with torch.no_grad():
        return _mask_of(_chosen_indices(per_entry_an_loss, targets, int(k)), targets.shape)


def _mask_of(chosen: Tensor, shape: torch.Size) -> Tensor:
    """``(B, C)`` bool mask that is ``True`` at the flat indices ``chosen`` (a bool ``chosen``, the native
    kernels' form, already is that mask)."""
    if chosen.dtype == torch.bool:
        return chosen if chosen.shape == shape else chosen.view(shape)
    mask = torch.zeros(shape, dtype=torch.bool, device=chosen.device)
    mask.view(-1).index_fill_(0, chosen, True)
    return mask


#: A rejected (LL-R) entry gets ``-z = 1e4`` in the fused function, logit ``-1e4`` on the BCE path:
#: ``-log sigmoid(1e4)`` and its derivative are exactly 0 in float64/32/16 and bfloat16, so the entry adds
#: nothing to the loss or the gradient.
_REJECTED = 1e4


class _FusedLargeLoss(FusedElementwise):
    """AN with the chosen entries rejected or switched, and its logit gradient, in one forward pass.

    With ``sn = +1`` on observed positives (and, for LL-Ct/Cp, on the chosen entries) and ``-1``
    elsewhere, every entry's BCE is ``-log sigmoid(w)`` with ``w = sn * z``; a rejected entry gets
    ``w = 1e4`` (loss and gradient exactly 0). ``dL/dz = -sn * sigmoid(-w)``, which
    ``log_sigmoid_backward(sn, w, buffer)`` gives from the forward's buffer without a second
    transcendental pass, written over ``w``: four batch-sized allocations and one ``log_sigmoid`` pass,
    as BCE's own forward.
    """

    @staticmethod
    def compute(logits: Tensor, need_grad: bool, summed: bool, *args: object) -> tuple[Tensor, Tensor | None]:
        targets, chosen, correct = args
        assert isinstance(targets, Tensor) and isinstance(chosen, Tensor)
        sn = float_targets(targets, logits).contiguous()
        if correct:
            sn.view(-1).index_fill_(0, chosen, 1.0)
        sn.mul_(2.0).sub_(1.0)
        w = torch.mul(logits.contiguous(), sn)
        if not correct:
            w.view(-1).index_fill_(0, chosen, _REJECTED)
        log_sig = torch.empty_like(w)
        buffer = torch.ops.aten.log_sigmoid_forward.output(w, output=log_sig, buffer=torch.empty_like(w))[1]
        loss = log_sig.sum(dtype=accumulation_dtype(log_sig.dtype)).neg_() if summed else log_sig.neg_()
        if not need_grad:
            return loss, None
        grad = torch.ops.aten.log_sigmoid_backward.grad_input(sn, w, buffer, grad_input=w)
        return loss, grad.neg_()


def _large_loss(
    logits: Tensor,
    targets: Tensor,
    k: int,
    *,
    correct: bool,
    reduction: Reduction,
    chosen: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The LL loss reduced by ``reduction`` and the chosen entries: flat indices, or a ``(B, C)`` bool mask
    from the native kernels (:mod:`partialml.losses.native`, small CPU batches when built; the loss then
    equals this function's PyTorch path up to float rounding).

    ``chosen``, when given, replaces the selection (flat indices made elsewhere, e.g. the global top-k
    of a distributed run; ``k`` is then ignored and an empty ``chosen`` is plain AN).
    Nothing chosen (``k == 0``, no unknown entry) is plain AN (on the PyTorch path bit-identical to
    :func:`partialml.losses.bce.an_loss`). ``"none"`` (and a batch of fewer than ``_FUSED_MIN_ENTRIES``
    entries) is one BCE call on the switched targets (LL-Ct/Cp) or with the chosen logits set to
    ``-1e4`` (LL-R: loss and gradient exactly 0), equal to AN bit for bit on the others; ``"mean"`` /
    ``"sum"`` of a larger batch take the loss and its gradient from :class:`_FusedLargeLoss`: LL-Ct / LL-Cp switch the chosen entries' target
    to 1, LL-R gives them loss and gradient exactly 0 (``"mean"`` still divides by all ``B * C``
    entries). The selection ranks the logits: on unknown entries the AN loss is ``softplus(z)``,
    non-decreasing in ``z``, so the ``k`` largest logits are ``k`` largest losses.
    """
    if reduction not in ("mean", "sum", "none"):
        reduce_loss(logits, reduction)  # raises the standard error
    if native.usable(logits, reduction, native.LL_MAX_ENTRIES):  # selection, loss, gradient: one C++ call
        sink: list[Tensor] = []
        loss = native.native_call(
            native.kernels().large_loss, logits, targets, reduction, int(k), correct, chosen, sink=sink
        )
        return loss, sink[0]
    if chosen is None:
        chosen = _chosen_indices(logits, targets, k)  # detaches: no autograd record
    if chosen.numel() == 0:  # k == 0, or no unknown entry
        return an_loss(logits, targets, reduction=reduction), chosen
    if reduction == "none" or logits.numel() < _FUSED_MIN_ENTRIES:
        # per entry (equal to AN, bit for bit, on every entry not chosen), or a small batch, where the
        # fused function's fixed per-call cost outweighs what it saves
        target = float_targets(targets, logits).contiguous()
        if correct:
            target.view(-1).index_fill_(0, chosen, 1.0)
            return F.binary_cross_entropy_with_logits(logits, target, reduction=reduction), chosen
        # rejected: logit -1e4 under target 0, loss and gradient exactly 0 even where z is inf or NaN
        # (BCE weight 0 would give 0 * inf = NaN there)
        kept = logits.reshape(-1).index_fill(0, chosen, -_REJECTED).view_as(logits)
        return F.binary_cross_entropy_with_logits(kept, target, reduction=reduction), chosen
    return reduce_fused(_FusedLargeLoss, logits, reduction, targets, chosen, correct), chosen


def ll_r_loss(
    logits: Tensor, targets: Tensor, *, epoch: int, delta_rel: float = 0.005, reduction: Reduction = "mean"
) -> Tensor:
    """LL-R: AN with the ``k = ceil(B*C*epoch*delta_rel)`` largest unknown losses rejected (set to 0)."""
    k = ll_k(logits.numel(), ll_rate(epoch, delta_rel))
    return _large_loss(logits, targets, k, correct=False, reduction=reduction)[0]


def ll_ct_loss(
    logits: Tensor, targets: Tensor, *, epoch: int, delta_rel: float = 0.002, reduction: Reduction = "mean"
) -> Tensor:
    """LL-Ct: AN with the ``k`` largest unknown losses replaced by ``-log sigmoid(z)`` (target switched)."""
    k = ll_k(logits.numel(), ll_rate(epoch, delta_rel))
    return _large_loss(logits, targets, k, correct=True, reduction=reduction)[0]


def ll_cp_loss(
    logits: Tensor, targets: Tensor, *, epoch: int, delta_rel: float = 0.001, reduction: Reduction = "mean"
) -> tuple[Tensor, Tensor]:
    """LL-Cp: at epoch ``>= 1`` the constant ``k = ceil(B*C*delta_rel)`` largest unknown losses switch to
    ``-log sigmoid(z)``; epoch 0 is plain AN. Returns ``(loss, chosen (B, C) bool mask)``."""
    ll_rate(epoch, delta_rel)  # validates
    k = ll_k(logits.numel(), delta_rel) if epoch >= 1 else 0
    loss, chosen = _large_loss(logits, targets, k, correct=True, reduction=reduction)
    return loss, _mask_of(chosen, logits.shape)


class _LargeLoss(PartialLabelLoss):
    """Shared shell of LL-R/Ct/Cp. ``last_selection``: the ``(B, C)`` bool mask of the entries chosen
    (rejected or corrected) by the last call, read-only for analyses; ``None`` before the first call."""

    default_delta_rel: ClassVar[float] = 0.0
    #: ``False``: chosen entries are rejected (LL-R); ``True``: their target switches to 1 (LL-Ct/Cp).
    correct: ClassVar[bool] = True

    def __init__(self, *, delta_rel: float | None = None, reduction: Reduction | None = None) -> None:
        super().__init__(reduction=reduction)
        delta_rel = self.default_delta_rel if delta_rel is None else float(delta_rel)
        if not 0.0 <= delta_rel <= 1.0:
            raise PartialMLError(f"delta_rel must be a fraction in [0, 1] (0.002 = 0.2 %), got {delta_rel}")
        self.delta_rel = delta_rel
        self._chosen: tuple[Tensor, torch.Size] | None = None
        #: ``None``: the selection is made over this call's batch (one process, or per rank as the
        #: original code). Otherwise ``selector(logits, targets, k_for) -> flat indices`` makes it, e.g.
        #: :class:`partialml.engine.distributed.GlobalTopK` (``--ll-topk global``).
        self.selector: Callable[[Tensor, Tensor, Callable[[int], int]], Tensor] | None = None

    @property
    def last_selection(self) -> Tensor | None:
        """The ``(B, C)`` bool mask chosen by the last call (built on demand); ``None`` before one."""
        if self._chosen is None:
            return None
        chosen, shape = self._chosen
        return _mask_of(chosen, shape)

    def k_for(self, num_entries: int) -> int:
        """The number of entries chosen in a batch of ``num_entries`` at the current epoch."""
        return ll_k(num_entries, ll_rate(self.epoch, self.delta_rel))

    def _loss(self, logits: Tensor, targets: Tensor, reduction: Reduction) -> Tensor:
        given = None
        if self.selector is not None:
            with torch.no_grad():
                given = self.selector(logits.detach(), targets, self.k_for)
        loss, chosen = _large_loss(
            logits,
            targets,
            self.k_for(logits.numel()),
            correct=self.correct,
            reduction=reduction,
            chosen=given,
        )
        # plain attribute write: nn.Module.__setattr__ costs ~10 us per call, a tenth of a small BCE step
        self.__dict__["_chosen"] = (chosen, logits.shape)
        return loss

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return self._loss(logits, targets, "none")

    def reduced(
        self, logits: Tensor, targets: Tensor, indices: Tensor | None, reduction: Reduction
    ) -> Tensor:
        """The loss under ``reduction``; ``"mean"`` / ``"sum"`` take the fused path."""
        return self._loss(logits, targets, reduction)

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
    correct = False


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
        self._pending = False

    def k_for(self, num_entries: int) -> int:
        return ll_k(num_entries, self.delta_rel) if self.epoch >= 1 else 0

    def _loss(self, logits: Tensor, targets: Tensor, reduction: Reduction) -> Tensor:
        loss = super()._loss(logits, targets, reduction)
        self.__dict__["_pending"] = True
        return loss

    def pop_corrections(self) -> Tensor | None:
        """The ``(B, C)`` bool mask chosen by the last call, once; then ``None``."""
        if not self._pending:
            return None
        self.__dict__["_pending"] = False  # not nn.Module.__setattr__ (~10 us): once per training step
        return self.last_selection
