"""The LTML two-branch model of the ``features`` setting (Guo & Wang, CVPR 2021, adapted to features).

LTML shares ResNet-50's conv1-conv4 and gives each branch its own conv5 and FC classifier. On fixed
features the analogue is a shared MLP trunk ``Linear(D, hidden) -> ReLU -> Dropout(p)`` (the "PFC" neck
of the DB code, as :class:`~partialml.models.heads.MLPHead`) and two linear heads: ``head_u`` (Subnet-U,
trained on uniform batches) and ``head_r`` (Subnet-R, trained on re-balanced batches).

* :meth:`DualBranchClassifier.branches` returns both branches' logits ``(u, r)``, each ``(B, C)``.
* :meth:`DualBranchClassifier.forward` returns the test-time combination: the logit of the **averaged
  probabilities**, ``logit((sigmoid(u) + sigmoid(r)) / 2)``, computed stably as
  ``logsumexp(logsigmoid(u), logsigmoid(r)) - logsumexp(logsigmoid(-u), logsigmoid(-r))``. So
  ``sigmoid(forward(x))`` is exactly the mean of the two branches' probabilities (the paper averages the
  branches' predictions; probabilities are what a multi-label prediction is, and averaging them keeps each
  branch's calibration instead of letting the branch with larger logits dominate). Scoring code that
  applies ``sigmoid`` to a model's output works unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from partialml.models.heads import Standardize

#: ``meta["model"]`` value of a dual-branch checkpoint.
DUAL_BRANCH = "dual-branch"


def average_probability_logit(u: Tensor, r: Tensor) -> Tensor:
    """``logit((sigmoid(u) + sigmoid(r)) / 2)``, elementwise, stable for large ``|u|``, ``|r|``."""
    pos = torch.logaddexp(F.logsigmoid(u), F.logsigmoid(r))
    neg = torch.logaddexp(F.logsigmoid(-u), F.logsigmoid(-r))
    return pos - neg


class DualBranchClassifier(nn.Module):
    """Optional standardization, a shared MLP trunk, two linear heads.

    Args:
        in_dim: feature width ``D``; num_classes: ``C``.
        hidden_dim: trunk width (default 512, as the MLP head); dropout: trunk dropout (default 0.5).
        standardize: optional :class:`~partialml.models.heads.Standardize`.

    Example:
        >>> m = DualBranchClassifier(4, 3)
        >>> u, r = m.branches(torch.zeros(2, 4))
        >>> m.eval()(torch.zeros(2, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        *,
        hidden_dim: int = 512,
        dropout: float = 0.5,
        standardize: Standardize | None = None,
    ) -> None:
        super().__init__()
        self.standardize = standardize
        self.trunk = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))
        self.head_u = nn.Linear(hidden_dim, num_classes)
        self.head_r = nn.Linear(hidden_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Trunk output ``(B, hidden_dim)``."""
        if self.standardize is not None:
            x = self.standardize(x)
        return self.trunk(x)

    def branches(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(u, r)``: Subnet-U's and Subnet-R's logits on the same inputs, each ``(B, C)``."""
        h = self.features(x)
        return self.head_u(h), self.head_r(h)

    def forward(self, x: Tensor) -> Tensor:
        """The test-time combination: logit of the mean of the two branches' probabilities."""
        u, r = self.branches(x)
        return average_probability_logit(u, r)


def build_dual_branch_classifier(
    *,
    in_dim: int,
    num_classes: int,
    hidden_dim: int = 512,
    dropout: float = 0.5,
    mean: Tensor | None = None,
    std: Tensor | None = None,
) -> DualBranchClassifier:
    """A :class:`DualBranchClassifier`, standardizing with ``mean`` / ``std`` when both are given."""
    if (mean is None) != (std is None):
        raise ValueError("standardization needs both mean and std")
    standardize = None if mean is None or std is None else Standardize(mean, std)
    return DualBranchClassifier(
        in_dim, num_classes, hidden_dim=hidden_dim, dropout=dropout, standardize=standardize
    )


def model_from_meta(meta: dict[str, Any], standardization: dict[str, Tensor] | None) -> nn.Module | None:
    """The dual-branch model described by a checkpoint's ``meta`` (``None`` for other models)."""
    if meta.get("model") != DUAL_BRANCH:
        return None
    return build_dual_branch_classifier(
        in_dim=int(meta["in_dim"]),
        num_classes=int(meta["num_classes"]),
        hidden_dim=int(meta["hidden_dim"]),
        dropout=float(meta["dropout"]),
        mean=None if standardization is None else standardization["mean"],
        std=None if standardization is None else standardization["std"],
    )


__all__ = [
    "DUAL_BRANCH",
    "DualBranchClassifier",
    "average_probability_logit",
    "build_dual_branch_classifier",
    "model_from_meta",
]
