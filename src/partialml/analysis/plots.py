"""Plots of the analyses (matplotlib's Agg canvas on a bare ``Figure``: no pyplot, no display, no global state).

* :func:`method_comparison_chart`: a bar chart of mean test mAP per method with error bars of one sample
  standard deviation over seeds, one group of bars per (dataset, partial scheme); written to a PNG.
* :func:`per_class_ap_chart`: horizontal bars of each class's AP, sorted, classes without a positive listed
  as skipped; written to a PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def per_class_ap_chart(
    per_class: Mapping[str, float | None],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Write a horizontal bar chart of per-class AP (0-100) to ``path`` (PNG), best class on top.

    Args:
        per_class: class name -> AP in percent, ``None`` (or NaN) for a class skipped for having no positive;
            the ``per_class`` mapping of a ``metrics.json`` split or of ``partialml evaluate``.
        path: the PNG file to write (its folder is created).
        title: the figure title (default: "AP per class").

    Returns:
        The path written. Skipped classes are named in a footnote, not drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scored = sorted(
        ((name, float(ap)) for name, ap in per_class.items() if ap is not None and ap == ap),
        key=lambda item: item[1],
    )
    skipped = [name for name, ap in per_class.items() if ap is None or ap != ap]
    height = min(60.0, max(2.5, 0.18 * len(scored) + 1.2))
    fig = Figure(figsize=(7.0, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(range(len(scored)), [ap for _, ap in scored], color="tab:blue")
    ax.set_yticks(range(len(scored)))
    ax.set_yticklabels([name for name, _ in scored], fontsize=7 if len(scored) > 40 else 9)
    ax.set_xlim(0.0, 100.0)
    ax.set_xlabel("AP (0-100)")
    ax.grid(axis="x", alpha=0.3)
    mean = sum(ap for _, ap in scored) / len(scored) if scored else float("nan")
    ax.set_title(f"{title or 'AP per class'} (mAP {mean:.2f}, {len(scored)} classes)", fontsize=10)
    if skipped:
        shown = ", ".join(skipped[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
        fig.text(0.01, 0.005, f"skipped (no positive): {shown}", fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    return out
