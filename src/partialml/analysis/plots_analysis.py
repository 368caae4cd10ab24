"""Charts of the LL-paper analyses (PNG), drawn with matplotlib's object API on the Agg canvas.

No ``pyplot`` and no global state: each function builds a :class:`matplotlib.figure.Figure`, attaches an
Agg canvas and writes the file. matplotlib is imported only here, when a chart is drawn; without it the
functions raise :class:`~partialml.errors.PartialMLError` naming the package to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from partialml.errors import PartialMLError

__all__ = ["plot_loss_curves", "plot_selection", "plot_sweep"]


def _figure(ncols: int = 1) -> tuple[Any, list[Any]]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise PartialMLError("drawing the analysis charts needs matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(5.2 * ncols, 3.8), dpi=110)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, format="png")
    return out


def _xy(rows: Sequence[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    pts = [(float(r[x]), float(r[y])) for r in rows if r.get(y) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_loss_curves(rows: Sequence[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Mean AN loss per epoch of clean entries, true positives, true negatives and false negatives
    (rows of :func:`~partialml.analysis.memorization.loss_curves`); left linear, right log scale."""
    fig, axes = _figure(2)
    styles = {
        "clean": ("clean (all but FN)", "tab:blue", "-"),
        "true_positive": ("true positive (observed)", "tab:green", "--"),
        "true_negative": ("true negative (unknown)", "tab:gray", "--"),
        "false_negative": ("false negative (unknown)", "tab:red", "-"),
    }
    for ax, scale in zip(axes, ("linear", "log"), strict=True):
        for key, (label, color, ls) in styles.items():
            xs, ys = _xy(rows, "epoch", key)
            if xs:
                ax.plot(xs, ys, ls, color=color, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch (0 = warm-up)")
        ax.set_ylabel("mean AN loss")
        ax.set_yscale(scale)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_selection(rows: Sequence[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Precision (left) and recall (right) of the large-loss selection per epoch, one line per loss
    (rows with ``loss``, ``epoch``, ``precision``, ``recall``, ``fn_rate``); the dotted line is the
    random-choice precision (share of false negatives among unknown entries)."""
    fig, axes = _figure(2)
    losses = list(dict.fromkeys(str(r["loss"]) for r in rows))
    for loss in losses:
        mine = [r for r in rows if r["loss"] == loss]
        for ax, key in zip(axes, ("precision", "recall"), strict=True):
            xs, ys = _xy(mine, "epoch", key)
            if xs:
                ax.plot(xs, [100 * y for y in ys], marker="o", markersize=3, label=loss)
    xs, ys = _xy([r for r in rows if r["loss"] == losses[0]] if losses else [], "epoch", "fn_rate")
    if xs:
        axes[0].plot(xs, [100 * y for y in ys], ":", color="black", label="random choice")
    for ax, key in zip(axes, ("precision (%)", "recall (%)"), strict=True):
        ax.set_xlabel("epoch (0 = warm-up)")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_sweep(
    summary: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    x: str,
    xlabel: str,
    group: str | None = None,
    title: str = "",
    log_x: bool = False,
) -> Path:
    """Test (left) and validation (right) mAP, mean with a +-std band, against ``x``; one line per
    value of ``group`` (for instance the loss). ``summary`` rows hold ``x``, ``group``,
    ``test_mAP_mean`` / ``test_mAP_std`` and ``val_mAP_mean`` / ``val_mAP_std``."""
    fig, axes = _figure(2)
    groups = list(dict.fromkeys(str(r[group]) for r in summary)) if group else [""]
    for g in groups:
        mine = sorted((r for r in summary if not group or str(r[group]) == g), key=lambda r: float(r[x]))
        for ax, split in zip(axes, ("test", "val"), strict=True):
            pts = [r for r in mine if r.get(f"{split}_mAP_mean") is not None]
            if not pts:
                continue
            xs = [float(r[x]) for r in pts]
            ms = [float(r[f"{split}_mAP_mean"]) for r in pts]
            ss = [float(r.get(f"{split}_mAP_std") or 0.0) for r in pts]
            ax.plot(xs, ms, marker="o", markersize=3, label=g or None)
            ax.fill_between(
                xs,
                [m - s for m, s in zip(ms, ss, strict=True)],
                [m + s for m, s in zip(ms, ss, strict=True)],
                alpha=0.2,
            )
    for ax, split in zip(axes, ("test", "validation"), strict=True):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{split} mAP (%)")
        if log_x:
            ax.set_xscale("symlog", linthresh=1e-3)
        ax.grid(alpha=0.3)
        if group and ax.get_legend_handles_labels()[0]:  # a panel with no curve (no val split) gets none
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
