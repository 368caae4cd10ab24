"""partialml.metrics: AP / mAP with explicit policies, the F1 family, P@k / R@k and group breakdowns.

All functions take ``(N, C)`` scores (probabilities or logits) and labels in ``{1, 0, -1}`` as tensors
on any device or NumPy arrays, compute on the CPU in float64 and never modify their inputs; entries
equal to ``ignore_index`` (``-1``, unknown) are left out per class.
"""

from __future__ import annotations

from partialml.metrics.average_precision import (
    EmptyClassPolicy,
    MAPReport,
    average_precision,
    check_scores_labels,
    map_report,
    mean_average_precision,
)
from partialml.metrics.classification import F1_KEYS, f1_scores, precision_at_k, recall_at_k
from partialml.metrics.groups import frequency_quantile_groups, group_mean_ap, head_medium_tail_groups

__all__ = [
    "F1_KEYS",
    "EmptyClassPolicy",
    "MAPReport",
    "average_precision",
    "check_scores_labels",
    "f1_scores",
    "frequency_quantile_groups",
    "group_mean_ap",
    "head_medium_tail_groups",
    "map_report",
    "mean_average_precision",
    "precision_at_k",
    "recall_at_k",
]
