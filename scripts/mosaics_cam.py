"""Pointing game of the CAMs of end-to-end runs on the semi-synthetic Fashion-MNIST mosaics.

Stages (``--stage all`` runs them in order):

* ``train``: the runs of ``scripts/mosaics_benchmark.py`` (same :class:`~partialml.engine.compare.RunSpec` s,
  built by its ``make_specs``: same data, seeds, options), trained again with their checkpoints kept
  (the benchmark removes them), into ``OUT/runs/<key>``; records in ``OUT/results.jsonl`` (``--resume``
  semantics: finished keys are skipped).
* ``boxes``: the mosaics folder's ``test_boxes.csv``, or, for a folder written before ``write_mosaics``
  wrote it, ``OUT/test_boxes.csv`` rebuilt from ``mosaics.json`` and the Fashion-MNIST labels
  (:func:`partialml.data.boxes.mosaic_boxes_from_folder`).
* ``cam``: ``partialml analyze cam`` (:func:`partialml.analysis.cam.run_pointing_game`) on the test mosaics
  for every run at the first ``--tolerances`` value (files in ``OUT/cam/<run>__tol<T>``), the others
  re-scored from its argmax points; one JSON line per (run, tolerance) in ``OUT/cam.jsonl`` and a table
  (mean +- sample std over seeds, per method) on stdout.

Example::

    nice -n 10 .venv/bin/python scripts/mosaics_cam.py --fashion-mnist /work/shared/data/fashion-mnist \
        --data runs/mosaics/data --out runs/mosaics_cam --methods full an ll-r ll-ct ll-cp role --jobs 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from partialml.engine.compare import append_record, read_records, run_one


def _benchmark_module() -> Any:
    path = Path(__file__).with_name("mosaics_benchmark.py")
    spec = importlib.util.spec_from_file_location("mosaics_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mosaics_benchmark"] = module  # spawned workers unpickle functions by module name
    spec.loader.exec_module(module)
    return module


def train_kept(spec: Any, runs_dir: str) -> dict[str, Any]:
    """Train one spec in a worker process (one torch thread), keeping its checkpoints."""
    import torch

    torch.set_num_threads(1)
    return {**run_one(spec, runs_dir=runs_dir, keep_checkpoints=True), "dataset": "fmnist-mosaics"}


def train(args: argparse.Namespace, data_dir: Path) -> None:
    bench = _benchmark_module()
    k = bench.train_cardinality(data_dir / "train.csv")
    bench_args = argparse.Namespace(
        seeds=args.seeds, methods=args.methods, width=args.width, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size,
    )  # fmt: skip
    specs = bench.make_specs(bench_args, data_dir, k)
    results = args.out / "results.jsonl"
    done = {r["key"] for r in read_records(results)}
    todo = [s for s in specs if s.key() not in done]
    runs_dir = args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.jobs <= 1:
        for s in todo:
            rec = train_kept(s, str(runs_dir))
            append_record(results, rec)
            print(f"{rec['key']}: test mAP {rec['test_mAP']:.2f} ({rec['seconds']:.0f} s)", flush=True)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(train_kept, s, str(runs_dir)) for s in todo]
        for fut in as_completed(futures):
            rec = fut.result()
            append_record(results, rec)
            print(f"{rec['key']}: test mAP {rec['test_mAP']:.2f} ({rec['seconds']:.0f} s)", flush=True)


def boxes(args: argparse.Namespace, data_dir: Path) -> Path:
    from partialml.data.boxes import mosaic_boxes_from_folder, write_boxes_csv

    if (data_dir / "test_boxes.csv").is_file():  # written by make-mosaics since it writes boxes
        return data_dir / "test_boxes.csv"
    target = args.out / "test_boxes.csv"
    if args.fashion_mnist is None:
        raise SystemExit(f"{target} is missing; give --fashion-mnist to rebuild it from mosaics.json")
    write_boxes_csv(target, mosaic_boxes_from_folder(data_dir, args.fashion_mnist, split="test"))
    print(f"wrote {target}", flush=True)
    return target


def rescore(csv_path: Path, box_file: Path, class_names: list[str], tolerance: float) -> dict[str, Any]:
    """The pointing game at another tolerance from the argmax points of ``pointing_game.csv`` (the mosaics
    are 56 x 56 and so is the model input: boxes need no scaling), with the library's hit rule and summary."""
    import csv

    from partialml.analysis.cam import PointingPair, pointing_hit, pointing_summary
    from partialml.data.boxes import read_boxes_csv

    box_set = read_boxes_csv(box_file)
    index = {n: c for c, n in enumerate(class_names)}
    pairs = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for r, row in enumerate(csv.DictReader(fh)):
            boxes = box_set.class_boxes(row["image"], row["class"])
            point = (int(row["argmax_row"]), int(row["argmax_col"]))
            hit = pointing_hit(point, boxes, tolerance=tolerance)
            pairs.append(PointingPair(r, row["image"], index[row["class"]], point, hit, boxes))
    return pointing_summary(pairs, class_names)


def cam(args: argparse.Namespace, data_dir: Path) -> list[dict[str, Any]]:
    from partialml.analysis.cam import run_pointing_game
    from partialml.data.mosaics import FASHION_MNIST_CLASSES

    box_file = boxes(args, data_dir)
    out_jsonl = args.out / "cam.jsonl"
    rows: list[dict[str, Any]] = []
    for rec in read_records(args.out / "results.jsonl"):
        if rec["method"] not in args.methods or rec["seed"] not in args.seeds:
            continue
        first = args.tolerances[0]
        out = args.out / "cam" / f"{Path(rec['run_dir']).name}__tol{first:g}"
        done = out / "pointing_game.json"
        result = json.loads(done.read_text()) if done.is_file() and not args.rescore else None
        result = result or run_pointing_game(
            rec["run_dir"],
            boxes=str(box_file),
            box_format="csv",
            data=str(data_dir / "test.csv"),
            image_root=str(data_dir),
            tolerance=first,
            examples=8,
            output_dir=out,
            overwrite=True,
            device="cpu",
        )
        for tol in args.tolerances:
            summary = (
                result
                if tol == first
                else rescore(out / "pointing_game.csv", box_file, list(FASHION_MNIST_CLASSES), tol)
            )
            row = {
                "method": rec["method"],
                "seed": rec["seed"],
                "tolerance": tol,
                "test_mAP": rec["test_mAP"],
                "mean_class_accuracy": summary["mean_class_accuracy"],
                "overall_accuracy": summary["overall_accuracy"],
                "pairs": summary["pairs"],
                "output_dir": str(out),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    out_jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


def table(rows: list[dict[str, Any]], methods: list[str]) -> str:
    def ms(values: list[float]) -> str:
        if not values:
            return "n/a"
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):.1f} +- {sd:.1f}"

    tols = sorted({r["tolerance"] for r in rows})
    head = "| method | seeds | test mAP |" + "".join(
        f" PG mean-class, tol {t:g} | PG overall, tol {t:g} |" for t in tols
    )
    lines = [head, "|" + "---|" * (3 + 2 * len(tols))]
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        if not mine:
            continue
        first = [r for r in mine if r["tolerance"] == tols[0]]
        cells = [m, str(len(first)), ms([r["test_mAP"] for r in first])]
        for t in tols:
            at = [r for r in mine if r["tolerance"] == t]
            cells.append(ms([100 * r["mean_class_accuracy"] for r in at]))
            cells.append(ms([100 * r["overall_accuracy"] for r in at]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fashion-mnist", type=Path, help="folder of the four Fashion-MNIST IDX files")
    p.add_argument("--data", type=Path, default=Path("runs/mosaics/data"), help="mosaics folder")
    p.add_argument("--out", type=Path, default=Path("runs/mosaics_cam"))
    p.add_argument("--stage", choices=("all", "train", "boxes", "cam"), default="all")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=["full", "an", "ll-r", "ll-ct", "ll-cp", "role"])
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--tolerances", type=float, nargs="+", default=[0.0, 15.0])
    p.add_argument("--rescore", action="store_true", help="recompute pointing games already written")
    args = p.parse_args(argv)
    if args.stage in ("all", "train"):
        train(args, args.data)
    if args.stage == "boxes":
        boxes(args, args.data)
    if args.stage in ("all", "cam"):
        rows = cam(args, args.data)
        print(table(rows, args.methods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
