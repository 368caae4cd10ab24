"""Heads on a backbone's feature map, and the image classifier (backbone + head, AMP, channels_last).

* :class:`GAPLinearHead`: global average pooling then ``nn.Linear(D, C)``: the classifier of Cole et al.
  (CVPR 2021) and LL (Kim et al., CVPR 2022). ``(B, D, h, w) -> (B, C)``.
* :class:`CAMHead`: a 1x1 convolution ``(B, D, h, w) -> (B, C, h, w)`` (with bias) gives a class
  activation map (CAM) per class; BoostLU (Kim et al., "Bridging the gap between model explanations in
  partially annotated multi-label classification", CVPR 2023) multiplies every positive CAM value by
  ``alpha`` and leaves the negative values unchanged, then global average pooling gives the logits::

      M'_c(i, j) = alpha * M_c(i, j)  if M_c(i, j) > 0  else  M_c(i, j)
      z_c = mean_{i, j} M'_c(i, j)

  applied in the forward pass at **training and test time** (as the official code,
  ``youngwk/BridgeGapExplanationPAMC``: ``torch.where(CAM > 0, CAM * alpha, CAM)``). Default ``alpha = 5``
  is the paper's; ``alpha = 1`` gives the plain linear classifier on the pooled features (pooling and a
  1x1 convolution commute).
* :class:`ImageClassifier`: ``head(backbone(x))`` with optional autocast (``amp_dtype`` bf16 / fp16, CUDA
  inputs only; the logits are returned in float32 so that losses run in full precision).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ImageHeadKind = Literal["linear", "cam"]

#: BoostLU's default boost (Kim et al., CVPR 2023; ``--alpha 5`` in the official code).
BOOSTLU_ALPHA = 5.0


def boostlu(cam: Tensor, alpha: float) -> Tensor:
    """BoostLU: ``alpha * x`` where ``x > 0``, ``x`` elsewhere (any shape, dtype and device kept)."""
    return torch.where(cam > 0, cam * alpha, cam)


class GAPLinearHead(nn.Module):
    """Global average pooling then one linear layer: ``(B, D, h, w) -> (B, C)`` logits."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, feats: Tensor) -> Tensor:
        return self.fc(feats.mean(dim=(2, 3)))


class CAMHead(nn.Module):
    """1x1-conv class activation maps, BoostLU with ``alpha``, then global average pooling.

    Args:
        in_channels: ``D``, the backbone's channels.
        num_classes: ``C``.
        alpha: the boost of positive CAM values (> 0; 1 disables it). Default 5 (BoostLU's).
    """

    def __init__(self, in_channels: int, num_classes: int, *, alpha: float = BOOSTLU_ALPHA) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        self.alpha = float(alpha)

    def cam(self, feats: Tensor) -> Tensor:
        """The boosted class activation maps ``(B, C, h, w)``."""
        return boostlu(self.conv(feats), self.alpha)

    def forward(self, feats: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.cam(feats), 1).flatten(1)


def build_image_head(
    kind: ImageHeadKind, *, in_channels: int, num_classes: int, alpha: float = BOOSTLU_ALPHA
) -> nn.Module:
    """``"linear"``: :class:`GAPLinearHead`; ``"cam"``: :class:`CAMHead` with ``alpha``."""
    if kind == "linear":
        return GAPLinearHead(in_channels, num_classes)
    if kind == "cam":
        return CAMHead(in_channels, num_classes, alpha=alpha)
    raise ValueError(f"unknown image head {kind!r}; expected linear or cam")


class ImageClassifier(nn.Module):
    """``head(backbone(x))``: images ``(B, 3, H, W)`` float to logits ``(B, C)`` float32.

    Args:
        backbone: a module ``(B, 3, H, W) -> (B, D, h, w)`` (:func:`~partialml.models.backbones.build_backbone`).
        head: a module ``(B, D, h, w) -> (B, C)``.
        amp_dtype: ``torch.bfloat16`` / ``torch.float16`` to run the forward pass under
            ``torch.autocast`` when the input is on CUDA (ignored on CPU), or ``None`` (float32).

    The backbone and the head are separate attributes so that the optimizer can give them their own
    learning rates (LL: head at 10x). ``standardize`` is ``None`` (no feature standardization; the
    trainer's checkpoint code reads it).
    """

    standardize: None = None

    def __init__(self, backbone: nn.Module, head: nn.Module, *, amp_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.amp_dtype = amp_dtype

    def forward(self, x: Tensor) -> Tensor:
        use_amp = self.amp_dtype is not None and x.device.type == "cuda"
        with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype, enabled=use_amp):
            logits = self.head(self.backbone(x))
        return logits.float()


__all__ = [
    "BOOSTLU_ALPHA",
    "CAMHead",
    "GAPLinearHead",
    "ImageClassifier",
    "ImageHeadKind",
    "boostlu",
    "build_image_head",
]
