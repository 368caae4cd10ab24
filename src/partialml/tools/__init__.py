"""Practitioner tools for trained runs: missing-label suggestions, per-class thresholds, model export.

* :mod:`partialml.tools.suggest`: rank the unknown training entries most likely positive
  (``partialml suggest``), in-sample or out-of-fold; cleanlab-ready probabilities.
* :mod:`partialml.tools.thresholds`: per-class thresholds maximizing validation F1
  (``partialml predict --thresholds tuned``).
* :mod:`partialml.tools.export`: safetensors + JSON sidecar (``partialml export``) and
  :func:`partialml.load`.
* :mod:`partialml.tools.memory`: the engine's training loop in memory (no run directory), used by
  the out-of-fold scoring and by :class:`partialml.sklearn.PartialLabelClassifier`.
"""

from __future__ import annotations

from partialml.tools.export import ExportedModel, export_run, load_exported
from partialml.tools.suggest import (
    Suggestion,
    TrainingScores,
    cleanlab_inputs,
    rank_unknown,
    suggest,
    suggestions_csv,
    training_scores,
)
from partialml.tools.thresholds import f1_at, run_thresholds, tune_thresholds

__all__ = [
    "ExportedModel",
    "Suggestion",
    "TrainingScores",
    "cleanlab_inputs",
    "export_run",
    "f1_at",
    "load_exported",
    "rank_unknown",
    "run_thresholds",
    "suggest",
    "suggestions_csv",
    "training_scores",
    "tune_thresholds",
]
