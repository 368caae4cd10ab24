"""Image transform presets (``torchvision.transforms.v2`` on ``uint8`` tensors, resize first).

Every preset takes the ``uint8`` ``(3, H, W)`` tensor of :func:`partialml.data.images.decode_image_file` and
returns ``float32`` ``(3, image_size, image_size)``. Resizing comes first, on ``uint8`` (bilinear with
antialiasing, like Pillow's resize in the original ``torchvision.transforms`` v1 pipelines), so that the
remaining steps work on the small image; the conversion to float is last but one.

=================== ========================================================================================
preset              steps (``train=True``; at evaluation the random steps are left out)
=================== ========================================================================================
``"ll"``            Cole et al. (CVPR 2021) / LL (Kim et al., CVPR 2022) recipe, ``image_size=448`` there:
                    resize to ``S x S`` (aspect ratio not kept), random horizontal flip (p = 0.5),
                    ``[0, 1]`` scaling, ImageNet mean/std normalization.
``"robust-loss"``   Hill/SPLC (Zhang et al. 2021, xinyu1205/robust-loss-mlml ``train.py``, inherited from
                    ASL), 448 there: resize to ``S x S``, :class:`RandomCutout` (half-size box, random fill
                    colour), RandAugment, ``[0, 1]`` scaling, **no normalization** (ToTensor only), no flip.
                    Evaluation: resize, ``[0, 1]`` scaling.
``"plain"``         resize to ``S x S``, ``[0, 1]`` scaling, ImageNet normalization; nothing random.
=================== ========================================================================================

What ``"robust-loss"`` reproduces exactly, and what not:

* exact: the order (resize, cutout, RandAugment, to-tensor), the cutout box (side ``int(0.5 * side + 0.5)``,
  centre uniform over the image, clipped at the borders, both ends inclusive as in ``ImageDraw.rectangle``, one
  random RGB fill colour, applied to every image), no flip, no normalization at train and test time.
* approximate: RandAugment. The original uses the pip package ``randaugment`` (a Pillow implementation with its
  own operation list and magnitudes); here it is ``torchvision.transforms.v2.RandAugment()`` with torchvision's
  defaults (2 operations, magnitude 9 of 31 bins). The random numbers come from ``torch``'s generator (so the
  DataLoader's per-worker seeding covers them), not from ``random`` / ``numpy`` as in the original.
* the original skips normalization although torchvision's ImageNet weights expect it (reference-methods.md
  §3.4); pass ``normalize=True`` to add the ImageNet normalization.

Example:
    >>> import torch
    >>> t = build_transforms("ll", image_size=64, train=True)
    >>> t(torch.zeros(3, 375, 500, dtype=torch.uint8)).shape
    torch.Size([3, 64, 64])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

import torch

from partialml.errors import PartialMLError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "RandomCutout",
    "ToFloatImage",
    "TransformPreset",
    "build_transforms",
]

TransformPreset = Literal["ll", "robust-loss", "plain"]
PRESETS: Final = ("ll", "robust-loss", "plain")
#: ImageNet channel statistics used by torchvision's pretrained weights (and Cole/LL's ``Normalize``).
IMAGENET_MEAN: Final = (0.485, 0.456, 0.406)
IMAGENET_STD: Final = (0.229, 0.224, 0.225)


class RandomCutout(torch.nn.Module):
    """ASL's ``CutoutPIL`` on a ``uint8`` (or float) ``(C, H, W)`` tensor: one box filled with a random colour.

    Box: side ``h_box = int(factor * H + 0.5)`` by ``w_box = int(factor * W + 0.5)``, centre ``(yc, xc)``
    uniform over the pixels, rows ``clip(yc - h_box // 2, 0, H) .. clip(yc + h_box // 2, 0, H)`` and likewise
    columns, both ends inclusive (Pillow's ``ImageDraw.rectangle``). Fill: one colour, each channel uniform in
    ``0..255`` (``[0, 1]`` scaled for a float image). Applied with probability 1, as in the original.
    (The original names the width ``h`` and draws the centre's row over the width; this makes no difference
    for the square images it is applied to after the resize, and this version uses the true axes.)

    Args:
        factor: box side as a fraction of the image side; 0.5 in ASL and robust-loss-mlml.
    """

    def __init__(self, *, factor: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= factor <= 1.0:
            raise PartialMLError(f"cutout factor={factor}; expected a fraction in [0, 1]")
        self.factor = factor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        c, h, w = image.shape[-3:]
        h_box, w_box = int(self.factor * h + 0.5), int(self.factor * w + 0.5)
        yc = int(torch.randint(h, ()).item())
        xc = int(torch.randint(w, ()).item())
        y1, y2 = min(max(yc - h_box // 2, 0), h), min(max(yc + h_box // 2, 0), h)
        x1, x2 = min(max(xc - w_box // 2, 0), w), min(max(xc + w_box // 2, 0), w)
        colour = torch.randint(0, 256, (3,))
        fill = colour if c == 3 else colour[:1].expand(c)
        out = image.clone()
        value = fill.to(image.dtype) if not image.is_floating_point() else fill.to(image.dtype) / 255.0
        out[..., :, y1 : y2 + 1, x1 : x2 + 1] = value.to(image.device).view(-1, 1, 1)
        return out

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class ToFloatImage(torch.nn.Module):
    """``uint8`` ``(3, H, W)`` -> contiguous ``float32`` ``x / 255``, then optionally ImageNet-normalized
    ``(x / 255 - mean) / std``, computed as ``x * (1 / (255 std)) - mean / std`` in one converted copy and one
    in-place pass (``v2.ToDtype(scale=True)`` + ``v2.Normalize`` give the same values within 1e-6 but are
    about 3x slower on the channels-last tensors that ``torchvision.io`` decodes to). A float input is taken
    as already in ``[0, 1]``.

    Args:
        normalize: subtract :data:`IMAGENET_MEAN` and divide by :data:`IMAGENET_STD`.
    """

    def __init__(self, *, normalize: bool) -> None:
        super().__init__()
        self.normalize = normalize
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
        self._inv_std = 1.0 / std
        self._bias = -mean / std

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        div = 1.0 if image.is_floating_point() else 255.0
        if not self.normalize:
            return x.div_(div) if div != 1.0 else x
        scale, bias = (self._inv_std / div).to(x.device), self._bias.to(x.device)
        return x.mul_(scale).add_(bias)

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}"


def build_transforms(
    preset: TransformPreset, *, image_size: int, train: bool, normalize: bool | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The transform of a preset (see the module docstring for the exact steps and their sources).

    Args:
        preset: ``"ll"`` (Cole/LL recipe), ``"robust-loss"`` (Hill/SPLC recipe) or ``"plain"``.
        image_size: output side ``S`` (448 in both papers' recipes).
        train: the training transform (with the preset's random augmentation) or the evaluation one.
        normalize: ImageNet mean/std normalization; ``None``: the preset's own choice (``"ll"`` and
            ``"plain"``: yes; ``"robust-loss"``: no, as the original).

    Returns:
        A ``torchvision.transforms.v2.Compose``: ``uint8 (3, H, W)`` -> ``float32 (3, S, S)``.

    Raises:
        PartialMLError: an unknown preset or a non-positive ``image_size``.
    """
    from torchvision.transforms import v2

    if preset not in PRESETS:
        raise PartialMLError(f"unknown transform preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise PartialMLError(f"image_size={image_size!r}; expected a positive integer")
    if normalize is None:
        normalize = preset != "robust-loss"
    steps: list[Callable[..., torch.Tensor]] = [v2.Resize((image_size, image_size), antialias=True)]
    if train and preset == "ll":
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    if train and preset == "robust-loss":
        steps += [RandomCutout(factor=0.5), v2.RandAugment()]
    steps.append(ToFloatImage(normalize=normalize))
    return v2.Compose(steps)
