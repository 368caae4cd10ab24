"""partialml.analysis: the analyses of the LL paper (Kim et al., CVPR 2022) on the ``features`` setting.

* :mod:`~partialml.analysis.memorization`: per-entry loss history, Table 1 (highest loss in the warm-up
  epoch or later, per true positive / true negative / false negative) and the loss curves;
* :mod:`~partialml.analysis.selection`: precision and recall of the large-loss selection per epoch;
* :mod:`~partialml.analysis.sweeps`: ``delta_rel`` and training-set-size sweeps over seeds;
* :mod:`~partialml.analysis.plots_analysis`: their charts (matplotlib, Agg canvas).

The command line is ``partialml analyze memorization | selection | delta-rel | data-size``.
"""

from partialml.analysis.memorization import (
    CATEGORIES,
    LossRecorder,
    categorize_entries,
    loss_curves,
    memorization_table,
    run_memorization,
    sample_entries,
)
from partialml.analysis.selection import SelectionCounts, SelectionRecorder, run_selection, selection_counts
from partialml.analysis.sweeps import mean_std, run_data_size, run_delta_rel, subsample_training

__all__ = [
    "CATEGORIES",
    "LossRecorder",
    "SelectionCounts",
    "SelectionRecorder",
    "categorize_entries",
    "loss_curves",
    "mean_std",
    "memorization_table",
    "run_data_size",
    "run_delta_rel",
    "run_memorization",
    "run_selection",
    "sample_entries",
    "selection_counts",
    "subsample_training",
]
