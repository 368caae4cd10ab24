"""Long-tailed multi-label quality in the ``features`` setting (run by hand: ``python -m
benchmarks.long_tail_quality [--quick]``; prints a Markdown section).

Protocol: builtin ``yeast`` and ``corel5k`` (Mulan features), training split cut with ``--long-tail
pareto`` (shape 6, max = a quarter of the largest class, min 1, cut seed 0, the same cut for every run);
test split untouched. MLP head (512, dropout 0.5; LTML: the shared trunk of that size and two linear
heads), standardized features, Adam lr 1e-3, batch 32, ``EPOCHS`` epochs, best epoch by validation mAP
(seeded 20 % split of the cut training set, clean labels). Test mAP (0-100) total / head / medium / tail
(groups by positives of the training rows: >= 100, 20-99, < 20), mean +- std over run seeds 0, 1, 2.
The LTML preset (compensation statistics|learned x consistency logits|probabilities) is chosen per
dataset on validation mAP (full labels, seed 0) before the table is run. LL-R and LTML + LL-R use the
dataset's ``delta_rel`` from ``presets.yaml`` (chosen on the validation split of the uncut data, see
docs/presets.md), the library default where the dataset has none.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from typing import Any

EPOCHS = 15
SEEDS = (0, 1, 2)
DATASETS = ("yeast", "corel5k")
FULL_METHODS: dict[str, dict[str, Any]] = {
    "ERM (bce)": {"loss": "bce"},
    "re-sampling (class-aware)": {"loss": "bce", "sampler": "class-aware"},
    "focal": {"loss": "focal"},
    "CB focal (beta 0.999)": {"loss": "focal", "loss_args": {"class_balanced_beta": 0.999}},
    "DB": {"loss": "db"},
    "LTML": {"loss": "ltml"},
}
SP_METHODS: dict[str, dict[str, Any]] = {
    "AN": {"loss": "an"},
    "LL-R": {"loss": "ll-r"},
    "LTML": {"loss": "ltml"},
    "LTML + LL-R": {"loss": "ltml-llr"},
}


def _run(args: tuple[str, str, dict[str, Any], int, int]) -> dict[str, Any]:
    from partialml.engine import TrainConfig, Trainer

    data, partial, method, seed, epochs = args
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig.from_mapping(
            {
                "data": data,
                "partial": partial,
                "long_tail": "pareto",
                "head": "mlp",
                "standardize": True,
                "batch_size": 32,
                "epochs": epochs,
                "seed": seed,
                "device": "cpu",
                "output_dir": out + "/run",
                **method,
            }
        )
        m = Trainer(cfg, show_progress=False, handle_signals=False).fit().metrics
    return {"val": m["val"]["mAP"], "test": m["test"]["mAP"], **m["test"]["group_mAP"]}


def _ll_r_args(data: str) -> dict[str, Any]:
    """LL-R's validation-chosen ``delta_rel`` for ``data`` from presets.yaml (empty: the loss default)."""
    from partialml.engine.presets import preset_for

    return {k: v for k, v in preset_for(data, "ll-r").loss_args.items() if k == "delta_rel"}


def _fmt(values: list[float | None]) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "n/a"
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"


def main(quick: bool = False, datasets: tuple[str, ...] = DATASETS) -> str:
    epochs = 3 if quick else EPOCHS
    seeds = SEEDS[:1] if quick else SEEDS
    lines = [f"Epochs {epochs}, seeds {list(seeds)}.", ""]
    with ProcessPoolExecutor(max_workers=2) as pool:
        presets: dict[str, dict[str, Any]] = {}
        lines += ["LTML preset grid (validation mAP, full labels, seed 0):", ""]
        lines += ["| data | compensation | consistency | val mAP |", "|---|---|---|---|"]
        for data in datasets:
            grid: list[dict[str, Any]] = [
                {"loss": "ltml", "loss_args": {"compensation": c, "consistency": s}}
                for c, s in itertools.product(("statistics", "learned"), ("logits", "probabilities"))
            ]
            res = list(pool.map(_run, [(data, "full", g, 0, epochs) for g in grid]))
            for g, r in zip(grid, res, strict=True):
                a = g["loss_args"]
                lines.append(f"| {data} | {a['compensation']} | {a['consistency']} | {r['val']:.2f} |")
            presets[data] = grid[max(range(len(grid)), key=lambda i: res[i]["val"])]
        lines.append("")
        for title, partial, methods in (
            ("full labels", "full", FULL_METHODS),
            ("single-positive labels", "single-positive", SP_METHODS),
        ):
            lines += [f"Test mAP, {title} (total / head / medium / tail):", ""]
            lines += ["| data | method | total | head | medium | tail |", "|---|---|---|---|---|---|"]
            for data in datasets:
                jobs, names = [], []
                for name, method in methods.items():
                    if method["loss"] == "ltml":
                        method = presets[data]
                    elif method["loss"] == "ltml-llr":
                        args = {**presets[data]["loss_args"], **_ll_r_args(data)}
                        method = {"loss": "ltml-llr", "loss_args": args}
                    elif method["loss"] == "ll-r":
                        method = {"loss": "ll-r", "loss_args": _ll_r_args(data)}
                    for seed in seeds:
                        jobs.append((data, partial, method, seed, epochs))
                        names.append(name)
                res = list(pool.map(_run, jobs))
                for name in methods:
                    rs = [r for n, r in zip(names, res, strict=True) if n == name]
                    cells = [_fmt([r[k] for r in rs]) for k in ("test", "head", "medium", "tail")]
                    lines.append(f"| {data} | {name} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    chosen = tuple(a.split("=", 1)[1] for a in sys.argv if a.startswith("--data=")) or DATASETS
    print(main(quick="--quick" in sys.argv, datasets=chosen))
