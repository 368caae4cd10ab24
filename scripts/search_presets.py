"""Choose the comparison presets on VALIDATION data only and write them to partialml/configs/presets.yaml.

Protocol (see docs/presets.md): single-positive labels (partial seed 1200 + seed), run seed 0, the seeded
20 % validation split of the official training set, validation mAP against the clean (full) labels, a
linear head on standardized features. The test split is never read for a choice (its mAP is not even
looked at here). Every grid point is one record of ``<out>/search.jsonl`` (``--resume`` continues it).

Stage A (per dataset): lr x batch size for AN, 20 epochs; the best AN validation mAP sets lr and batch
for every method. Stage B (per dataset, with stage A's lr/batch): delta_rel for LL-R/Ct/Cp, tau for SPLC,
alpha for EM, expected_positives (oracle label cardinality vs the observed estimate) for EPR/ROLE.

Usage: python scripts/search_presets.py --data yeast --data scene --out runs/search [--jobs 2] [--write]
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from partialml.engine.compare import RunSpec, dataset_name, run_bench
from partialml.engine.presets import load_presets, presets_path
from partialml.engine.trainer import load_data

EPOCHS = 20
STAGE_A = [(lr, bs) for lr in (1e-3, 1e-2) for bs in (16, 64)]
# fine at the low end: the false-negative share ranges from 0.7 % (corel5k) to 25 % (yeast)
DELTA_REL = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.03)
SPLC_TAU = (0.6, 0.7, 0.8, 0.9)
EM_ALPHA = (0.01, 0.1, 0.5)


def oracle_cardinality(data: str) -> float:
    """Mean number of true positives per training sample (the 'oracle' expected_positives)."""
    labels = np.asarray(load_data(data).train.labels)
    return round(float((labels == 1).sum(axis=1).mean()), 3)


def spec(data: str, method: str, train: dict[str, Any], loss_args: dict[str, Any], tag: str) -> RunSpec:
    return RunSpec(
        data=data,
        partial="single-positive",
        method=method,
        seed=0,
        overrides={"epochs": EPOCHS, "standardize": True, **train},
        loss_args=loss_args,
        tag=tag,
        use_presets=False,
    )


def best(records: list[dict[str, Any]], method: str) -> dict[str, Any]:
    mine = [r for r in records if r["method"].split("[")[0] == method]
    return max(mine, key=lambda r: r["val_mAP"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/search"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="write the chosen values to presets.yaml")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "search.jsonl"
    presets = load_presets()
    for data in args.data:
        name = dataset_name(data)
        stage_a = [
            spec(data, "an", {"lr": lr, "batch_size": bs}, {}, f"lr={lr},bs={bs}") for lr, bs in STAGE_A
        ]
        recs = run_bench(stage_a, output=results, runs_dir=args.out / "runs", jobs=args.jobs, resume=True)
        a = best(recs, "an")
        train = {"epochs": EPOCHS, "lr": a["lr"], "batch_size": a["batch_size"]}
        oracle = oracle_cardinality(data)
        grid: list[tuple[str, dict[str, Any], str]] = []
        for m in ("ll-r", "ll-ct", "ll-cp"):
            grid += [(m, {"delta_rel": d}, f"delta_rel={d}") for d in DELTA_REL]
        grid += [("splc", {"tau": t}, f"tau={t}") for t in SPLC_TAU]
        grid += [("em", {"alpha": al}, f"alpha={al}") for al in EM_ALPHA]
        for m in ("epr", "role"):
            # the estimate is the mean number of observed positives per sample: exactly 1 under single positive
            grid += [
                (m, {"expected_positives": oracle}, "k=oracle"),
                (m, {"expected_positives": 1.0}, "k=estimate"),
            ]
        specs_b = [
            spec(data, m, {"lr": a["lr"], "batch_size": a["batch_size"]}, la, tag) for m, la, tag in grid
        ]
        recs_b = run_bench(specs_b, output=results, runs_dir=args.out / "runs", jobs=args.jobs, resume=True)
        losses: dict[str, Any] = {}
        for m in ("ll-r", "ll-ct", "ll-cp", "splc", "em", "epr", "role"):
            r = best(recs_b, m)
            entry: dict[str, Any] = {"loss_args": dict(r["loss_args"]), "chosen_from": r["method"]}
            if m in ("epr", "role"):
                entry["expected_positives"] = "oracle" if "k=oracle" in r["method"] else "estimate"
            losses[m] = entry
        for r in recs + recs_b:
            print(f"{name:8s} {r['method']:28s} val mAP {r['val_mAP']:.2f} (best epoch {r['best_epoch']})")
        ds = copy.deepcopy(presets.setdefault("datasets", {}).get(name) or {})
        ds["train"] = train
        ds["oracle_expected_positives"] = oracle
        ds["losses"] = losses
        presets["datasets"][name] = ds
        print(f"{name}: chose {train} and {losses}")
    if args.write:
        header = "# Written by scripts/search_presets.py (validation mAP only); see docs/presets.md.\n"
        presets_path().write_text(header + yaml.safe_dump(presets, sort_keys=False), encoding="utf-8")
        print(f"wrote {presets_path()}")


if __name__ == "__main__":
    main()
