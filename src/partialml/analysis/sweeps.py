"""Sweeps of the LL paper (Kim et al., CVPR 2022): the effect of ``delta_rel`` and of the training-set size,
on the ``features`` setting, plus the output helpers every analysis shares.

* :func:`run_delta_rel`: for each ``delta_rel`` (a fraction) and seed, one run of the LL loss; test and
  validation mAP (0-100) at the best epoch; mean and sample std (``ddof=1``) over seeds.
* :func:`run_data_size`: for each fraction of the training file and seed, a seeded subsample of the
  training samples (``numpy.random.default_rng(seed).permutation(N)[:round(f * N)]``: nested, a smaller
  fraction is a subset of a larger one for the same seed), then the usual protocol on it (partial labels
  simulated on the subsample, the seeded 20 % validation split of it); the test split is untouched.
  Default losses: AN vs LL-R.

Each run is an ordinary :class:`~partialml.engine.Trainer` run in ``OUT/runs/<name>`` (config, metrics,
history, checkpoints), the data read once. The run seed (``--seeds``) varies the initialization, the
validation split, the batch order (and the subsample); the partial labels keep ``partial_seed``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from partialml.engine.checkpoint import atomic_write_text
from partialml.engine.config import TrainConfig
from partialml.engine.run_dir import to_jsonable
from partialml.errors import PartialMLError

__all__ = [
    "check_output_dir",
    "mean_std",
    "parse_float_list",
    "parse_int_list",
    "run_data_size",
    "run_delta_rel",
    "subsample_training",
    "summarize",
    "train_run",
    "write_csv",
    "write_json",
]


# -- parsing and output helpers --------------------------------------------------------------------------


def parse_float_list(
    text: str, *, option: str, low: float, high: float, low_open: bool = False
) -> list[float]:
    """``"0,0.001,0.002"`` -> floats, each in ``[low, high]`` (``(low, high]`` with ``low_open``); one line
    naming ``option`` otherwise."""
    interval = f"{'(' if low_open else '['}{low}, {high}]"
    values: list[float] = []
    for part in text.split(","):
        try:
            v = float(part.strip())
        except ValueError:
            raise PartialMLError(
                f"{option}: {part.strip()!r} is not a number; expected comma-separated numbers in {interval}"
            ) from None
        if not (math.isfinite(v) and (low < v if low_open else low <= v) and v <= high):
            raise PartialMLError(f"{option}: got {v}; expected numbers in {interval}")
        values.append(v)
    if len(set(values)) != len(values):
        raise PartialMLError(f"{option}: {text!r} repeats a value")
    return values


def parse_int_list(text: str, *, option: str) -> list[int]:
    """``"0,1,2"`` -> distinct integers ``>= 0``; one line naming ``option`` otherwise."""
    values: list[int] = []
    for part in text.split(","):
        p = part.strip()
        if not p.isdigit():
            raise PartialMLError(f"{option}: {p!r} is not an integer >= 0; expected e.g. 0,1,2")
        values.append(int(p))
    if len(set(values)) != len(values):
        raise PartialMLError(f"{option}: {text!r} repeats a value")
    return values


def check_output_dir(path: str | Path, outputs: Sequence[str], *, overwrite: bool) -> Path:
    """Refuse an output folder that already holds one of ``outputs`` (or ``runs/``) unless ``overwrite``.

    Nothing is written or removed here; with ``overwrite`` the runs in ``runs/`` are replaced run by run.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise PartialMLError("--output-dir exists and is not a folder", path=out)
    present = [name for name in (*outputs, "runs") if (out / name).exists()]
    if present and not overwrite:
        raise PartialMLError(
            f"--output-dir already holds {', '.join(present)}; give --overwrite or another folder", path=out
        )
    return out


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Rows as CSV (atomic); ``None`` becomes an empty cell, floats keep full precision."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, buf.getvalue())
    return p


def write_json(path: str | Path, payload: Any) -> Path:
    """JSON (atomic, indented, NaN/inf written as ``null``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, json.dumps(to_jsonable(payload), indent=2) + "\n")
    return p


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None, int]:
    """``(mean, sample std with ddof=1 (0.0 for one value), n)`` of the non-``None`` values."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None, None, 0
    arr = np.asarray(vals)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(vals) > 1 else 0.0, len(vals)


def summarize(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Group ``rows`` by ``keys`` (first-seen order) and give ``{split}_mAP_mean`` / ``_std`` / ``n``
    for ``test`` and ``val``, and the mean best epoch."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out: list[dict[str, Any]] = []
    for key, members in groups.items():
        summary: dict[str, Any] = dict(zip(keys, key, strict=True))
        for split in ("test", "val"):
            m, s, n = mean_std(r.get(f"{split}_mAP") for r in members)
            summary.update({f"{split}_mAP_mean": m, f"{split}_mAP_std": s, f"{split}_n": n})
        summary["best_epoch_mean"] = mean_std(r.get("best_epoch") for r in members)[0]
        summary["seeds"] = len(members)
        out.append(summary)
    return out


# -- runs --------------------------------------------------------------------------------------------------


def train_run(
    config: TrainConfig,
    *,
    data: Any,
    run_dir: Path,
    overwrite: bool,
    step_callback: Callable[..., None] | None = None,
) -> Any:
    """One Trainer run in ``run_dir`` on already-read ``data``; returns its
    :class:`~partialml.engine.RunResult` (``metrics``, ``history``)."""
    from partialml.engine import Trainer

    cfg = config.updated(
        {"output_dir": str(run_dir), "overwrite": bool(overwrite and run_dir.exists()), "resume": False}
    )
    trainer = Trainer(cfg, show_progress=False, data=data, step_callback=step_callback)
    return trainer.fit()


def _result_row(metrics: dict[str, Any]) -> dict[str, Any]:
    val, test = metrics.get("val") or {}, metrics.get("test") or {}
    return {
        "val_mAP": val.get("mAP"),
        "test_mAP": test.get("mAP"),
        "best_epoch": metrics.get("best_epoch"),
        "num_train": metrics["protocol"]["num_train"],
    }


def subsample_training(data: Any, fraction: float, *, seed: int) -> Any:
    """A copy of a :class:`~partialml.data.features.FeatureData` whose training split keeps
    ``round(fraction * N)`` (at least 1) samples, ``default_rng(seed).permutation(N)[:n]`` sorted."""
    if not 0 < fraction <= 1:
        raise PartialMLError(f"--fractions: got {fraction}; expected numbers in (0, 1]")
    train = data.train
    n_total = int(train.x.shape[0])
    n = max(1, round(fraction * n_total))
    if n == n_total:
        return data
    rows = np.sort(np.random.default_rng(seed).permutation(n_total)[:n])
    split = dataclasses.replace(
        train,
        x=np.asarray(train.x[rows]),
        labels=np.asarray(train.labels)[rows],
        observed=None if train.observed is None else np.asarray(train.observed)[rows],
        ids=None if train.ids is None else [train.ids[i] for i in rows],
    )
    return dataclasses.replace(data, train=split)


def _check_ll_loss(loss: str) -> None:
    from partialml.engine.trainer import check_loss_options

    check_loss_options(loss, {})
    if loss not in ("ll-r", "ll-ct", "ll-cp"):
        raise PartialMLError(f"--loss: got {loss!r}; the delta_rel sweep needs ll-r, ll-ct or ll-cp")


def run_delta_rel(
    config: TrainConfig,
    *,
    values: Sequence[float],
    seeds: Sequence[int],
    output_dir: str | Path,
    overwrite: bool = False,
    plot: bool = True,
) -> dict[str, Any]:
    """The ``delta_rel`` sweep of ``config.loss`` (an LL loss): one run per (value, seed).

    Writes ``OUT/delta_rel.csv`` (one row per run), ``OUT/delta_rel_summary.csv`` (mean +- std per value),
    ``OUT/delta_rel.json`` (protocol and both tables) and ``OUT/delta_rel.png``. Returns the JSON payload.
    """
    from partialml.engine.trainer import load_data

    _check_ll_loss(config.loss)
    out = check_output_dir(
        output_dir, ("delta_rel.csv", "delta_rel.json", "delta_rel.png"), overwrite=overwrite
    )
    assert config.data is not None
    data = load_data(config.data, format=config.format)
    rows: list[dict[str, Any]] = []
    protocol: dict[str, Any] = {}
    for value in values:
        for seed in seeds:
            cfg = config.updated({"seed": seed, "loss_args": {**config.loss_args, "delta_rel": value}})
            metrics = train_run(
                cfg, data=data, run_dir=out / "runs" / f"dr{value:g}_s{seed}", overwrite=overwrite
            ).metrics
            protocol = metrics["protocol"]
            rows.append({"loss": config.loss, "delta_rel": value, "seed": seed, **_result_row(metrics)})
    summary = summarize(rows, ("loss", "delta_rel"))
    cols = ("loss", "delta_rel", "seed", "val_mAP", "test_mAP", "best_epoch", "num_train")
    write_csv(out / "delta_rel.csv", rows, cols)
    write_csv(out / "delta_rel_summary.csv", summary, _summary_columns("delta_rel"))
    payload = {
        "analysis": "delta_rel",
        "protocol": {**protocol, "seed": list(seeds), "loss_args": dict(config.loss_args)},
        "values": list(values),
        "runs": rows,
        "summary": summary,
    }
    write_json(out / "delta_rel.json", payload)
    if plot:
        from partialml.analysis.plots_analysis import plot_sweep

        plot_sweep(
            summary,
            out / "delta_rel.png",
            x="delta_rel",
            xlabel="delta_rel (fraction per epoch)",
            group="loss",
            title=f"{protocol.get('data_name', config.data)}: {config.loss}, {len(seeds)} seeds",
        )
    return payload


def _summary_columns(x: str) -> tuple[str, ...]:
    return (
        "loss",
        x,
        "test_mAP_mean",
        "test_mAP_std",
        "val_mAP_mean",
        "val_mAP_std",
        "best_epoch_mean",
        "seeds",
    )


def run_data_size(
    config: TrainConfig,
    *,
    fractions: Sequence[float],
    seeds: Sequence[int],
    losses: Sequence[str] = ("an", "ll-r"),
    output_dir: str | Path,
    overwrite: bool = False,
    plot: bool = True,
) -> dict[str, Any]:
    """mAP against the share of the training file used, one run per (loss, fraction, seed).

    ``config.loss_args`` apply to every loss that accepts them (for instance ``delta_rel`` to LL-R, not
    to AN). Writes ``OUT/data_size.csv``, ``OUT/data_size_summary.csv``, ``OUT/data_size.json`` and
    ``OUT/data_size.png``; returns the JSON payload.
    """
    from partialml.engine.trainer import check_loss_options, load_data
    from partialml.losses import loss_options

    loss_args: dict[str, dict[str, Any]] = {}
    for loss in losses:
        check_loss_options(loss, {})
        options = loss_options(loss)
        loss_args[loss] = {k: v for k, v in config.loss_args.items() if k in options}
    unused = sorted(set(config.loss_args) - {k for args in loss_args.values() for k in args})
    if unused:  # an option no listed loss takes is a typo or a wrong loss list, not something to drop
        raise PartialMLError(
            f"--loss-arg: no loss of --losses {','.join(losses)} has the option {', '.join(unused)}"
        )
    out = check_output_dir(
        output_dir, ("data_size.csv", "data_size.json", "data_size.png"), overwrite=overwrite
    )
    assert config.data is not None
    full_data = load_data(config.data, format=config.format)
    rows: list[dict[str, Any]] = []
    protocol: dict[str, Any] = {}
    for fraction in fractions:
        for seed in seeds:
            data = subsample_training(full_data, fraction, seed=seed)
            for loss in losses:
                cfg = config.updated({"seed": seed, "loss": loss, "loss_args": loss_args[loss]})
                run_dir = out / "runs" / f"{loss}_f{fraction:g}_s{seed}"
                metrics = train_run(cfg, data=data, run_dir=run_dir, overwrite=overwrite).metrics
                protocol = metrics["protocol"]
                rows.append({"loss": loss, "fraction": fraction, "seed": seed, **_result_row(metrics)})
    summary = summarize(rows, ("loss", "fraction"))
    cols = ("loss", "fraction", "seed", "val_mAP", "test_mAP", "best_epoch", "num_train")
    write_csv(out / "data_size.csv", rows, cols)
    write_csv(out / "data_size_summary.csv", summary, _summary_columns("fraction"))
    protocol = {k: v for k, v in protocol.items() if k not in ("loss", "loss_args", "num_train", "num_val")}
    payload = {
        "analysis": "data_size",
        "protocol": {**protocol, "seed": list(seeds), "losses": list(losses), "loss_args": loss_args},
        "fractions": list(fractions),
        "num_train_total": int(full_data.train.x.shape[0]),
        "runs": rows,
        "summary": summary,
    }
    write_json(out / "data_size.json", payload)
    if plot:
        from partialml.analysis.plots_analysis import plot_sweep

        plot_sweep(
            summary,
            out / "data_size.png",
            x="fraction",
            xlabel="share of the training file used",
            group="loss",
            title=f"{protocol.get('data_name', config.data)}: {len(seeds)} seeds",
        )
    return payload
