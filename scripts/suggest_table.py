"""Precision@k of `partialml suggest` on the shipped datasets, over run seeds (docs/tools.md table).

Protocol: builtin scene / yeast / corel5k, single-positive labels (partial seed 1200 + run seed), 10 epochs,
batch 32, lr 1e-3, standardized features, linear head, the seeded 20 % validation split with clean labels,
best checkpoint; loss AN or LL-R with the dataset's validation-chosen delta_rel (presets.yaml). Every row of
the training split is ranked; precision@k = share of the k best-ranked unknown entries that are truly
positive (full labels held back from training); random = share of unknown entries that are truly positive.
In-sample and out-of-fold (5 folds). Mean +- sample std over run seeds.

Usage: python scripts/suggest_table.py [--seeds 0 1 2] [--jobs 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from typing import Any

KS = {"scene": (25, 50), "yeast": (100, 1000), "corel5k": (100, 1000)}
LOSSES = ("an", "ll-r")


def one(args: tuple[str, str, int]) -> dict[str, Any]:
    import torch

    from partialml.engine import TrainConfig, Trainer
    from partialml.engine.presets import preset_for
    from partialml.tools.suggest import precision_at_k, random_baseline, training_scores

    torch.set_num_threads(1)
    data, loss, seed = args
    loss_args = {k: v for k, v in preset_for(data, loss).loss_args.items() if k == "delta_rel"}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig.from_mapping(
            {
                "data": data,
                "partial": "single-positive",
                "loss": loss,
                "loss_args": loss_args,
                "epochs": 10,
                "batch_size": 32,
                "lr": 1e-3,
                "standardize": True,
                "seed": seed,
                "device": "cpu",
                "output_dir": tmp + "/run",
            }
        )
        metrics = Trainer(cfg, show_progress=False, handle_signals=False).fit().metrics
        inside = training_scores(tmp + "/run", device="cpu")
        oof = training_scores(tmp + "/run", folds=5, device="cpu")
        out: dict[str, Any] = {"data": data, "loss": loss, "seed": seed, "test": metrics["test"]["mAP"]}
        out["random"] = random_baseline(inside)
        out["unknown"] = int((inside.observed == -1).sum())
        out["hidden"] = (
            int(((inside.observed == -1) & (inside.full == 1)).sum()) if inside.full is not None else 0
        )
        for k in KS[data]:
            out[f"in@{k}"] = precision_at_k(inside, k)
            out[f"oof@{k}"] = precision_at_k(oof, k)
        out["loss_args"] = loss_args
    return out


def fmt(values: list[float], digits: int = 2) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data", nargs="+", default=list(KS))
    args = parser.parse_args()
    jobs = [(d, loss, s) for d in args.data for loss in LOSSES for s in args.seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, jobs))
    print(f"Seeds {args.seeds}; mean ± sample std.\n")
    print("| data | loss | test mAP | unknown / truly positive | random | P@k in-sample | P@k out-of-fold |")
    print("|---|---|---|---|---|---|---|")
    for data in args.data:
        for loss in LOSSES:
            rs = [r for r in results if r["data"] == data and r["loss"] == loss]
            name = loss.upper() if loss == "an" else f"LL-R {rs[0]['loss_args'] or '(default)'}"
            unknown = f"{statistics.mean(r['unknown'] for r in rs):.0f} / {statistics.mean(r['hidden'] for r in rs):.0f}"
            cells = [
                ", ".join(f"@{k}: {fmt([r[f'{kind}@{k}'] for r in rs])}" for k in KS[data])
                for kind in ("in", "oof")
            ]
            print(
                f"| {data} | {name} | {fmt([r['test'] for r in rs], 1)} | {unknown} | "
                f"{fmt([r['random'] for r in rs], 3)} | {cells[0]} | {cells[1]} |"
            )


if __name__ == "__main__":
    main()
