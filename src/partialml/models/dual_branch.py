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

The ``end-to-end`` (image) setting follows the paper's layout: :class:`ImageDualBranchClassifier` shares
the backbone's stages up to the last one (ResNet ``conv1`` .. ``layer3``), and each branch has its own
copy of the last stage (``layer4``, deep-copied so both start equal) and its own image head
(:mod:`partialml.models.image_heads`). Its ``branches`` / ``forward`` follow the same rules as above.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from partialml.errors import PartialMLError
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


def split_last_stage(backbone: nn.Module, *, name: str = "") -> tuple[nn.Module, nn.Module]:
    """``(shared, last)``: ``backbone`` with its last stage replaced by ``nn.Identity`` (in place), and
    that stage. ``shared(x)`` is then the input of ``last``, and ``last(shared(x))`` equals the original
    ``backbone(x)``.

    Supported: backbones with a ResNet ``layer4`` run last (:class:`~partialml.models.backbones.ResNetTrunk`,
    and timm ResNets, whose ``forward_features`` ends with ``layer4``). Other timm models follow their
    last stage with further layers (norms, a head convolution), so splitting them is not done:
    :class:`~partialml.errors.PartialMLError`.
    """
    owner: Any = backbone
    if not isinstance(getattr(owner, "layer4", None), nn.Module):
        owner = getattr(backbone, "model", None)  # TimmTrunk keeps the timm model under ``model``
    last = getattr(owner, "layer4", None)
    if owner is None or not isinstance(last, nn.Module) or isinstance(last, nn.Identity):
        shown = f" {name}" if name else ""
        raise PartialMLError(
            f"--model{shown}: the LTML two-branch model (--loss ltml / ltml-llr) in the end-to-end setting "
            "needs a ResNet-style backbone with a last stage layer4 (resnet18/34/50/101 or timm:resnet*)"
        )
    owner.layer4 = nn.Identity()
    return backbone, last


class ImageDualBranchClassifier(nn.Module):
    """LTML's image model: shared stages, a per-branch copy of the last stage and a per-branch head.

    Args:
        backbone: a backbone ``(B, 3, H, W) -> (B, D, h, w)`` with ``out_channels`` ``D``, split by
            :func:`split_last_stage` (it is modified in place).
        head_u, head_r: the two image heads ``(B, D, h, w) -> (B, C)`` (Subnet-U's, Subnet-R's).
        amp_dtype: autocast dtype on CUDA inputs (as :class:`~partialml.models.image_heads.ImageClassifier`).
        name: the model's name, for the error of an unsupported backbone.

    Submodules: ``backbone`` (``trunk``, ``last_u``, ``last_r``: the optimizer's backbone group) and
    ``head`` (``u``, ``r``: the head group). ``last_r`` starts as a deep copy of ``last_u``.
    """

    standardize: None = None

    def __init__(
        self,
        backbone: nn.Module,
        head_u: nn.Module,
        head_r: nn.Module,
        *,
        amp_dtype: torch.dtype | None = None,
        name: str = "",
    ) -> None:
        super().__init__()
        self.out_channels = int(cast(Any, backbone).out_channels)
        trunk, last = split_last_stage(backbone, name=name)
        self.backbone = nn.ModuleDict({"trunk": trunk, "last_u": last, "last_r": copy.deepcopy(last)})
        self.head = nn.ModuleDict({"u": head_u, "r": head_r})
        self.amp_dtype = amp_dtype

    def branches(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(u, r)``: both branches' logits ``(B, C)`` float32 on images ``(B, 3, H, W)``; the shared
        stages run once."""
        use_amp = self.amp_dtype is not None and x.device.type == "cuda"
        with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype, enabled=use_amp):
            h = self.backbone["trunk"](x)
            u = self.head["u"](self.backbone["last_u"](h))
            r = self.head["r"](self.backbone["last_r"](h))
        return u.float(), r.float()

    def forward(self, x: Tensor) -> Tensor:
        """The test-time combination: logit of the mean of the two branches' probabilities."""
        u, r = self.branches(x)
        return average_probability_logit(u, r)


__all__ = [
    "DUAL_BRANCH",
    "DualBranchClassifier",
    "ImageDualBranchClassifier",
    "average_probability_logit",
    "build_dual_branch_classifier",
    "model_from_meta",
    "split_last_stage",
]
