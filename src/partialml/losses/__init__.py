"""Losses for multi-label learning from incomplete labels.

Every loss is a pure function (in its family module, re-exported by :mod:`partialml.losses.functional`)
plus a thin :class:`~partialml.losses.base.PartialLabelLoss` module, registered by name:
``create_loss(name, **kwargs)``, ``list_losses(pattern)``.
"""

from partialml.losses import (
    asymmetric,
    bce,
    functional,
    large_loss,
    long_tail,
    reweight,
    robust,
    single_positive,
)
from partialml.losses.base import PartialLabelLoss, Reduction, reduce_loss
from partialml.losses.registry import create_loss, list_losses, loss_entry, loss_options, register_loss

__all__ = [
    "PartialLabelLoss",
    "Reduction",
    "asymmetric",
    "bce",
    "create_loss",
    "functional",
    "large_loss",
    "list_losses",
    "long_tail",
    "loss_entry",
    "loss_options",
    "reduce_loss",
    "register_loss",
    "reweight",
    "robust",
    "single_positive",
]
