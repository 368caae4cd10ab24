"""Long-tailed multi-label losses: Distribution-Balanced loss (Wu et al., ECCV 2020) and LTML (Guo & Wang,
CVPR 2021).

Conventions (see :mod:`partialml.losses.base`): ``logits`` float ``(B, C)``; ``targets`` integer ``(B, C)`` with
``1`` observed positive, ``0`` observed negative, ``-1`` unknown. Both papers assume full labels; unknown
entries are treated as negatives by default (the "assume negative" reading of partial labels), or left out
with ``unknown="ignore"`` (zero loss, still counted in the ``B*C`` mean). Class statistics (``n_i``, ``N``)
come from the *observed* training labels through ``from_labels``: ``n_i`` is the number of observed
positives of class ``i`` and ``N`` the number of samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from partialml.errors import PartialMLError
from partialml.labels.encoding import validate_labels
from partialml.losses.base import (
    PartialLabelLoss,
    Reduction,
    as_target_masks,
    check_logits_targets,
    reduce_loss,
)
from partialml.losses.registry import register_loss

Unknown = Literal["negative", "ignore"]
Reweight = Literal["rebalance", "none"]
Compensation = Literal["learned", "statistics", "none"]
ClassWeighting = Literal["rho", "none"]
ConsistencySpace = Literal["logits", "probabilities"]

#: DB constants that differ per dataset (Wu et al., ECCV 2020, ``configs/{coco,voc}/LT_resnet50_pfc_DB.py``).
DB_PRESETS: Final[dict[str, dict[str, float]]] = {
    "coco-mlt": {"mu": 0.2, "lam": 2.0},
    "voc-mlt": {"mu": 0.3, "lam": 5.0},
}


def _counts_tensor(class_counts: Sequence[float] | Tensor, num_samples: int, *, loss: str) -> Tensor:
    counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten().clone()
    n = int(num_samples)
    if counts.numel() == 0:
        raise PartialMLError(f"{loss}: class_counts is empty")
    if n < 1:
        raise PartialMLError(f"{loss}: num_samples must be >= 1, got {num_samples}")
    bad = ((counts <= 0) | (counts >= n) | ~torch.isfinite(counts)).nonzero().flatten()
    if bad.numel():
        c = int(bad[0])
        raise PartialMLError(
            f"{loss}: class {c} has {counts[c].item():g} positives out of num_samples={n}; every class needs "
            f"0 < n_i < N observed positives (its prior log-odds must be finite)"
        )
    return counts


def _statistics_from_labels(observed: Any, *, loss: str) -> tuple[Tensor, int]:
    obs = torch.from_numpy(validate_labels(observed, what="observed training labels").copy())
    if obs.shape[0] == 0:
        raise PartialMLError(f"{loss}: observed training labels have no rows")
    return (obs == 1).sum(dim=0).to(torch.float64), int(obs.shape[0])


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise PartialMLError(f"{name}={value!r}; expected one of {', '.join(choices)}")


def _entry_masks(targets: Tensor, unknown: Unknown) -> tuple[Tensor, Tensor]:
    """``(positive, negative)`` masks; unknown entries join the negatives unless ``unknown="ignore"``."""
    pos, neg, unk = as_target_masks(targets)
    return pos, (neg | unk) if unknown == "negative" else neg


# -- Distribution-Balanced loss --------------------------------------------------------------------------
def db_rebalance_weights(
    targets: Tensor,
    class_counts: Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 10.0,
    mu: float = 0.2,
) -> Tensor:
    """DB's re-balanced weights ``w_i^k = alpha + sigmoid(beta (r_i^k - mu))``, ``(B, C)``.

    ``r_i^k = (1/n_i) / sum_{j: y_j^k = 1} (1/n_j)`` (observed positives ``1`` only), applied to every class
    of sample ``k``. A sample without observed positive has an empty denominator: the released code then
    divides by zero, ``r = +inf`` and ``w = alpha + 1``; we keep that value (documented choice).

    Args:
        targets: ``(B, C)`` in ``{1, 0, -1}``.
        class_counts: ``(C,)`` positive counts ``n_i`` (> 0).
        alpha, beta, mu: smoothing constants; defaults 0.1, 10, 0.2 (COCO-MLT, Wu et al.'s config).
    """
    inv = (1.0 / class_counts).to(device=targets.device, dtype=torch.float64)
    pos = (targets == 1).to(torch.float64)
    repeat = (pos * inv).sum(dim=1, keepdim=True)  # (B, 1)
    has_pos = repeat > 0
    r = inv.unsqueeze(0) / torch.where(has_pos, repeat, torch.ones_like(repeat))
    w = alpha + torch.sigmoid(beta * (r - mu))
    return torch.where(has_pos, w, torch.full_like(w, alpha + 1.0))


def db_class_bias(
    class_counts: Tensor,
    num_samples: int,
    *,
    kappa: float = 0.05,
    lam: float = 2.0,
    reproduce_bias_bug: bool = False,
) -> Tensor:
    """NTR class bias ``nu_i = kappa * log(p_i / (1 - p_i))``, ``p_i = n_i / N``, ``(C,)`` float64.

    Sign: the prior log-odds is *added* to the logits (``z + nu``), so ``nu < 0`` for rare classes
    (``p_i < 1/2``), exactly the released code's ``init_bias = -log(N / n_i - 1) * kappa``. With
    ``reproduce_bias_bug=True`` the bias is divided by ``lam`` as in the released code (their issue #8: the
    published numbers were produced with it); the default follows the paper's formula.
    """
    p = class_counts.to(torch.float64) / float(num_samples)
    nu = kappa * torch.log(p / (1.0 - p))
    return nu / lam if reproduce_bias_bug else nu


def db_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    class_counts: Tensor,
    num_samples: int,
    alpha: float = 0.1,
    beta: float = 10.0,
    mu: float = 0.2,
    kappa: float = 0.05,
    lam: float = 2.0,
    focal_gamma: float = 2.0,
    focal_scale: float = 2.0,
    reproduce_bias_bug: bool = False,
    reweight: Reweight = "rebalance",
    unknown: Unknown = "negative",
) -> Tensor:
    """Distribution-Balanced loss (Wu et al., ECCV 2020, ``ResampleLoss`` with ``rebalance`` + NTR + focal).

    With ``v = z + nu`` (:func:`db_class_bias`) and ``w`` (:func:`db_rebalance_weights`, or 1 with
    ``reweight="none"``)::

        positive:  l = log(1 + e^{-v}),               p_t = sigmoid(v)
        negative:  l = (1/lam) log(1 + e^{lam v}),    p_t = sigmoid(-lam v)
        loss = focal_scale * (1 - p_t)^focal_gamma * w * l

    ``p_t`` comes from the modified logits without the weight and is not detached, as in the released code.
    Defaults (COCO-MLT config of the released code): alpha 0.1, beta 10, mu 0.2, kappa 0.05, lam 2,
    focal_gamma 2, focal_scale 2 (``balance_param``); VOC-MLT uses mu 0.3, lam 5 (:data:`DB_PRESETS`).

    Args:
        logits: ``(B, C)`` float.
        targets: ``(B, C)`` in ``{1, 0, -1}``; ``-1`` are negatives (``unknown="negative"``) or have no loss.
        class_counts: ``(C,)`` ``n_i``; num_samples: ``N``.

    Returns:
        ``(B, C)`` per-entry loss (the paper's reduction: mean over ``B*C``).
    """
    pos, neg = _entry_masks(targets, unknown)
    nu = db_class_bias(
        class_counts, num_samples, kappa=kappa, lam=lam, reproduce_bias_bug=reproduce_bias_bug
    ).to(device=logits.device, dtype=logits.dtype)
    v = logits + nu
    pos_l = F.softplus(-v)
    neg_l = F.softplus(lam * v) / lam
    zero = torch.zeros_like(logits)
    ntr = torch.where(pos, pos_l, torch.where(neg, neg_l, zero))
    if focal_gamma != 0.0:
        # 1 - p_t: sigmoid(-v) for positives, sigmoid(lam v) for negatives
        one_minus_pt = torch.where(pos, torch.sigmoid(-v), torch.sigmoid(lam * v))
        ntr = ntr * one_minus_pt**focal_gamma
    if reweight == "rebalance":
        w = db_rebalance_weights(targets, class_counts, alpha=alpha, beta=beta, mu=mu)
        ntr = ntr * w.to(dtype=logits.dtype)
    return focal_scale * ntr


@register_loss(
    "db",
    description="distribution-balanced: re-balanced weights + negative-tolerant regularization + focal",
    paper="Wu et al., ECCV 2020",
)
class DBLoss(PartialLabelLoss):
    """Distribution-Balanced loss (Wu et al., ECCV 2020): see :func:`db_loss`.

    Args:
        class_counts: ``(C,)`` positives per class ``n_i`` in the training labels (``0 < n_i < N``);
            num_samples: ``N``. Both set by :meth:`from_labels`.
        alpha, beta, mu: re-balancing smoothing; defaults 0.1, 10, 0.2 (COCO-MLT; VOC-MLT mu 0.3).
        kappa: NTR bias scale, default 0.05. lam: NTR negative scale, default 2 (COCO-MLT; VOC-MLT 5).
        focal_gamma, focal_scale: focal exponent and factor, defaults 2 and 2 (0 and 1 switch focal off).
        reproduce_bias_bug: divide the bias by ``lam`` as the released code does (issue #8); default off.
        reweight: ``"rebalance"`` (default) or ``"none"`` (all weights 1).
        unknown: ``"negative"`` (default, AN) or ``"ignore"``.
        reduction: default ``"mean"`` over ``B*C`` (released code).

    Example:
        >>> obs = torch.tensor([[1, 0], [0, 1], [1, 0]], dtype=torch.int8)
        >>> loss = DBLoss.from_labels(obs)
        >>> loss(torch.zeros(3, 2), obs).shape
        torch.Size([])
    """

    requires_labels = True

    def __init__(
        self,
        *,
        class_counts: Sequence[float] | Tensor,
        num_samples: int,
        alpha: float = 0.1,
        beta: float = 10.0,
        mu: float = 0.2,
        kappa: float = 0.05,
        lam: float = 2.0,
        focal_gamma: float = 2.0,
        focal_scale: float = 2.0,
        reproduce_bias_bug: bool = False,
        reweight: Reweight = "rebalance",
        unknown: Unknown = "negative",
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        _check_choice("reweight", reweight, ("rebalance", "none"))
        _check_choice("unknown", unknown, ("negative", "ignore"))
        if not float(lam) > 0:
            raise PartialMLError(f"db: lam must be > 0, got {lam!r}")
        self.register_buffer("class_counts", _counts_tensor(class_counts, num_samples, loss="db"))
        self.num_samples = int(num_samples)
        self.alpha, self.beta, self.mu = float(alpha), float(beta), float(mu)
        self.kappa, self.lam = float(kappa), float(lam)
        self.focal_gamma, self.focal_scale = float(focal_gamma), float(focal_scale)
        self.reproduce_bias_bug = bool(reproduce_bias_bug)
        self.reweight: Reweight = reweight
        self.unknown: Unknown = unknown

    class_counts: Tensor

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> DBLoss:
        counts, n = _statistics_from_labels(observed, loss="db")
        kwargs.setdefault("class_counts", counts)
        kwargs.setdefault("num_samples", n)
        return cls(**kwargs)

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        if logits.shape[1] != self.class_counts.numel():
            raise PartialMLError(
                f"db: logits have {logits.shape[1]} classes, class_counts {self.class_counts.numel()}"
            )
        return db_loss(
            logits,
            targets,
            class_counts=self.class_counts,
            num_samples=self.num_samples,
            alpha=self.alpha,
            beta=self.beta,
            mu=self.mu,
            kappa=self.kappa,
            lam=self.lam,
            focal_gamma=self.focal_gamma,
            focal_scale=self.focal_scale,
            reproduce_bias_bug=self.reproduce_bias_bug,
            reweight=self.reweight,
            unknown=self.unknown,
        )

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.class_counts.numel()}, num_samples={self.num_samples}, alpha={self.alpha}, "
            f"beta={self.beta}, mu={self.mu}, kappa={self.kappa}, lam={self.lam}, "
            f"focal_gamma={self.focal_gamma}, focal_scale={self.focal_scale}, "
            f"reproduce_bias_bug={self.reproduce_bias_bug}, reweight={self.reweight!r}, "
            f"unknown={self.unknown!r}, {super().extra_repr()}"
        )


# -- LTML ------------------------------------------------------------------------------------------------
def ltml_class_weights(targets: Tensor, rho: Tensor) -> Tensor:
    """LTML class weight ``w_k = y_k exp(1 - rho_k) + (1 - y_k) exp(rho_k)``, ``(B, C)``.

    ``rho_k = N_k / N`` is the share of training samples positive for class ``k`` (DESIGN.md, seed 003;
    the DeepMAR-style weighting). ``y_k = 1`` on observed positives, ``0`` elsewhere (unknown = negative).
    """
    rho = rho.to(device=targets.device, dtype=torch.float64)
    y = (targets == 1).to(torch.float64)
    return y * torch.exp(1.0 - rho) + (1.0 - y) * torch.exp(rho)


def ltml_classification_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    class_weights: Tensor | None,
    sigma_pos: Tensor,
    mu_pos: Tensor,
    sigma_neg: Tensor,
    mu_neg: Tensor,
    unknown: Unknown = "negative",
) -> Tensor:
    """LTML classification loss with logit compensation (Guo & Wang, CVPR 2021, Eq. 2), per entry.

    ``L_cls(u, y) = -(1/K) sum_k w_k [ y_k log sigmoid(u_k s^p_k + m^p_k)
    + (1 - y_k) log(1 - sigmoid(u_k s^n_k + m^n_k)) ]``; the ``(B, C)`` matrix returned holds the bracketed
    terms times ``-w_k``, so its mean over ``B*C`` is the batch mean of ``L_cls``.

    Args:
        logits: ``(B, C)`` float ``u``.
        targets: ``(B, C)`` in ``{1, 0, -1}``.
        class_weights: ``(B, C)`` ``w`` (:func:`ltml_class_weights`), or ``None`` for all ones.
        sigma_pos, mu_pos, sigma_neg, mu_neg: ``(C,)`` compensation of the positive and the negative term.
        unknown: ``"negative"`` (default) or ``"ignore"``.
    """
    pos, neg = _entry_masks(targets, unknown)
    dt, dev = logits.dtype, logits.device

    def cast(t: Tensor) -> Tensor:
        return t.to(device=dev, dtype=dt)

    pos_l = -F.logsigmoid(logits * cast(sigma_pos) + cast(mu_pos))
    neg_l = -F.logsigmoid(-(logits * cast(sigma_neg) + cast(mu_neg)))
    zero = torch.zeros_like(logits)
    out = torch.where(pos, pos_l, torch.where(neg, neg_l, zero))
    return out if class_weights is None else out * cast(class_weights)


def ltml_consistency(
    logits: Tensor,
    peer_logits: Tensor,
    *,
    space: ConsistencySpace = "logits",
    detach_peer: bool = False,
) -> Tensor:
    """LTML cross-branch consistency, per-entry squared difference ``(B, C)`` (its mean is the MSE).

    ``space="logits"`` compares raw outputs (the CENG502 reproduction, likely the paper's choice,
    UNVERIFIED); ``"probabilities"`` compares sigmoids. ``detach_peer=False`` (default, as the reproduction)
    lets the gradient reach both branches; ``True`` treats the peer as a fixed target.
    """
    if peer_logits.shape != logits.shape:
        raise PartialMLError(
            f"peer_logits shape {tuple(peer_logits.shape)} does not match logits shape {tuple(logits.shape)}"
        )
    peer = peer_logits.detach() if detach_peer else peer_logits
    if space == "probabilities":
        return (torch.sigmoid(logits) - torch.sigmoid(peer)) ** 2
    return (logits - peer) ** 2


@register_loss(
    "ltml",
    description="long-tailed multi-label: rho class weights, logit compensation, two-branch consistency",
    paper="Guo & Wang, CVPR 2021",
)
class LTMLLoss(PartialLabelLoss):
    """LTML (Guo & Wang, CVPR 2021), a re-implementation (no official code; reference-methods §3.7, §10.1).

    Per branch: ``L = L_cls(logits, y) + lamb * MSE(logits, peer_logits)``, with
    :func:`ltml_classification_loss` and :func:`ltml_consistency`. The trainer calls the loss once per
    branch, each time with the other branch's logits on the same images as ``peer_logits``. At test time the
    two branches' predictions are averaged (the model's job, not the loss's); the compensation is used in
    training only (like logit adjustment; UNVERIFIED for the paper).

    Logit compensation ``u -> u * sigma + mu`` (separate ``(sigma, mu)`` per class for the positive and the
    negative term). Our explicit choice of "class statistics" (the paper does not define them):
    ``sigma = 1`` and ``mu_k = log(rho_k / (1 - rho_k))``, the prior log-odds (the logit-adjustment bias of
    Menon et al., ICLR 2021, also DB's NTR bias with kappa = 1), which is negative for rare classes and makes
    the model push rare-class logits up. ``compensation="statistics"`` keeps them as fixed buffers,
    ``"learned"`` (default, the abstract's "learnable logit compensation") makes them ``nn.Parameter`` s
    initialised there and returned by :meth:`param_groups`, ``"none"`` uses ``sigma = 1``, ``mu = 0``.

    Args:
        class_counts: ``(C,)`` positives per class ``N_k``; num_samples: ``N`` (set by :meth:`from_labels`).
        compensation: ``"learned"`` (default), ``"statistics"`` or ``"none"``.
        class_weighting: ``"rho"`` (default, ``w_k`` of :func:`ltml_class_weights`) or ``"none"`` (all 1).
        consistency: ``"logits"`` (default) or ``"probabilities"``.
        detach_peer: default ``False`` (the reproduction detaches neither side).
        lamb: consistency weight, default 0.1 (likely the paper's value, UNVERIFIED, §10.1).
        lr_mult: learning-rate multiplier of the learned compensation in :meth:`param_groups`; default 1.
        unknown: ``"negative"`` (default, AN) or ``"ignore"``.
        reduction: default ``"mean"`` over ``B*C`` (the ``1/K`` of ``L_cls`` and the batch mean).

    Example:
        >>> obs = torch.tensor([[1, 0], [0, 1], [1, 0]], dtype=torch.int8)
        >>> loss = LTMLLoss.from_labels(obs)
        >>> loss(torch.zeros(3, 2), obs, peer_logits=torch.ones(3, 2)).shape
        torch.Size([])
    """

    requires_labels = True

    def __init__(
        self,
        *,
        class_counts: Sequence[float] | Tensor,
        num_samples: int,
        compensation: Compensation = "learned",
        class_weighting: ClassWeighting = "rho",
        consistency: ConsistencySpace = "logits",
        detach_peer: bool = False,
        lamb: float = 0.1,
        lr_mult: float = 1.0,
        unknown: Unknown = "negative",
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        _check_choice("compensation", compensation, ("learned", "statistics", "none"))
        _check_choice("class_weighting", class_weighting, ("rho", "none"))
        _check_choice("consistency", consistency, ("logits", "probabilities"))
        _check_choice("unknown", unknown, ("negative", "ignore"))
        if not (math.isfinite(float(lamb)) and float(lamb) >= 0):
            raise PartialMLError(f"ltml: lamb must be a finite number >= 0, got {lamb!r}")
        counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
        if compensation != "none":
            counts = _counts_tensor(counts, num_samples, loss="ltml")
        elif int(num_samples) < 1 or bool(((counts < 0) | (counts > int(num_samples))).any()):
            raise PartialMLError(f"ltml: class_counts must lie in [0, num_samples={num_samples}]")
        rho = counts / int(num_samples)
        self.register_buffer("rho", rho.to(torch.float32))
        self.num_samples = int(num_samples)
        self.compensation: Compensation = compensation
        self.class_weighting: ClassWeighting = class_weighting
        self.consistency: ConsistencySpace = consistency
        self.detach_peer = bool(detach_peer)
        self.lamb = float(lamb)
        self.lr_mult = float(lr_mult)
        self.unknown: Unknown = unknown
        c = counts.numel()
        if compensation == "none":
            sigma, mu = torch.ones(c), torch.zeros(c)
        else:
            sigma, mu = torch.ones(c), torch.log(rho / (1.0 - rho)).to(torch.float32)
        names = ("sigma_pos", "mu_pos", "sigma_neg", "mu_neg")
        for name, value in zip(names, (sigma, mu, sigma, mu), strict=True):
            if compensation == "learned":
                self.register_parameter(name, nn.Parameter(value.clone()))
            else:
                self.register_buffer(name, value.clone())

    rho: Tensor
    sigma_pos: Tensor
    mu_pos: Tensor
    sigma_neg: Tensor
    mu_neg: Tensor

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> LTMLLoss:
        counts, n = _statistics_from_labels(observed, loss="ltml")
        kwargs.setdefault("class_counts", counts)
        kwargs.setdefault("num_samples", n)
        return cls(**kwargs)

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        if self.compensation != "learned":
            return []
        params = [self.sigma_pos, self.mu_pos, self.sigma_neg, self.mu_neg]
        return [{"params": params, "lr": base_lr * self.lr_mult}]

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        if logits.shape[1] != self.rho.numel():
            raise PartialMLError(
                f"ltml: logits have {logits.shape[1]} classes, class_counts {self.rho.numel()}"
            )
        weights = ltml_class_weights(targets, self.rho) if self.class_weighting == "rho" else None
        return ltml_classification_loss(
            logits,
            targets,
            class_weights=weights,
            sigma_pos=self.sigma_pos,
            mu_pos=self.mu_pos,
            sigma_neg=self.sigma_neg,
            mu_neg=self.mu_neg,
            unknown=self.unknown,
        )

    def forward(
        self,
        logits: Tensor,
        targets: Tensor,
        indices: Tensor | None = None,
        *,
        peer_logits: Tensor | None = None,
    ) -> Tensor:
        """``L_cls`` per entry, plus ``lamb`` times the per-entry squared difference to ``peer_logits``.

        ``reduction="none"`` returns the ``(B, C)`` sum of both per-entry terms; ``"mean"`` is
        ``mean(L_cls entries) + lamb * MSE``.
        """
        check_logits_targets(logits, targets)
        per_entry = self.compute(logits, targets, indices)
        if peer_logits is not None and self.lamb != 0.0:
            per_entry = per_entry + self.lamb * ltml_consistency(
                logits, peer_logits, space=self.consistency, detach_peer=self.detach_peer
            )
        return reduce_loss(per_entry, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.rho.numel()}, compensation={self.compensation!r}, "
            f"class_weighting={self.class_weighting!r}, consistency={self.consistency!r}, "
            f"detach_peer={self.detach_peer}, lamb={self.lamb}, unknown={self.unknown!r}, "
            f"{super().extra_repr()}"
        )


@register_loss(
    "ltml-llr",
    description="LTML with LL-R's large-loss rejection of unknown entries",
    paper="Guo & Wang, CVPR 2021 + Kim et al., CVPR 2022",
)
class LTMLLLRLoss(LTMLLoss):
    """LTML combined with LL-R (our combination; neither paper defines it).

    Per branch: the LTML per-entry classification loss ``l`` (class weights and logit compensation,
    :func:`ltml_classification_loss`, unknown entries as negatives); among the **unknown** (``-1``) entries
    of the batch, the ``k = ceil(B * C * epoch * delta_rel)`` largest ``l`` (LL-R's rate,
    :func:`~partialml.losses.large_loss.ll_rate` / ``ll_k``, ranked by the weighted, compensated loss
    itself) are rejected (set to 0), as LL-R does with the AN loss; then ``lamb`` times the consistency term
    on every entry, as :class:`LTMLLoss`. At epoch 0 it equals :class:`LTMLLoss`.

    Args:
        delta_rel: rejection-rate increase per 0-indexed epoch, a fraction; default 0.005 (our LL-R's).
        Other arguments: as :class:`LTMLLoss`; ``unknown`` must stay ``"negative"``.
    """

    def __init__(
        self,
        *,
        class_counts: Sequence[float] | Tensor,
        num_samples: int,
        delta_rel: float = 0.005,
        compensation: Compensation = "learned",
        class_weighting: ClassWeighting = "rho",
        consistency: ConsistencySpace = "logits",
        detach_peer: bool = False,
        lamb: float = 0.1,
        lr_mult: float = 1.0,
        unknown: Unknown = "negative",
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(
            class_counts=class_counts,
            num_samples=num_samples,
            compensation=compensation,
            class_weighting=class_weighting,
            consistency=consistency,
            detach_peer=detach_peer,
            lamb=lamb,
            lr_mult=lr_mult,
            unknown=unknown,
            reduction=reduction,
        )
        if not 0.0 <= float(delta_rel) <= 1.0:
            raise PartialMLError(f"ltml-llr: delta_rel must be a fraction in [0, 1], got {delta_rel}")
        if self.unknown != "negative":
            raise PartialMLError("ltml-llr: unknown must be 'negative' (rejection acts on unknown entries)")
        self.delta_rel = float(delta_rel)
        self.last_selection: Tensor | None = None

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> LTMLLLRLoss:
        counts, n = _statistics_from_labels(observed, loss="ltml-llr")
        kwargs.setdefault("class_counts", counts)
        kwargs.setdefault("num_samples", n)
        return cls(**kwargs)

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        from partialml.losses.large_loss import large_loss_selection, ll_k, ll_rate

        per_entry = super().compute(logits, targets, indices)
        k = ll_k(per_entry.numel(), ll_rate(self.epoch, self.delta_rel))
        with torch.no_grad():
            mask = large_loss_selection(per_entry.detach(), targets, k)
        self.last_selection = mask
        return per_entry.masked_fill(mask, 0.0)

    def extra_repr(self) -> str:
        return f"delta_rel={self.delta_rel}, {super().extra_repr()}"


__all__ = [
    "DB_PRESETS",
    "DBLoss",
    "LTMLLLRLoss",
    "LTMLLoss",
    "db_class_bias",
    "db_loss",
    "db_rebalance_weights",
    "ltml_class_weights",
    "ltml_classification_loss",
    "ltml_consistency",
]
