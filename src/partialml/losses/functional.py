"""Every loss of partialml as a pure function, in one namespace (``torch.nn.functional`` style).

Each function takes ``logits`` ``(B, C)`` and ``targets`` ``(B, C)`` in the partialml encoding (``1`` observed
positive, ``0`` observed negative, ``-1`` unknown) plus keyword-only options, and returns the reduced loss (or the
``(B, C)`` matrix with ``reduction="none"`` where the function has a ``reduction``). The registered modules
(:func:`partialml.losses.create_loss`) call these functions and add state: the epoch, ROLE's estimates, APL's
pseudo-labels, LL-Cp's corrections.

Example:
    >>> import torch
    >>> from partialml.losses import functional as PF
    >>> logits = torch.zeros(2, 3)
    >>> targets = torch.tensor([[1, -1, -1], [-1, 0, 1]])
    >>> float(PF.ll_r_loss(logits, targets, epoch=0, delta_rel=0.002)) == float(PF.an_loss(logits, targets))
    True
"""

from __future__ import annotations

from partialml.losses.asymmetric import asl_loss, focal_loss
from partialml.losses.base import reduce_loss
from partialml.losses.bce import an_loss, an_ls_loss, an_per_entry, bce_loss, iu_loss, wan_loss
from partialml.losses.large_loss import large_loss_selection, ll_cp_loss, ll_ct_loss, ll_k, ll_r_loss, ll_rate
from partialml.losses.long_tail import (
    db_class_bias,
    db_loss,
    db_rebalance_weights,
    ltml_class_weights,
    ltml_classification_loss,
    ltml_consistency,
)
from partialml.losses.reweight import inverse_frequency_weights
from partialml.losses.robust import hill_loss, splc_loss, splc_pseudo_labels
from partialml.losses.single_positive import (
    apl_select,
    em_loss,
    epr_loss,
    estimate_expected_positives,
    expected_positive_regularizer,
    role_initial_logits,
    role_loss,
)

__all__ = [
    "an_loss",
    "an_ls_loss",
    "an_per_entry",
    "apl_select",
    "asl_loss",
    "bce_loss",
    "db_class_bias",
    "db_loss",
    "db_rebalance_weights",
    "em_loss",
    "epr_loss",
    "estimate_expected_positives",
    "expected_positive_regularizer",
    "focal_loss",
    "hill_loss",
    "inverse_frequency_weights",
    "iu_loss",
    "large_loss_selection",
    "ll_cp_loss",
    "ll_ct_loss",
    "ll_k",
    "ll_r_loss",
    "ll_rate",
    "ltml_class_weights",
    "ltml_classification_loss",
    "ltml_consistency",
    "reduce_loss",
    "role_initial_logits",
    "role_loss",
    "splc_loss",
    "splc_pseudo_labels",
    "wan_loss",
]
