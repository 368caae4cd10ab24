"""End-to-end benchmark on the semi-synthetic Fashion-MNIST mosaics, sized for a 2-core CPU.

Stages (``--stage all`` runs them in order):

* ``data``: 2 x 2 mosaics of real Fashion-MNIST garments (``partialml.data.mosaics.write_mosaics``, the code
  of ``partialml make-mosaics``), PNG, into ``OUT/data`` (``train.csv``, ``test.csv``, ``images/``).
* ``train``: one end-to-end run per (method, seed) under single-positive labels, through the ordinary
  :class:`~partialml.engine.Trainer` (``--setting end-to-end``), via ``partialml bench``'s
  :func:`~partialml.engine.compare.run_one` on :class:`~partialml.engine.compare.RunSpec` s. ``--jobs``
  spawned processes, one torch thread each. Records go to ``OUT/results.jsonl`` (one JSON line per finished run; ``--resume``
  skips finished runs); run directories (``history.csv``, ``metrics.json``) to ``OUT/runs/<key>``.
* ``report``: the summary table (``partialml.engine.compare.summarize``: seed mean and sample std of test
  mAP, gap recovered) and the memorization plot: validation mAP (clean labels) per epoch of AN and LL-R,
  mean over seeds, from each run's ``history.csv``.

Example::

    .venv/bin/python scripts/mosaics_benchmark.py --fashion-mnist /path/to/fashion-mnist --out runs/mosaics \
        --seeds 0 1 2 --jobs 2 --plot docs/img/mosaics_memorization.png

Protocol (every default below is written into each record and run's ``config.yaml``): the trainer's seeded
20 % validation split of the training mosaics, scored against the full (clean) labels for model selection;
the test mosaics (from ``t10k``) scored once at the best epoch; ResNet-18 of stage widths ``W x (1,2,4,8)``
from random init; transforms ``ll`` at 56 x 56 (the mosaics' own size, so the resize is the identity:
random horizontal flip + ImageNet normalization, i.e. "plain + flip"); Adam, no weight decay.
ROLE's ``expected_positives`` is the mean number of positives per training mosaic computed from the full
labels: an oracle value, not available in a real single-positive setting.

Long-tail mode (``--long-tail SPEC``, e.g. ``pareto``): the training mosaics are cut by the trainer's
``--long-tail`` (seeded Pareto cut, before the partial-label scheme and the validation split; the test
mosaics stay balanced) and the methods are :data:`LONG_TAIL_METHODS` (ERM, re-sampling, focal, CB focal,
DB, LTML under full labels; AN, LL-R, LTML, LTML + LL-R under single positive), each with the library's
default options, except LTML's preset: ``--stage ltml-grid`` first trains the grid compensation
(statistics | learned) x consistency (logits | probabilities) with full labels, run seed 0, writes
``OUT/ltml_grid.jsonl`` and prints it; the ``train`` stage then gives LTML and LTML + LL-R the grid point
with the best **validation** mAP (tagged ``[preset]`` in the keys; no grid file: library defaults). Records
add the test ``group_mAP`` (head / medium / tail by training positives of the cut set, thresholds 100 / 20)
and the report adds the group table. Example::

    nice -n 10 .venv/bin/python scripts/mosaics_benchmark.py --data runs/mosaics/data --out runs/mosaics_lt \
        --stage ltml-grid --long-tail pareto --jobs 2
    nice -n 10 .venv/bin/python scripts/mosaics_benchmark.py --data runs/mosaics/data --out runs/mosaics_lt \
        --stage train --long-tail pareto --seeds 0 1 2 --jobs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

from partialml.engine.compare import (
    RunSpec,
    append_record,
    format_table,
    read_records,
    run_one,
    summarize,
)

METHODS = ("full", "an", "ll-r", "ll-ct", "ll-cp", "hill", "splc", "role")

#: Long-tail mode: ``name -> (partial, loss, tag, overrides, loss_args)`` (as benchmarks/long_tail_quality.py).
LONG_TAIL_METHODS: dict[str, tuple[str, str, str, dict[str, Any], dict[str, Any]]] = {
    "ERM (bce)": ("full", "bce", "", {}, {}),
    "re-sampling (class-aware)": ("full", "bce", "class-aware", {"sampler": "class-aware"}, {}),
    "focal": ("full", "focal", "", {}, {}),
    "CB focal (beta 0.999)": ("full", "focal", "cb", {}, {"class_balanced_beta": 0.999}),
    "DB": ("full", "db", "", {}, {}),
    "LTML": ("full", "ltml", "", {}, {}),
    "AN": ("single-positive", "an", "", {}, {}),
    "LL-R": ("single-positive", "ll-r", "", {}, {}),
    "LTML (SP)": ("single-positive", "ltml", "", {}, {}),
    "LTML + LL-R": ("single-positive", "ltml-llr", "", {}, {}),
}


#: LTML's options the paper leaves open, searched on validation (``--stage ltml-grid``).
LTML_GRID: tuple[dict[str, Any], ...] = tuple(
    {"compensation": c, "consistency": s}
    for c in ("statistics", "learned")
    for s in ("logits", "probabilities")
)


def make_data(fashion_mnist: Path, out: Path, *, train: int, test: int, seed: int) -> dict[str, Any]:
    """Write the mosaics into ``out`` (PNG; an existing folder is replaced)."""
    from partialml.data.mosaics import write_mosaics

    return write_mosaics(
        fashion_mnist, out, train=train, test=test, val=0, seed=seed, classes="distinct", overwrite=True
    )


def train_cardinality(train_csv: Path) -> float:
    """Mean number of positives per training mosaic (full labels): ROLE's oracle ``expected_positives``."""
    with open(train_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    body = rows[1:]
    return sum(sum(int(c) == 1 for c in r[1:]) for r in body) / len(body)


def chosen_ltml_args(grid_file: Path) -> dict[str, Any] | None:
    """The LTML grid point with the best validation mAP in ``grid_file`` (None when it does not exist)."""
    records = read_records(grid_file)
    if not records:
        return None
    return dict(max(records, key=lambda r: r["val_mAP"])["loss_args"])


def base_overrides(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """The TrainConfig keys every run of this script shares (the protocol of the module docstring)."""
    overrides: dict[str, Any] = {
        "setting": "end-to-end",
        "format": "csv",
        "image_root": str(data_dir),
        "test_split": str(data_dir / "test.csv"),
        "model": "resnet18",
        "width": args.width,
        "weights": None,
        "image_size": 56,
        "transforms": "ll",
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "optimizer": "adam",
        "weight_decay": 0.0,
        "val_fraction": 0.2,
        "val_labels": "clean",
        "device": "cpu",
        "num_workers": 0,
        "eval_batch_size": 256,
    }
    if args.long_tail:
        overrides["long_tail"] = args.long_tail
    return overrides


def ltml_grid_specs(args: argparse.Namespace, data_dir: Path) -> list[RunSpec]:
    """One full-label LTML run per :data:`LTML_GRID` point, run seed 0, on the long-tailed cut."""
    return [
        RunSpec(
            data=str(data_dir / "train.csv"),
            partial="full",
            method="ltml",
            seed=0,
            overrides=base_overrides(args, data_dir),
            loss_args=dict(point),
            tag=f"{point['compensation']}-{point['consistency']}",
            use_presets=False,
        )
        for point in LTML_GRID
    ]


def make_specs(args: argparse.Namespace, data_dir: Path, k_oracle: float) -> list[RunSpec]:
    overrides = base_overrides(args, data_dir)
    specs = []
    if args.long_tail:
        ltml_args = chosen_ltml_args(args.out / "ltml_grid.jsonl")
        for seed in args.seeds:
            for partial, loss, tag, extra, loss_args in LONG_TAIL_METHODS.values():
                if loss in ("ltml", "ltml-llr") and ltml_args is not None:
                    tag, loss_args = "preset", {**loss_args, **ltml_args}
                specs.append(
                    RunSpec(
                        data=str(data_dir / "train.csv"),
                        partial=partial,
                        method=loss,
                        seed=seed,
                        overrides={**overrides, **extra},
                        loss_args=dict(loss_args),
                        tag=tag,
                        use_presets=False,
                    )
                )
        return specs
    for seed in args.seeds:  # seed-outer: an interrupted bench has every method for the first seeds
        for method in args.methods:
            loss_args = {"expected_positives": round(k_oracle, 4)} if method == "role" else {}
            specs.append(
                RunSpec(
                    data=str(data_dir / "train.csv"),
                    partial="single-positive",
                    method=method,
                    seed=seed,
                    overrides=dict(overrides),
                    loss_args=loss_args,
                    use_presets=False,
                )
            )
    return specs


def run_image_spec(spec: RunSpec, runs_dir: str) -> dict[str, Any]:
    """Train one end-to-end spec (in a worker process, one torch thread) and return its bench record."""
    import torch

    torch.set_num_threads(1)
    rec = {**run_one(spec, runs_dir=runs_dir), "dataset": "fmnist-mosaics"}
    metrics = json.loads((Path(rec["run_dir"]) / "metrics.json").read_text(encoding="utf-8"))
    test = metrics.get("test") or {}
    rec["test_group_mAP"] = test.get("group_mAP")
    rec["group_sizes"] = test.get("group_sizes")
    rec["num_train"] = metrics["protocol"]["num_train"]
    return rec


def long_tail_report(records: list[dict[str, Any]]) -> str:
    """Test mAP total / head / medium / tail, mean +- sample std over seeds, per (partial, method)."""
    import statistics

    def cell(values: list[Any]) -> str:
        v = [float(x) for x in values if x is not None]
        if not v:
            return "n/a"
        return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"

    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        by_key.setdefault((r["partial"], r["method"]), []).append(r)
    lines = ["| labels | method | seeds | total | head | medium | tail |", "|---|---|---|---|---|---|---|"]
    for (partial, method), recs in by_key.items():
        groups = [r.get("test_group_mAP") or {} for r in recs]
        cells = [cell([r["test_mAP"] for r in recs])] + [cell([g.get(k) for g in groups]) for k in GROUPS]
        lines.append(f"| {partial} | {method} | {len(recs)} | " + " | ".join(cells) + " |")
    sizes = {json.dumps(r.get("group_sizes"), sort_keys=True) for r in records}
    trains = sorted({int(r["num_train"]) for r in records if r.get("num_train") is not None})
    lines += [
        "",
        f"group sizes (classes): {', '.join(sorted(sizes))}; training mosaics after the cut: {trains}",
    ]
    return "\n".join(lines)


GROUPS = ("head", "medium", "tail")


def run_all(specs: list[RunSpec], *, results: Path, runs_dir: Path, jobs: int) -> None:
    done = {r["key"] for r in read_records(results)}
    todo = [s for s in specs if s.key() not in done]
    runs_dir.mkdir(parents=True, exist_ok=True)
    if jobs <= 1:
        for s in todo:
            rec = run_image_spec(s, str(runs_dir))
            append_record(results, rec)
            print(f"{rec['key']}: test mAP {rec['test_mAP']:.2f} ({rec['seconds']:.0f} s)", flush=True)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(run_image_spec, s, str(runs_dir)) for s in todo]
        for fut in as_completed(futures):
            rec = fut.result()
            append_record(results, rec)
            print(
                f"{rec['key']}: test mAP {rec['test_mAP']:.2f}, best epoch {rec['best_epoch']} "
                f"({rec['seconds']:.0f} s)",
                flush=True,
            )


def read_history(run_dir: Path) -> list[float]:
    with open(run_dir / "history.csv", newline="", encoding="utf-8") as fh:
        return [float(r["val_mAP"]) for r in csv.DictReader(fh)]


def report(results: Path, *, plot: Path | None, long_tail: bool = False) -> str:
    records = read_records(results)
    if long_tail:
        return long_tail_report(records)
    lines = [format_table(summarize(records), markdown=True), ""]
    lines.append("| method | best epochs (per seed) | seconds per run (mean) |")
    lines.append("|---|---|---|")
    by_method: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_method.setdefault(r["method"], []).append(r)
    for method, recs in by_method.items():
        recs = sorted(recs, key=lambda r: r["seed"])
        best = ", ".join(f"s{r['seed']}: {r['best_epoch']}" for r in recs)
        secs = sum(r["seconds"] for r in recs) / len(recs)
        lines.append(f"| {method} | {best} | {secs:.0f} |")
    curves: dict[str, list[list[float]]] = {}
    for method in ("an", "ll-r", "full"):
        curves[method] = [read_history(Path(r["run_dir"])) for r in by_method.get(method, [])]
    lines.append("")
    lines.append("Validation mAP (clean labels) per epoch, mean over seeds:")
    for method, cs in curves.items():
        if cs:
            n = min(len(c) for c in cs)
            mean = [sum(c[e] for c in cs) / len(cs) for e in range(n)]
            lines.append(f"  {method:5s} " + " ".join(f"{v:.2f}" for v in mean))
    if plot is not None and curves.get("an") and curves.get("ll-r"):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for method, colour in (("an", "tab:red"), ("ll-r", "tab:blue"), ("full", "tab:gray")):
            cs = curves.get(method) or []
            if not cs:
                continue
            n = min(len(c) for c in cs)
            mean = [sum(c[e] for c in cs) / len(cs) for e in range(n)]
            for c in cs:
                ax.plot(range(len(c)), c, color=colour, alpha=0.25, lw=0.8)
            style = "--" if method == "full" else "-"
            ax.plot(
                range(n),
                mean,
                style,
                color=colour,
                lw=2,
                marker="o",
                ms=3,
                label=f"{method.upper()} (mean of {len(cs)} seeds)",
            )
        ax.set_xlabel("epoch (0-indexed)")
        ax.set_ylabel("validation mAP, clean labels (%)")
        ax.set_title("Fashion-MNIST mosaics, single positive, ResNet-18 from scratch")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=110)
        plt.close(fig)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fashion-mnist", type=Path, help="folder of the four Fashion-MNIST IDX files")
    p.add_argument("--out", type=Path, default=Path("runs/mosaics"))
    p.add_argument("--data", type=Path, default=None, help="mosaics folder (default OUT/data)")
    p.add_argument("--stage", choices=("all", "data", "ltml-grid", "train", "report"), default="all")
    p.add_argument("--train", type=int, default=3000, help="training mosaics (20 %% become validation)")
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--long-tail", default=None, help="long-tail mode: the --long-tail cut (e.g. pareto)")
    args = p.parse_args(argv)

    data_dir = args.data if args.data is not None else args.out / "data"
    results = args.out / "results.jsonl"
    if args.stage in ("all", "data"):
        if args.fashion_mnist is None:
            p.error("--fashion-mnist is needed to build the data")
        meta = make_data(args.fashion_mnist, data_dir, train=args.train, test=args.test, seed=args.data_seed)
        print(json.dumps({k: v for k, v in meta.items() if k != "cells"}, default=str)[:500], flush=True)
    if args.stage == "ltml-grid":
        if not args.long_tail:
            p.error("--stage ltml-grid needs --long-tail")
        grid_file = args.out / "ltml_grid.jsonl"
        run_all(
            ltml_grid_specs(args, data_dir), results=grid_file, runs_dir=args.out / "runs", jobs=args.jobs
        )
        for r in read_records(grid_file):
            print(f"{r['key']}: val mAP {r['val_mAP']:.2f}")
        print(f"chosen on validation mAP: {chosen_ltml_args(grid_file)}")
    if args.stage in ("all", "train"):
        k = train_cardinality(data_dir / "train.csv")
        print(f"training cardinality (ROLE's oracle expected_positives): {k:.4f}", flush=True)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        run_all(make_specs(args, data_dir, k), results=results, runs_dir=args.out / "runs", jobs=args.jobs)
    if args.stage in ("all", "report"):
        print(report(results, plot=args.plot, long_tail=bool(args.long_tail)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
