"""Precision and recall of the large-loss selection (LL paper, Kim et al., CVPR 2022, Fig. 4), per epoch.

At each step LL-R / LL-Ct / LL-Cp choose ``k`` unknown entries with the largest AN loss (rejected or
corrected; :attr:`~partialml.losses.large_loss._LargeLoss.last_selection`). Against the full labels:

* ``precision = |chosen AND truly positive| / |chosen|``: the share of chosen entries that are false
  negatives (the entries LL is meant to find);
* ``recall = |chosen AND truly positive| / |unknown AND truly positive|``: the share of the false
  negatives seen in the epoch that were chosen (each training entry is seen once per epoch);
* ``fn_rate``: the share of false negatives among the unknown entries seen, i.e. the precision of a
  uniformly random choice (the baseline the precision must beat).

Unknown entries are those unknown in the step's targets, so an LL-Cp correction, once written, leaves
the pool in later epochs. Epochs without a choice (epoch 0, the warm-up) have ``precision = None``.

Every setting: the recorder is a step callback of the trainer, which sees the batches of feature rows
and of images alike (``--setting end-to-end`` / ``linear-init``: the image labels are read once per run;
for ``linear-init`` the recorded epochs are those of phase 2, the end-to-end fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from partialml.errors import PartialMLError

__all__ = [
    "LL_LOSSES",
    "SELECTION_OUTPUTS",
    "SelectionCounts",
    "SelectionRecorder",
    "run_selection",
    "selection_counts",
]


@dataclass
class SelectionCounts:
    """Counts of one or more steps: ``chosen``, ``chosen_fn`` (chosen and truly positive), ``unknown``
    (unknown entries seen) and ``fn`` (unknown and truly positive entries seen)."""

    chosen: int = 0
    chosen_fn: int = 0
    unknown: int = 0
    fn: int = 0

    def __iadd__(self, other: SelectionCounts) -> SelectionCounts:
        self.chosen += other.chosen
        self.chosen_fn += other.chosen_fn
        self.unknown += other.unknown
        self.fn += other.fn
        return self

    @property
    def precision(self) -> float | None:
        return self.chosen_fn / self.chosen if self.chosen else None

    @property
    def recall(self) -> float | None:
        return self.chosen_fn / self.fn if self.fn else None

    @property
    def fn_rate(self) -> float | None:
        return self.fn / self.unknown if self.unknown else None

    def to_row(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "chosen_fn": self.chosen_fn,
            "unknown": self.unknown,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "fn_rate": self.fn_rate,
        }


def selection_counts(chosen: Tensor, targets: Tensor, full: Tensor) -> SelectionCounts:
    """Counts of a ``(B, C)`` bool ``chosen`` mask against ``(B, C)`` ``targets`` (1 / 0 / -1) and
    ``(B, C)`` ``full`` labels (1 / 0; ``-1`` counts as not positive).

    Raises:
        PartialMLError: the shapes differ, or an entry that is not unknown was chosen.

    Example:
        >>> c = selection_counts(torch.tensor([[True, False, True]]), torch.tensor([[-1, -1, -1]]),
        ...                      torch.tensor([[1, 1, 0]]))
        >>> (c.precision, c.recall)
        (0.5, 0.5)
    """
    if not (chosen.shape == targets.shape == full.shape):
        raise PartialMLError(
            f"chosen {tuple(chosen.shape)}, targets {tuple(targets.shape)} and full labels "
            f"{tuple(full.shape)} must have one shape"
        )
    chosen = chosen.to(torch.bool)
    unknown = targets == -1
    if bool((chosen & ~unknown).any()):
        raise PartialMLError("the selection chose an entry that is not unknown")
    truly_pos = full.to(targets.device) == 1
    fn = unknown & truly_pos
    return SelectionCounts(
        chosen=int(chosen.sum()),
        chosen_fn=int((chosen & truly_pos).sum()),
        unknown=int(unknown.sum()),
        fn=int(fn.sum()),
    )


@dataclass
class SelectionRecorder:
    """A trainer step callback that accumulates :class:`SelectionCounts` per epoch from the loss's
    ``last_selection`` (LL-R / LL-Ct / LL-Cp).

    Args:
        full: ``(N, C)`` full labels of the training subset (positions ``0 .. N - 1``).
    """

    full: Tensor
    per_epoch: dict[int, SelectionCounts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.full = torch.as_tensor(np.asarray(self.full))

    def __call__(
        self, epoch: int, step: int, positions: Tensor, logits: Tensor, targets: Tensor, loss_fn: Any
    ) -> None:
        del step, logits
        if not hasattr(loss_fn, "last_selection"):
            raise PartialMLError(
                f"loss {type(loss_fn).__name__} does not expose its selection; use ll-r, ll-ct or ll-cp"
            )
        chosen = loss_fn.last_selection
        if chosen is None:
            chosen = torch.zeros_like(targets, dtype=torch.bool)
        full = self.full[positions.detach().cpu()]
        counts = selection_counts(chosen.detach().cpu(), targets.detach().cpu(), full)
        self.per_epoch.setdefault(epoch, SelectionCounts())
        self.per_epoch[epoch] += counts

    def rows(self) -> list[dict[str, Any]]:
        """One row per recorded epoch: ``{"epoch", "chosen", "chosen_fn", ..., "precision", "recall"}``."""
        return [{"epoch": e, **self.per_epoch[e].to_row()} for e in sorted(self.per_epoch)]


#: Files :func:`run_selection` writes in its output folder (besides ``runs/``).
SELECTION_OUTPUTS = ("selection.csv", "selection.json", "selection.png")
SELECTION_COLUMNS = (
    "loss",
    "seed",
    "epoch",
    "chosen",
    "chosen_fn",
    "unknown",
    "fn",
    "precision",
    "recall",
    "fn_rate",
    "val_mAP",
)
LL_LOSSES = ("ll-r", "ll-ct", "ll-cp")


def run_selection(
    config: Any,
    *,
    losses: Sequence[str],
    output_dir: str | Path,
    seeds: Sequence[int] | None = None,
    overwrite: bool = False,
    plot: bool = True,
) -> dict[str, Any]:
    """Train each LL loss of ``losses`` (``config.loss_args`` apply to all; each loss keeps its own
    default ``delta_rel`` unless one is given) for each seed (default: ``config.seed``) in
    ``OUT/runs/<loss>_s<seed>`` and record the selection per epoch.

    Writes ``selection.csv`` (one row per loss, seed and epoch, with the epoch's validation mAP),
    ``selection.json`` (protocol, rows, and per loss and epoch the mean +- std of precision and recall
    over seeds) and ``selection.png`` (precision and recall per epoch, seed 0's run or the first seed).
    """
    from partialml.analysis.sweeps import check_output_dir, mean_std, train_run, write_csv, write_json
    from partialml.engine.extract import IMAGE_SETTINGS
    from partialml.engine.inference import prepare_setting_data
    from partialml.engine.trainer import check_loss_options, load_data

    for loss in losses:
        if loss not in LL_LOSSES:
            raise PartialMLError(f"--loss: got {loss!r}; the selection analysis needs {', '.join(LL_LOSSES)}")
        check_loss_options(loss, config.loss_args)
    seeds = [config.seed] if not seeds else list(seeds)
    out = check_output_dir(output_dir, SELECTION_OUTPUTS, overwrite=overwrite)
    data = None if config.setting in IMAGE_SETTINGS else load_data(config.data, format=config.format)
    rows: list[dict[str, Any]] = []
    protocols: dict[str, Any] = {}
    for loss in losses:
        for seed in seeds:
            cfg = config.updated({"loss": loss, "seed": seed})
            prepared, _ = prepare_setting_data(cfg, data)  # image settings: the image labels
            recorder = SelectionRecorder(full=torch.as_tensor(prepared.full[prepared.train_rows]))
            result = train_run(
                cfg,
                data=data,
                run_dir=out / "runs" / f"{loss}_s{seed}",
                overwrite=overwrite,
                step_callback=recorder,
            )
            protocols[loss] = result.metrics["protocol"]
            history = {int(h["epoch"]): h for h in result.history}
            for row in recorder.rows():
                rows.append(
                    {
                        "loss": loss,
                        "seed": seed,
                        **row,
                        "val_mAP": history.get(row["epoch"], {}).get("val_mAP"),
                    }
                )
    summary: list[dict[str, Any]] = []
    for loss in losses:
        for epoch in sorted({r["epoch"] for r in rows if r["loss"] == loss}):
            mine = [r for r in rows if r["loss"] == loss and r["epoch"] == epoch]
            p_mean, p_std, p_n = mean_std(r["precision"] for r in mine)
            r_mean, r_std, _ = mean_std(r["recall"] for r in mine)
            summary.append(
                {
                    "loss": loss,
                    "epoch": epoch,
                    "precision_mean": p_mean,
                    "precision_std": p_std,
                    "recall_mean": r_mean,
                    "recall_std": r_std,
                    "fn_rate_mean": mean_std(r["fn_rate"] for r in mine)[0],
                    "seeds": p_n,
                }
            )
    write_csv(out / "selection.csv", rows, SELECTION_COLUMNS)
    payload = {
        "analysis": "selection",
        "protocols": protocols,
        "seeds": seeds,
        "rows": rows,
        "summary": summary,
    }
    write_json(out / "selection.json", payload)
    if plot:
        from partialml.analysis.plots_analysis import plot_selection

        shown = [r for r in rows if r["seed"] == seeds[0]]
        name = next(iter(protocols.values()))["data_name"] if protocols else config.data
        plot_selection(shown, out / "selection.png", title=f"{name}: {config.partial}, seed {seeds[0]}")
    return payload
