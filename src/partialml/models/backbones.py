"""Image backbones that end in a feature map: torchvision ResNets, any timm model, a narrow ResNet-18.

Every backbone built here maps images ``(B, 3, H, W)`` float to a feature map ``(B, D, h, w)`` (no
pooling, no classifier), so that a head can pool it (:class:`~partialml.models.image_heads.GAPLinearHead`)
or compute class activation maps first (:class:`~partialml.models.image_heads.CAMHead`, BoostLU).

Names (``build_backbone(name)``):

* ``resnet18``, ``resnet34``, ``resnet50``, ``resnet101``: torchvision's ResNets, trunk up to ``layer4``
  (LL's model: "ResNet-50 trunk up to the last conv block", Kim et al. CVPR 2022; Cole et al. CVPR 2021).
  The state-dict keys are torchvision's (``conv1.weight``, ``layer1.0.bn1.running_mean`` ...), minus ``fc``.
* ``resnet18`` with ``width != 64``: the same architecture (torchvision's ``BasicBlock``) with stage widths
  ``width x (1, 2, 4, 8)``; for training from scratch on a CPU (issue #4's semi-synthetic benchmark).
* ``timm:NAME``: ``timm.create_model(NAME, num_classes=0, global_pool="")`` (needs ``partialml[timm]``);
  state-dict keys are timm's, minus its classifier.

Weights (``weights=``): ``None`` random initialization (PyTorch's defaults); a path to a local state dict
(torchvision or timm format, optionally wrapped in ``{"state_dict": ...}`` or ``{"model": ...}`` and with
DDP's ``module.`` prefix): the classifier's keys are dropped and the rest must match the backbone exactly
(strict), else :class:`~partialml.errors.PartialMLError` names the file and counts the missing, unexpected
and mis-shaped keys; ``"imagenet"``: the library's ImageNet weights, downloaded by torchvision / timm into
their cache (needs a network; the error says what to do offline). Tests never download.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from partialml.errors import PartialMLError

#: torchvision ResNets by name: (block, layers, ImageNet weights enum name).
_RESNETS: dict[str, tuple[str, list[int], str]] = {
    "resnet18": ("basic", [2, 2, 2, 2], "ResNet18_Weights"),
    "resnet34": ("basic", [3, 4, 6, 3], "ResNet34_Weights"),
    "resnet50": ("bottleneck", [3, 4, 6, 3], "ResNet50_Weights"),
    "resnet101": ("bottleneck", [3, 4, 23, 3], "ResNet101_Weights"),
}

#: Key prefixes of classifiers in torchvision / timm checkpoints; dropped before the strict load.
CLASSIFIER_PREFIXES: tuple[str, ...] = ("fc.", "head.", "classifier.", "last_linear.", "head.fc.")

VISION_EXTRA = "pip install 'partialml[vision]'"


def backbone_names() -> list[str]:
    """The torchvision names accepted by :func:`build_backbone` (plus any ``timm:NAME``)."""
    return list(_RESNETS)


def _torchvision() -> Any:
    try:
        import torchvision
    except ImportError:
        raise PartialMLError(f"--model: torchvision is not installed; {VISION_EXTRA}") from None
    return torchvision


class ResNetTrunk(nn.Module):
    """A torchvision-style ResNet without pooling and classifier: ``(B, 3, H, W) -> (B, D, H/32, W/32)``.

    Built with torchvision's ``BasicBlock`` / ``Bottleneck`` so that its state-dict keys are those of
    ``torchvision.models.resnetXX()`` without ``fc.*``. ``width`` is the channel count of the first stage
    (64 in every torchvision ResNet); stages have ``width x (1, 2, 4, 8)`` channels (times 4 for
    bottlenecks), so ``out_channels = 8 * width * expansion``.
    """

    def __init__(self, block: str, layers: list[int], *, width: int = 64) -> None:
        super().__init__()
        from torchvision.models import resnet as tv_resnet

        block_cls: Any = tv_resnet.BasicBlock if block == "basic" else tv_resnet.Bottleneck
        if width < 1:
            raise PartialMLError(f"--width: got {width}; expected an integer >= 1")
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block_cls, width, layers[0], stride=1)
        self.layer2 = self._make_layer(block_cls, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block_cls, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block_cls, 8 * width, layers[3], stride=2)
        self.out_channels = 8 * width * block_cls.expansion
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block: Any, planes: int, blocks: int, *, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        out = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        out.extend(block(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class TimmTrunk(nn.Module):
    """A timm model's ``forward_features``: ``(B, 3, H, W) -> (B, D, h, w)`` (the ``model`` attribute
    keeps timm's state-dict keys under ``model.``; weight files are loaded into ``model``)."""

    def __init__(self, name: str, *, pretrained: bool = False) -> None:
        super().__init__()
        try:
            import timm
        except ImportError:
            raise PartialMLError(
                f"--model timm:{name}: timm is not installed; pip install 'partialml[timm]'"
            ) from None
        try:
            self.model = timm.create_model(name, pretrained=pretrained, num_classes=0, global_pool="")
        except RuntimeError as exc:  # unknown model name
            raise PartialMLError(f"--model timm:{name}: {' '.join(str(exc).split())}") from None
        self.out_channels = int(self.model.num_features)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.model.forward_features(x)
        if out.ndim == 3:  # token sequences (ViT): (B, N, D) -> (B, D, N, 1) so that heads can pool
            out = out.transpose(1, 2).unsqueeze(-1)
        return out


def build_backbone(name: str, *, weights: str | Path | None = None, width: int = 64) -> nn.Module:
    """A backbone ``(B, 3, H, W) -> (B, out_channels, h, w)`` with an ``out_channels`` attribute.

    Args:
        name: ``resnet18|34|50|101`` (torchvision) or ``timm:NAME``.
        weights: ``None`` (random), ``"imagenet"`` (downloaded by torchvision / timm) or a local file.
        width: first-stage width of the torchvision ResNets (64 = torchvision's; smaller for CPU work).

    Raises:
        PartialMLError: unknown name, missing optional dependency, a weight file that does not fit,
            a failed download.
    """
    if name.startswith("timm:"):
        timm_name = name[len("timm:") :]
        if width != 64:
            raise PartialMLError(f"--width applies to the torchvision ResNets only, not {name!r}")
        trunk: nn.Module = _download(name, lambda: TimmTrunk(timm_name, pretrained=weights == "imagenet"))
        target: nn.Module = cast(nn.Module, trunk.model)
    elif name in _RESNETS:
        _torchvision()
        block, layers, enum_name = _RESNETS[name]
        trunk = ResNetTrunk(block, layers, width=width)
        target = trunk
        if weights == "imagenet":
            if width != 64:
                raise PartialMLError(f"--weights imagenet needs --width 64 (got {width}) for {name}")
            state = _download(name, lambda: _torchvision_imagenet_state(name, enum_name))
            load_backbone_weights(trunk, state, source=f"{name} ImageNet weights")
            return trunk
    else:
        valid = ", ".join([*_RESNETS, "timm:NAME"])
        raise PartialMLError(f"--model: unknown model {name!r}; expected one of {valid}")
    if weights is not None and weights != "imagenet":
        load_backbone_weights(target, read_weight_file(weights), source=str(weights))
    return trunk


def _torchvision_imagenet_state(name: str, enum_name: str) -> dict[str, Tensor]:
    tv = _torchvision()
    enum = getattr(tv.models, enum_name)
    model = getattr(tv.models, name)(weights=enum.IMAGENET1K_V1)
    return dict(model.state_dict())


def _download(name: str, make: Any) -> Any:
    """Run ``make()``; a failed download becomes one line that says what to do offline."""
    try:
        return make()
    except PartialMLError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise PartialMLError(
            f"--weights imagenet: could not get the ImageNet weights of {name} ({reason}); offline, "
            "download the weight file on a machine with a network and pass --weights PATH"
        ) from None


def read_weight_file(path: str | Path) -> dict[str, Tensor]:
    """A state dict from a local file (``torch.load(weights_only=True)``; ``.safetensors`` too).

    Wrappers ``{"state_dict": ...}`` / ``{"model": ...}`` are unwrapped and DDP's ``module.`` prefix removed.
    """
    p = Path(path)
    if not p.is_file():
        raise PartialMLError("weight file not found; expected a state dict (.pt/.pth/.safetensors)", path=p)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(p))
        else:
            with warnings.catch_warnings():  # torch warns about foreign pickle protocols before failing
                warnings.simplefilter("ignore", UserWarning)
                raw = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is the user's input problem
        text = str(exc)
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)  # torch's long weights_only text
        reason = " ".join((detail.group(1) if detail else text).split())[:160] or type(exc).__name__
        if detail:
            reason = f"not a tensor-only torch.save file: {reason}"
        raise PartialMLError(
            f"cannot read the weight file ({reason}); expected a state dict", path=p
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(raw, Mapping) and isinstance(raw.get(key), Mapping):
            raw = raw[key]
    if not isinstance(raw, Mapping) or not all(isinstance(v, Tensor) for v in raw.values()):
        raise PartialMLError("expected a state dict (a mapping of names to tensors)", path=p)
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in raw.items()}


def load_backbone_weights(module: nn.Module, state: Mapping[str, Tensor], *, source: str) -> None:
    """Load ``state`` into ``module`` strictly, after dropping classifier keys the module does not have.

    Raises:
        PartialMLError: naming ``source`` with the number of missing, unexpected and mis-shaped keys
            (a weight file of another architecture), and the first few of them.
    """
    expected = module.state_dict()
    given = {
        k: v
        for k, v in state.items()
        if k in expected or not any(k.startswith(prefix) for prefix in CLASSIFIER_PREFIXES)
    }
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shape = [k for k in given if k in expected and tuple(given[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shape:
        examples = ", ".join((missing + unexpected + shape)[:3])
        raise PartialMLError(
            f"the weights do not fit the backbone: {len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(shape)} of another shape of {len(expected)} keys (e.g. {examples}); expected a state "
            "dict of the same architecture (--model, --width)",
            path=source,
        )
    module.load_state_dict(dict(given), strict=True)


__all__ = [
    "CLASSIFIER_PREFIXES",
    "ResNetTrunk",
    "TimmTrunk",
    "backbone_names",
    "build_backbone",
    "load_backbone_weights",
    "read_weight_file",
]
