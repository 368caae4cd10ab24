"""The memorization study of the LL paper (Kim et al., "Large Loss Matters in Weakly Supervised
Multi-Label Classification", CVPR 2022, Table 1 and Fig. 2), in every training setting: the recorder is
a step callback of the trainer, which sees the feature batches and the image batches (``--setting
end-to-end``, ``linear-init``: phase 2's epochs, the linear phase is not recorded) alike.

During training with the assume-negative (AN) target, every training entry ``(sample, class)`` gets a
per-entry loss each epoch: ``l = BCE(z, 1[observed == 1])`` (unknown as negative), read at the step where
the sample is seen, **before** that step's update (what the loss sees). The entries fall into:

* ``true_positive``: observed positives (``observed == 1``);
* ``true_negative``: unknown entries that are truly negative (``observed == -1`` and ``full == 0``);
* ``false_negative``: unknown entries that are truly positive (``observed == -1`` and ``full == 1``),
  the label noise that the AN target creates;
* ``observed_negative``: observed negatives (``observed == 0``), only for schemes that have them.

Table 1 of the LL paper: for each group, the share of entries whose **highest** loss over the epochs
happened in the warm-up epoch (0-indexed epoch 0) versus later. The memorization effect: a false
negative's loss starts high (the model first fits the clean signal, which says "positive") and falls
once the model memorizes the wrong target, so its maximum tends to be in an early epoch; the loss curves
(mean per group per epoch) show the same thing. Ties go to the earliest epoch (``argmax``).

Storage: the recorder holds ``(E, M)`` float32 losses in memory for ``M`` recorded entries (all
``N * C`` training entries up to ``max_entries``, else a seeded uniform sample without replacement of
``max_entries`` entries); :func:`save_history` writes them as float16 (``loss_history.npy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from partialml.errors import PartialMLError

__all__ = [
    "CATEGORIES",
    "DEFAULT_MAX_ENTRIES",
    "MEMORIZATION_OUTPUTS",
    "LossRecorder",
    "categorize_entries",
    "loss_curves",
    "memorization_table",
    "run_memorization",
    "sample_entries",
]

#: The entry groups, in report order (``observed_negative`` is reported only when present).
CATEGORIES: Final = ("true_positive", "true_negative", "false_negative", "observed_negative")
_CODES: Final = {name: i for i, name in enumerate(CATEGORIES)}

#: Entries recorded at most (2e6 entries x 25 epochs x 4 bytes = 200 MB in memory, 100 MB float16 on disk).
DEFAULT_MAX_ENTRIES: Final = 2_000_000


def categorize_entries(observed: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Category code per entry (index into :data:`CATEGORIES`), ``(N, C)`` int8; ``-1`` where the full
    label of an unknown entry is itself unknown (not categorized).

    Args:
        observed: ``(N, C)`` observed labels in ``{1, 0, -1}``.
        full: ``(N, C)`` full labels in ``{1, 0}`` (``-1`` tolerated, left uncategorized).
    """
    observed = np.asarray(observed)
    full = np.asarray(full)
    if observed.shape != full.shape:
        raise PartialMLError(f"observed labels {observed.shape} and full labels {full.shape} differ in shape")
    codes = np.full(observed.shape, -1, dtype=np.int8)
    codes[observed == 1] = _CODES["true_positive"]
    codes[observed == 0] = _CODES["observed_negative"]
    unknown = observed == -1
    codes[unknown & (full == 0)] = _CODES["true_negative"]
    codes[unknown & (full == 1)] = _CODES["false_negative"]
    return codes


def sample_entries(num_samples: int, num_classes: int, *, max_entries: int, seed: int) -> np.ndarray:
    """Flat indices ``row * C + col`` (sorted, int64) of the entries to record.

    All ``N * C`` entries when they are at most ``max_entries``; otherwise ``max_entries`` entries drawn
    uniformly without replacement by ``numpy.random.default_rng(seed)``.
    """
    total = num_samples * num_classes
    if max_entries < 1:
        raise PartialMLError(f"--max-entries: got {max_entries}; expected an integer >= 1")
    if total <= max_entries:
        return np.arange(total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=max_entries, replace=False)).astype(np.int64)


def memorization_table(history: np.ndarray, categories: np.ndarray) -> dict[str, dict[str, Any]]:
    """Table 1 of the LL paper from a loss history.

    Args:
        history: ``(E, M)`` per-entry losses, epoch by epoch (0-indexed; epoch 0 is the warm-up).
        categories: ``(M,)`` category codes (:func:`categorize_entries`; ``-1`` entries are left out).

    Returns:
        ``{group: {"count", "warmup", "later", "share_warmup", "share_later"}}`` for each group of
        :data:`CATEGORIES` with at least one entry (``observed_negative`` only when present); shares in
        ``[0, 1]``. ``warmup`` counts entries whose loss was highest in epoch 0 (ties: earliest epoch).

    Example:
        >>> h = np.array([[3.0, 1.0], [2.0, 2.0]])
        >>> memorization_table(h, np.array([2, 1]))["false_negative"]["share_warmup"]
        1.0
    """
    history = np.asarray(history)
    categories = np.asarray(categories)
    if history.ndim != 2 or history.shape[1] != categories.shape[0]:
        raise PartialMLError(
            f"loss history {history.shape} must be (epochs, entries) with {categories.shape[0]} entries"
        )
    if history.shape[0] == 0:
        raise PartialMLError("the loss history has no epoch")
    peak = np.argmax(history, axis=0)
    out: dict[str, dict[str, Any]] = {}
    for name, code in _CODES.items():
        sel = categories == code
        count = int(sel.sum())
        if count == 0 and name == "observed_negative":
            continue
        warm = int((peak[sel] == 0).sum())
        out[name] = {
            "count": count,
            "warmup": warm,
            "later": count - warm,
            "share_warmup": warm / count if count else None,
            "share_later": (count - warm) / count if count else None,
        }
    return out


def loss_curves(history: np.ndarray, categories: np.ndarray) -> list[dict[str, Any]]:
    """Mean loss per epoch of each group and of the ``clean`` entries (every categorized entry that is
    not a false negative): one row ``{"epoch", "clean", "true_positive", ...}`` per epoch (``None`` for
    a group without entries)."""
    history = np.asarray(history, dtype=np.float64)
    categories = np.asarray(categories)
    groups = {name: categories == code for name, code in _CODES.items()}
    groups["clean"] = (categories >= 0) & (categories != _CODES["false_negative"])
    rows: list[dict[str, Any]] = []
    for epoch in range(history.shape[0]):
        row: dict[str, Any] = {"epoch": epoch}
        for name in ("clean", *CATEGORIES):
            sel = groups[name]
            row[name] = float(history[epoch, sel].mean()) if sel.any() else None
        rows.append(row)
    return rows


@dataclass
class _Index:
    """CSR-style lookup from a training position to its recorded slots (and their classes)."""

    starts: np.ndarray  # (N + 1,) slot range of each position
    cols: np.ndarray  # (M,) class of each slot


class LossRecorder:
    """A trainer step callback that records the AN per-entry loss of chosen training entries.

    Args:
        observed: ``(N, C)`` observed labels of the training subset (positions ``0 .. N - 1``); the AN
            target is ``1[observed == 1]``, fixed at the start (LL-Cp's later corrections do not move
            an entry between groups).
        num_epochs: epochs to hold.
        entries: flat indices ``row * C + col`` to record, sorted (:func:`sample_entries`).

    Use: ``Trainer(config, step_callback=recorder)``; afterwards :attr:`history` is ``(E, M)`` float32
    (``nan`` for an epoch not run) and :attr:`rows` / :attr:`cols` name the entries.
    """

    def __init__(self, observed: np.ndarray | Tensor, *, num_epochs: int, entries: np.ndarray) -> None:
        obs = torch.as_tensor(np.asarray(observed))
        if obs.ndim != 2:
            raise PartialMLError(f"observed labels must be (N, C), got shape {tuple(obs.shape)}")
        n, c = obs.shape
        entries = np.asarray(entries, dtype=np.int64)
        if entries.size and (np.any(np.diff(entries) <= 0) or entries[0] < 0 or entries[-1] >= n * c):
            raise PartialMLError("recorded entries must be sorted, distinct flat indices into (N, C)")
        self.an_target = (obs == 1).to(torch.float32)
        self.entries = entries
        self.rows = entries // c
        self.cols = entries % c
        counts = np.bincount(self.rows, minlength=n)
        self._index = _Index(starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), cols=self.cols)
        self.history = np.full((num_epochs, entries.size), np.nan, dtype=np.float32)

    def __call__(
        self, epoch: int, step: int, positions: Tensor, logits: Tensor, targets: Tensor, loss_fn: Any
    ) -> None:
        del step, targets, loss_fn
        pos = positions.detach().cpu().numpy().astype(np.int64)
        target = self.an_target[torch.as_tensor(pos)].to(logits.device)
        loss = F.binary_cross_entropy_with_logits(logits.detach().float(), target, reduction="none")
        loss_np = loss.cpu().numpy()
        starts = self._index.starts
        n_per = starts[pos + 1] - starts[pos]
        total = int(n_per.sum())
        if total == 0:
            return
        batch_row = np.repeat(np.arange(pos.size), n_per)
        offsets = np.arange(total) - np.repeat(np.cumsum(n_per) - n_per, n_per)
        slots = np.repeat(starts[pos], n_per) + offsets
        self.history[epoch, slots] = loss_np[batch_row, self._index.cols[slots]]


#: Files :func:`run_memorization` writes in its output folder (besides ``runs/``).
MEMORIZATION_OUTPUTS: Final = (
    "memorization.json",
    "memorization_curves.csv",
    "memorization.png",
    "loss_history.npy",
    "entries.npz",
)


def run_memorization(
    config: Any,
    *,
    output_dir: str | Path,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    sample_seed: int = 0,
    overwrite: bool = False,
    plot: bool = True,
) -> dict[str, Any]:
    """Train ``config`` (a :class:`~partialml.engine.TrainConfig`; AN by default) in ``OUT/runs/train``
    while recording the AN loss of the training entries, then write:

    * ``memorization.json``: protocol, recorded entries, Table 1 (:func:`memorization_table`), the curves
      and the ratio ``mean loss at the last epoch / at epoch 0`` per group;
    * ``memorization_curves.csv``: :func:`loss_curves`, one row per epoch;
    * ``memorization.png``: the curves (:func:`~partialml.analysis.plots_analysis.plot_loss_curves`);
    * ``loss_history.npy``: ``(E, M)`` float16; ``entries.npz``: ``rows``, ``cols`` (positions in the
      training subset and classes), ``train_rows`` (their rows in the training file), ``category``.
    """
    from partialml.analysis.sweeps import check_output_dir, write_csv, write_json
    from partialml.engine import Trainer

    out = check_output_dir(output_dir, MEMORIZATION_OUTPUTS, overwrite=overwrite)
    run_dir = out / "runs" / "train"
    cfg = config.updated(
        {"output_dir": str(run_dir), "overwrite": bool(overwrite and run_dir.exists()), "resume": False}
    )
    trainer = Trainer(cfg, show_progress=False).setup()
    prepared = trainer.prepared
    observed = prepared.observed[prepared.train_rows]
    full = prepared.full[prepared.train_rows]
    n, c = observed.shape
    entries = sample_entries(n, c, max_entries=max_entries, seed=sample_seed)
    recorder = LossRecorder(observed, num_epochs=cfg.epochs, entries=entries)
    trainer.step_callback = recorder
    metrics = trainer.fit().metrics
    epochs_run = int(metrics["epochs_run"])
    history = recorder.history[:epochs_run]
    categories = categorize_entries(observed, full).reshape(-1)[entries]
    table = memorization_table(history, categories)
    curves = loss_curves(history, categories)
    ratios = {
        key: (curves[-1][key] / curves[0][key]) if curves[0][key] else None
        for key in ("clean", *CATEGORIES)
        if curves[0][key] is not None
    }
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "loss_history.npy", history.astype(np.float16))
    np.savez_compressed(
        out / "entries.npz",
        rows=recorder.rows,
        cols=recorder.cols,
        train_rows=prepared.train_rows[recorder.rows],
        category=categories,
    )
    write_csv(out / "memorization_curves.csv", curves, ("epoch", "clean", *CATEGORIES))
    payload = {
        "analysis": "memorization",
        "protocol": metrics["protocol"],
        "best_epoch": metrics["best_epoch"],
        "val_mAP": (metrics.get("val") or {}).get("mAP"),
        "test_mAP": (metrics.get("test") or {}).get("mAP"),
        "loss_recorded": "AN per-entry BCE vs 1[observed == 1], at the step the sample is seen, before the update",
        "entries": {
            "recorded": int(entries.size),
            "total": int(n * c),
            "sampled": bool(entries.size < n * c),
            "sample_seed": sample_seed if entries.size < n * c else None,
            "max_entries": max_entries,
        },
        "epochs": epochs_run,
        "table1": table,
        "loss_ratio_last_over_first": ratios,
        "curves": curves,
    }
    write_json(out / "memorization.json", payload)
    if plot:
        from partialml.analysis.plots_analysis import plot_loss_curves

        plot_loss_curves(
            curves,
            out / "memorization.png",
            title=f"{prepared.name}: {cfg.loss}, {cfg.partial}, {cfg.head} head, lr {cfg.lr:g}",
        )
    return payload
