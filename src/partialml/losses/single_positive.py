"""Single-positive losses: EPR and ROLE (Cole et al., CVPR 2021), EM and EM+APL (Zhou et al., ECCV 2022).

Conventions (see :mod:`partialml.losses.base`): ``logits`` float ``(B, C)``; ``targets`` integer ``(B, C)``
with ``1`` observed positive, ``0`` observed negative, ``-1`` unknown; ``indices`` long ``(B,)`` sample
indices into the training set. Every pure function returns the per-entry ``(B, C)`` loss; the paper's
reduction is the mean over all ``B * C`` entries (entries without a term count as zeros).

Logs: Cole et al. and Zhou et al. write ``-log(x + 1e-5)``. We use ``F.logsigmoid`` /
``binary_cross_entropy_with_logits`` instead: the two agree to about ``1e-5`` wherever ``x > 1e-3``, and only
differ on saturated entries, where the ``1e-5`` caps the loss at ``11.5`` and kills its gradient. This is a
deliberate, documented departure; it does not change any reported number beyond noise.

Batch-level terms (the expected-positive regularizer ``R`` of EPR and ROLE) are added to **every** entry of
the per-entry matrix, exactly as Cole et al.'s ``loss_mtx += reg`` does, so that ``reduction="none"``
returns a ``(B, C)`` matrix whose ``sum() / (B * C)`` equals the ``"mean"`` loss (``entries / (B*C) + R``);
consequently ``"sum"`` equals ``B * C`` times ``"mean"``.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from partialml.errors import PartialMLError
from partialml.labels.encoding import validate_labels
from partialml.losses.base import PartialLabelLoss, Reduction, as_target_masks
from partialml.losses.registry import register_loss

#: Oracle mean number of true positives per training image used by Cole et al. for EPR / ROLE
#: (the ``expected_num_pos`` of their ``train.py``): an oracle statistic of the *full* labels.
EXPECTED_POSITIVES_ORACLE: Final[dict[str, float]] = {"voc": 1.5, "coco": 2.9, "nus": 1.9, "cub": 31.4}
#: EM's alpha per dataset (Zhou et al., ECCV 2022, SPML-AckTheUnknown ``config.py``).
EM_ALPHA_PRESETS: Final[dict[str, float]] = {"voc": 0.2, "coco": 0.1, "nus": 0.1, "cub": 0.01}
#: APL's beta per dataset (Zhou et al., ECCV 2022).
APL_BETA_PRESETS: Final[dict[str, float]] = {"voc": 0.02, "coco": 0.9, "nus": 0.2, "cub": 0.4}
#: APL's warm-up epoch per dataset (Zhou et al.): number of epochs before the first pseudo-labelling pass,
#: i.e. the 0-indexed epoch at which APL starts.
APL_WARMUP_PRESETS: Final[dict[str, int]] = {"voc": 5, "coco": 5, "nus": 4, "cub": 3}

ObservedNegatives = Literal["bce", "ignore"]


def _expected_positives(value: float | str, *, option: str = "expected_positives") -> float:
    """A number, or a preset name of :data:`EXPECTED_POSITIVES_ORACLE`."""
    if isinstance(value, str):
        try:
            return EXPECTED_POSITIVES_ORACLE[value.lower()]
        except KeyError:
            raise PartialMLError(
                f"{option}={value!r} is not a preset; use a number or one of "
                f"{', '.join(sorted(EXPECTED_POSITIVES_ORACLE))}"
            ) from None
    k = float(value)
    if not math.isfinite(k) or k < 0:
        raise PartialMLError(f"{option} must be a finite number >= 0, got {value!r}")
    return k


def _observed_tensor(observed: Any) -> Tensor:
    """``(N, C)`` observed labels validated and returned as an int8 CPU tensor."""
    return torch.from_numpy(validate_labels(observed, what="observed training labels").copy())


def estimate_expected_positives(observed: Any) -> float:
    """Mean number of *observed* positives per sample of an ``(N, C)`` 1 / 0 / -1 matrix.

    This is a lower bound of the true label cardinality (exactly ``1.0`` for single-positive data);
    the papers use the oracle values of :data:`EXPECTED_POSITIVES_ORACLE`.
    """
    obs = _observed_tensor(observed)
    if obs.shape[0] == 0:
        raise PartialMLError("observed training labels have no rows; cannot estimate expected_positives")
    return float((obs == 1).sum(dim=1).double().mean())


# -- EPR -------------------------------------------------------------------------------------------------
def expected_positive_regularizer(probs: Tensor, expected_positives: float) -> Tensor:
    """``R = ((1/B) sum_n sum_c p_nc - k)^2 / C^2`` (Cole et al., CVPR 2021, squared "norm 2" variant).

    Args:
        probs: ``(B, C)`` probabilities in ``[0, 1]``.
        expected_positives: ``k``, the expected number of positives per sample.

    Returns:
        A scalar tensor.
    """
    num_classes = probs.shape[1]
    return (probs.sum(dim=1).mean() - expected_positives) ** 2 / num_classes**2


def epr_loss(logits: Tensor, targets: Tensor, *, expected_positives: float) -> Tensor:
    """Expected Positive Regularization (Cole et al., CVPR 2021), per entry.

    ``-log p`` on observed positives (``1``), nothing on other entries, plus ``R`` from
    :func:`expected_positive_regularizer` added to every entry (so the ``B*C`` mean is
    ``sum_pos(-log p) / (B*C) + R``, Cole's normalization).

    Args:
        logits: ``(B, C)`` float.
        targets: ``(B, C)`` in ``{1, 0, -1}``; only ``1`` entries have an entry term.
        expected_positives: ``k`` (Cole: the oracle label cardinality, :data:`EXPECTED_POSITIVES_ORACLE`).

    Returns:
        ``(B, C)`` per-entry loss.
    """
    pos, _, _ = as_target_masks(targets)
    entry = torch.where(pos, -F.logsigmoid(logits), torch.zeros_like(logits))
    return entry + expected_positive_regularizer(torch.sigmoid(logits), expected_positives)


@register_loss(
    "epr",
    description="expected positive regularization: -log p on positives + (mean #pos - k)^2 / C^2",
    paper="Cole et al., CVPR 2021",
)
class EPRLoss(PartialLabelLoss):
    """EPR (Cole et al., CVPR 2021): see :func:`epr_loss`.

    Args:
        expected_positives: ``k``; a number or a preset name (``"voc"`` 1.5, ``"coco"`` 2.9, ``"nus"`` 1.9,
            ``"cub"`` 31.4: the oracle true label cardinalities Cole et al. used). Required, unless the loss
            is built with :meth:`from_labels`, which estimates it as the mean observed positives per sample
            (a lower bound: ``1.0`` on single-positive data).
        reduction: default ``"mean"`` (sum / (B*C), Cole et al.); ``"none"`` spreads ``R`` over the entries
            (module docstring).

    Example:
        >>> loss = EPRLoss(expected_positives="voc")
        >>> float(loss(torch.zeros(2, 3), torch.tensor([[1, -1, -1], [-1, 1, -1]]))) > 0
        True
    """

    def __init__(self, *, expected_positives: float | str, reduction: Reduction | None = None) -> None:
        super().__init__(reduction=reduction)
        self.expected_positives = _expected_positives(expected_positives)

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> EPRLoss:
        if kwargs.get("expected_positives") is None:
            kwargs["expected_positives"] = estimate_expected_positives(observed)
        return cls(**kwargs)

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return epr_loss(logits, targets, expected_positives=self.expected_positives)

    def extra_repr(self) -> str:
        return f"expected_positives={self.expected_positives}, {super().extra_repr()}"


# -- ROLE ------------------------------------------------------------------------------------------------
def role_loss(
    logits: Tensor,
    estimate_logits: Tensor,
    targets: Tensor,
    *,
    expected_positives: float,
    observed_negatives: ObservedNegatives = "bce",
) -> Tensor:
    """ROLE, regularized online label estimation (Cole et al., CVPR 2021, ``loss_role``), per entry.

    With ``p = sigmoid(logits)`` and ``q = sigmoid(estimate_logits)`` (the label estimates of the batch's
    samples)::

        loss = 1/2 [ -log p - log q ]                         on observed positives (1)
             + 1/2 [ BCE(p; target q.detach()) + BCE(q; target p.detach()) ]   on every entry
             + 1/2 [ R(p) + R(q) ]                            added to every entry (R: EPR regularizer)

    Observed negatives (``0``; absent from single-positive data, so Cole's code has no term for them):
    ``observed_negatives="bce"`` (default, our extension) adds ``1/2 [ -log(1-p) - log(1-q) ]`` there,
    the mirror image of the positive term; ``"ignore"`` reproduces Cole's loss exactly.

    Args:
        logits: ``(B, C)`` classifier logits.
        estimate_logits: ``(B, C)`` logits of the label estimates (rows of the N x C estimator).
        targets: ``(B, C)`` in ``{1, 0, -1}``.
        expected_positives: ``k`` of the regularizer.
        observed_negatives: ``"bce"`` or ``"ignore"``.

    Returns:
        ``(B, C)`` per-entry loss; its mean over ``B*C`` is Cole's normalization.
    """
    pos, neg, _ = as_target_masks(targets)
    zero = torch.zeros_like(logits)
    entry = torch.where(pos, -F.logsigmoid(logits) - F.logsigmoid(estimate_logits), zero)
    if observed_negatives == "bce":
        entry = entry + torch.where(neg, -F.logsigmoid(-logits) - F.logsigmoid(-estimate_logits), zero)
    p = torch.sigmoid(logits)
    q = torch.sigmoid(estimate_logits)
    cross = F.binary_cross_entropy_with_logits(
        logits, q.detach(), reduction="none"
    ) + F.binary_cross_entropy_with_logits(estimate_logits, p.detach(), reduction="none")
    reg = expected_positive_regularizer(p, expected_positives) + expected_positive_regularizer(
        q, expected_positives
    )
    return 0.5 * entry + 0.5 * cross + 0.5 * reg


def role_initial_logits(observed: Tensor, *, seed: int = 0) -> Tensor:
    """Cole et al.'s initial label-estimate logits for ``(N, C)`` observed labels, float32 ``(N, C)``.

    Observed positives ``logit(0.995)``, observed negatives ``logit(0.005)``, unknown entries uniform in
    logit space on ``[-logit(0.6), logit(0.6)]`` (so ``sigmoid`` in ``[0.4, 0.6]``), drawn from a
    ``torch.Generator`` seeded with ``seed``.
    """
    n, c = observed.shape
    gen = torch.Generator().manual_seed(int(seed))
    q = math.log(0.6 / 0.4)
    init = q * (2.0 * torch.rand(n, c, generator=gen) - 1.0)
    init[observed == 1] = math.log(0.995 / 0.005)
    init[observed == 0] = math.log(0.005 / 0.995)
    return init


@register_loss(
    "role",
    description="regularized online label estimation: learned N x C label estimates + EPR",
    paper="Cole et al., CVPR 2021",
)
class ROLELoss(PartialLabelLoss):
    """ROLE (Cole et al., CVPR 2021): see :func:`role_loss`.

    Holds the learnable ``(N, C)`` estimate logits :attr:`estimates` (an ``nn.Parameter``; one row per
    training sample, reached through the batch's sample ``indices``). Build it with :meth:`from_labels`
    (initialization of :func:`role_initial_logits`); move it with the model (``loss.to(device)``) and give
    :meth:`param_groups` to the optimizer (estimates at ``lr_mult`` times the base learning rate).

    Args:
        num_samples: ``N``; num_classes: ``C`` (set by :meth:`from_labels`).
        expected_positives: ``k`` of EPR (number or preset name, see :class:`EPRLoss`); ``None`` in
            :meth:`from_labels` estimates it from the observed labels (lower bound).
        lr_mult: learning-rate multiplier of the estimates; default 10 (Cole et al.'s code).
        seed: seed of the uniform initialization of unknown entries; default 0.
        observed_negatives: ``"bce"`` (default) or ``"ignore"`` (Cole's exact loss); see :func:`role_loss`.
        reduction: default ``"mean"`` (sum / (B*C), Cole et al.).

    Example:
        >>> obs = torch.tensor([[1, -1, -1], [-1, 1, 0]], dtype=torch.int8)
        >>> loss = ROLELoss.from_labels(obs, expected_positives=1.5)
        >>> loss(torch.zeros(2, 3), obs, torch.tensor([0, 1])).backward()
    """

    needs_indices = True
    requires_labels = True

    def __init__(
        self,
        *,
        num_samples: int,
        num_classes: int,
        expected_positives: float | str,
        lr_mult: float = 10.0,
        seed: int = 0,
        observed_negatives: ObservedNegatives = "bce",
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        if int(num_samples) < 1 or int(num_classes) < 1:
            raise PartialMLError(
                f"role needs num_samples >= 1 and num_classes >= 1, got {num_samples} and {num_classes}"
            )
        if observed_negatives not in ("bce", "ignore"):
            raise PartialMLError(f"observed_negatives={observed_negatives!r}; expected 'bce' or 'ignore'")
        if not float(lr_mult) > 0:
            raise PartialMLError(f"lr_mult must be > 0, got {lr_mult!r}")
        self.expected_positives = _expected_positives(expected_positives)
        self.lr_mult = float(lr_mult)
        self.seed = int(seed)
        self.observed_negatives: ObservedNegatives = observed_negatives
        unknown = -torch.ones(int(num_samples), int(num_classes), dtype=torch.int8)
        self.estimates = nn.Parameter(role_initial_logits(unknown, seed=self.seed))

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> ROLELoss:
        obs = _observed_tensor(observed)
        if kwargs.get("expected_positives") is None:
            kwargs["expected_positives"] = estimate_expected_positives(obs)
        kwargs.setdefault("num_samples", obs.shape[0])
        kwargs.setdefault("num_classes", obs.shape[1])
        if (kwargs["num_samples"], kwargs["num_classes"]) != tuple(obs.shape):
            raise PartialMLError(
                f"role: num_samples/num_classes {kwargs['num_samples']}x{kwargs['num_classes']} do not match "
                f"the observed labels {tuple(obs.shape)}"
            )
        loss = cls(**kwargs)
        with torch.no_grad():
            loss.estimates.copy_(role_initial_logits(obs, seed=loss.seed))
        return loss

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        return [{"params": [self.estimates], "lr": base_lr * self.lr_mult}]

    def estimated_labels(self) -> Tensor:
        """The current label estimates ``sigmoid(estimates)``, detached, ``(N, C)``."""
        return torch.sigmoid(self.estimates.detach())

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        assert indices is not None  # checked by forward
        idx = indices.to(device=self.estimates.device, dtype=torch.long)
        if idx.shape != (logits.shape[0],):
            raise PartialMLError(
                f"role: indices must have shape ({logits.shape[0]},), got {tuple(idx.shape)}"
            )
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.estimates.shape[0]):
            raise PartialMLError(f"role: sample indices must lie in [0, {self.estimates.shape[0]})")
        if logits.shape[1] != self.estimates.shape[1]:
            raise PartialMLError(
                f"role: logits have {logits.shape[1]} classes, the estimator {self.estimates.shape[1]}"
            )
        est = self.estimates[idx].to(device=logits.device, dtype=logits.dtype)
        return role_loss(
            logits,
            est,
            targets,
            expected_positives=self.expected_positives,
            observed_negatives=self.observed_negatives,
        )

    def extra_repr(self) -> str:
        n, c = self.estimates.shape
        return (
            f"num_samples={n}, num_classes={c}, expected_positives={self.expected_positives}, "
            f"lr_mult={self.lr_mult}, {super().extra_repr()}"
        )


# -- EM and EM + APL -------------------------------------------------------------------------------------
def _neg_entropy_term(logits: Tensor) -> Tensor:
    """``p log p + (1 - p) log(1 - p)`` from logits, stable (``-H(p)``, in ``[-log 2, 0]``)."""
    p = torch.sigmoid(logits)
    return p * F.logsigmoid(logits) + (1.0 - p) * F.logsigmoid(-logits)


def em_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    alpha: float = 0.1,
    soft_targets: Tensor | None = None,
    beta: float = 0.9,
) -> Tensor:
    """Entropy-maximization loss (Zhou et al., ECCV 2022, "Acknowledging the Unknown"), per entry.

    * observed positive (``1``): ``-log p``;
    * unknown (``-1``): ``alpha * [p log p + (1-p) log(1-p)] = -alpha * H(p)``: **negative by design**
      (minimizing it maximizes the entropy of unknown predictions; see SPML-AckTheUnknown issue #1),
      minimal (``-alpha log 2``) at ``p = 0.5``;
    * observed negative (``0``): ``-log(1-p)`` (our choice: the original has no observed negatives).

    With ``soft_targets`` (EM + APL): unknown entries whose soft target is in ``[0, 1]`` (others hold
    ``-1``) get ``beta * BCE(p, soft_target)`` instead of the EM term.

    Args:
        logits: ``(B, C)`` float.
        targets: ``(B, C)`` in ``{1, 0, -1}``.
        alpha: EM weight; default 0.1 (COCO), presets :data:`EM_ALPHA_PRESETS`.
        soft_targets: optional ``(B, C)`` float, ``-1`` where there is no pseudo-label.
        beta: APL weight; default 0.9 (COCO), presets :data:`APL_BETA_PRESETS`.

    Returns:
        ``(B, C)`` per-entry loss (paper's reduction: mean over ``B*C``).
    """
    pos, neg, unk = as_target_masks(targets)
    zero = torch.zeros_like(logits)
    out = torch.where(pos, -F.logsigmoid(logits), zero)
    out = out + torch.where(neg, -F.logsigmoid(-logits), zero)
    em_term = alpha * _neg_entropy_term(logits)
    if soft_targets is None:
        return out + torch.where(unk, em_term, zero)
    soft = soft_targets.to(device=logits.device, dtype=logits.dtype)
    pseudo = unk & (soft >= 0)
    bce = beta * F.binary_cross_entropy_with_logits(logits, soft.clamp(0.0, 1.0), reduction="none")
    return out + torch.where(pseudo, bce, torch.where(unk, em_term, zero))


def _check_weight(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise PartialMLError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


@register_loss(
    "em",
    description="entropy maximization on unknown entries, -log p on positives",
    paper="Zhou et al., ECCV 2022",
)
class EMLoss(PartialLabelLoss):
    """EM (Zhou et al., ECCV 2022): see :func:`em_loss`.

    Args:
        alpha: default 0.1 (the paper's COCO / NUS value); :data:`EM_ALPHA_PRESETS` gives VOC 0.2, CUB 0.01.
        reduction: default ``"mean"`` over ``B*C`` (the paper's code).

    Example:
        >>> float(EMLoss()(torch.zeros(1, 2), torch.tensor([[-1, -1]]))) < 0
        True
    """

    def __init__(self, *, alpha: float = 0.1, reduction: Reduction | None = None) -> None:
        super().__init__(reduction=reduction)
        self.alpha = _check_weight("alpha", alpha)

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        return em_loss(logits, targets, alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, {super().extra_repr()}"


def apl_select(
    scores: Tensor,
    candidates: Tensor,
    counts: Tensor,
) -> Tensor:
    """Per class ``c``, the ``counts[c]`` candidate entries with the lowest scores (ties: lower row first).

    Args:
        scores: ``(N, C)`` probabilities.
        candidates: ``(N, C)`` bool, entries that may be picked.
        counts: ``(C,)`` long, how many to pick per class (fewer if there are fewer candidates).

    Returns:
        ``(N, C)`` bool mask of the picked entries.
    """
    picked = torch.zeros_like(candidates)
    inf = torch.tensor(float("inf"), dtype=scores.dtype, device=scores.device)
    for c in range(scores.shape[1]):
        k = min(int(counts[c]), int(candidates[:, c].sum()))
        if k <= 0:
            continue
        masked = torch.where(candidates[:, c], scores[:, c], inf)
        order = torch.sort(masked, stable=True).indices
        picked[order[:k], c] = True
    return picked


@register_loss(
    "em-apl",
    description="EM + asymmetric pseudo-labelling: lowest-scoring unknowns become soft negatives",
    paper="Zhou et al., ECCV 2022",
)
class EMAPLLoss(PartialLabelLoss):
    """EM + APL (Zhou et al., ECCV 2022; reference-methods §3.8): :func:`em_loss` with soft negatives.

    Before each epoch ``e >= warmup_epoch`` (0-indexed) the trainer scores the whole training set and calls
    :meth:`update_from_scores`; per class ``c``, among the entries still unknown and not yet pseudo-labelled,
    the ``floor(0.9 * U_c / (num_epochs - warmup_epoch))`` lowest-scoring ones become soft negatives whose
    target is their current score (kept from then on: cumulative). ``U_c`` is the number of unknown
    entries of class ``c`` in the labels given to :meth:`from_labels`. The ``(N, C)`` buffer
    :attr:`soft_targets` (``-1`` where none) and :attr:`last_update_epoch` are in the ``state_dict``.

    Args:
        num_samples, num_classes: set by :meth:`from_labels`.
        alpha: EM weight; default 0.1 (COCO), :data:`EM_ALPHA_PRESETS`.
        beta: soft-negative weight; default 0.9 (COCO), :data:`APL_BETA_PRESETS`.
        warmup_epoch: first 0-indexed epoch with pseudo-labels; default 5 (VOC / COCO),
            :data:`APL_WARMUP_PRESETS`.
        num_epochs: ``T``, total epochs; default 10 (the paper's recipe).
        reduction: default ``"mean"`` over ``B*C``.
    """

    needs_indices = True
    requires_labels = True

    def __init__(
        self,
        *,
        num_samples: int,
        num_classes: int,
        alpha: float = 0.1,
        beta: float = 0.9,
        warmup_epoch: int = 5,
        num_epochs: int = 10,
        reduction: Reduction | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        self.alpha = _check_weight("alpha", alpha)
        self.beta = _check_weight("beta", beta)
        if int(warmup_epoch) < 0 or int(num_epochs) <= int(warmup_epoch):
            raise PartialMLError(
                f"em-apl needs 0 <= warmup_epoch < num_epochs, got warmup_epoch={warmup_epoch}, "
                f"num_epochs={num_epochs}"
            )
        self.warmup_epoch = int(warmup_epoch)
        self.num_epochs = int(num_epochs)
        n, c = int(num_samples), int(num_classes)
        self.register_buffer("soft_targets", -torch.ones(n, c))
        self.register_buffer("initial_unknown", torch.zeros(c, dtype=torch.long))
        self.register_buffer("last_update_epoch", torch.tensor(-1, dtype=torch.long))

    soft_targets: Tensor
    initial_unknown: Tensor
    last_update_epoch: Tensor

    @classmethod
    def from_labels(cls, observed: Tensor, **kwargs: Any) -> EMAPLLoss:
        obs = _observed_tensor(observed)
        kwargs.setdefault("num_samples", obs.shape[0])
        kwargs.setdefault("num_classes", obs.shape[1])
        loss = cls(**kwargs)
        if tuple(loss.soft_targets.shape) != tuple(obs.shape):
            raise PartialMLError(
                f"em-apl: num_samples/num_classes {tuple(loss.soft_targets.shape)} do not match the "
                f"observed labels {tuple(obs.shape)}"
            )
        loss.initial_unknown.copy_((obs == -1).sum(dim=0))
        return loss

    def per_epoch_counts(self) -> Tensor:
        """``(C,)`` number of entries picked per class at each update: ``floor(0.9 U_c / (T - warmup))``."""
        return torch.div(
            9 * self.initial_unknown, 10 * (self.num_epochs - self.warmup_epoch), rounding_mode="floor"
        )

    def wants_epoch_scores(self) -> bool:
        return self.epoch >= self.warmup_epoch and int(self.last_update_epoch) != self.epoch

    def update_from_scores(self, scores: Tensor, observed: Tensor) -> None:
        if tuple(scores.shape) != tuple(self.soft_targets.shape) or tuple(observed.shape) != tuple(
            scores.shape
        ):
            raise PartialMLError(
                f"em-apl: scores {tuple(scores.shape)} and observed {tuple(observed.shape)} must both be "
                f"{tuple(self.soft_targets.shape)}"
            )
        dev = self.soft_targets.device
        scores = scores.detach().to(device=dev, dtype=self.soft_targets.dtype)
        candidates = (observed.to(dev) == -1) & (self.soft_targets < 0)
        picked = apl_select(scores, candidates, self.per_epoch_counts().to(dev))
        self.soft_targets[picked] = scores[picked].clamp(0.0, 1.0)
        self.last_update_epoch.fill_(self.epoch)

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        assert indices is not None  # checked by forward
        soft = self.soft_targets[indices.to(device=self.soft_targets.device, dtype=torch.long)]
        return em_loss(logits, targets, alpha=self.alpha, soft_targets=soft, beta=self.beta)

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, beta={self.beta}, warmup_epoch={self.warmup_epoch}, "
            f"num_epochs={self.num_epochs}, {super().extra_repr()}"
        )


__all__ = [
    "APL_BETA_PRESETS",
    "APL_WARMUP_PRESETS",
    "EM_ALPHA_PRESETS",
    "EXPECTED_POSITIVES_ORACLE",
    "EMAPLLoss",
    "EMLoss",
    "EPRLoss",
    "ROLELoss",
    "apl_select",
    "em_loss",
    "epr_loss",
    "estimate_expected_positives",
    "expected_positive_regularizer",
    "role_initial_logits",
    "role_loss",
]
