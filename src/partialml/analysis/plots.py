"""Plots of the analyses (matplotlib's Agg canvas on a bare ``Figure``: no pyplot, no display, no global state).

* :func:`method_comparison_chart`: a bar chart of mean test mAP per method with error bars of one sample
  standard deviation over seeds, one group of bars per (dataset, partial scheme); written to a PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def method_comparison_chart(
    rows: Sequence[Any],
    path: str | Path,
    *,
    title: str | None = None,
    metric: str = "test",
) -> Path:
    """Write a bar chart of :class:`~partialml.engine.compare.SummaryRow` s to ``path`` (PNG).

    Args:
        rows: summary rows (``dataset``, ``partial``, ``method``, ``test_mean``/``test_std`` or
            ``val_mean``/``val_std``); rows without a mean are left out.
        path: the PNG file to write (its folder is created).
        title: the figure title (default: "mAP by method").
        metric: ``test`` or ``val``.

    Returns:
        The path written. Error bars are one sample standard deviation over seeds (none for one seed).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        if getattr(r, f"{metric}_mean") is not None:
            groups.setdefault((r.dataset, r.partial), []).append(r)
    n = max(len(groups), 1)
    width = max(6.0, 0.7 * max((len(v) for v in groups.values()), default=4))
    fig = Figure(figsize=(width, 3.6 * n))
    FigureCanvasAgg(fig)  # the Agg canvas, attached to this figure only (no pyplot, no global backend)
    for i, ((ds, partial), grp) in enumerate(groups.items()):
        ax = fig.add_subplot(n, 1, i + 1)
        means = [getattr(r, f"{metric}_mean") for r in grp]
        stds = [getattr(r, f"{metric}_std") or 0.0 for r in grp]
        colors = ["tab:gray" if r.method in ("full", "an") else "tab:blue" for r in grp]
        ax.bar(range(len(grp)), means, yerr=stds, capsize=3, color=colors)
        ax.set_xticks(range(len(grp)))
        ax.set_xticklabels([r.method for r in grp], rotation=30, ha="right")
        ax.set_ylabel(f"{metric} mAP (0-100)")
        lo = min(m - s for m, s in zip(means, stds, strict=True))
        hi = max(m + s for m, s in zip(means, stds, strict=True))
        pad = max(1.0, 0.1 * (hi - lo))
        ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad))
        ax.set_title(f"{ds}, {partial}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "mAP by method", fontsize=11)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


__all__ = ["method_comparison_chart"]
