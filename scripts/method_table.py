"""Pivot a `partialml bench` results file into the BENCHMARKS.md method-comparison tables.

Usage: python scripts/method_table.py runs/bench/results.jsonl
One table per partial scheme: rows = methods, columns = datasets, cells = test mAP mean +- sample std over
seeds (0-100) and the gap recovered in percent, 100 * (mAP - mAP_AN) / (mAP_full - mAP_AN), from seed means.
The gap is left out ("n/a") where full and AN differ by less than twice the larger of their stds.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict

from partialml.engine.compare import read_records

METHOD_NAMES = {"full": "full labels (bce)", "an": "AN", "iu": "IU", "wan": "WAN", "an-ls": "AN-LS", "epr": "EPR",
                "role": "ROLE", "ll-r": "LL-R", "ll-ct": "LL-Ct", "ll-cp": "LL-Cp", "hill": "Hill",
                "splc": "SPLC", "em": "EM", "em-apl": "EM+APL"}  # fmt: skip


def main(path: str) -> None:
    records = read_records(path)
    cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    datasets: list[str] = []
    partials: list[str] = []
    methods: list[str] = []
    for r in records:
        cells[(r["partial"], r["dataset"], r["method"])].append(float(r["test_mAP"]))
        for seq, value in ((datasets, r["dataset"]), (partials, r["partial"]), (methods, r["method"])):
            if value not in seq:
                seq.append(value)

    order = list(METHOD_NAMES)  # the comparison's order, whatever order the runs finished in
    methods.sort(key=lambda m: (order.index(m) if m in order else len(order), m))
    datasets.sort()

    def stats(values: list[float]) -> tuple[float, float]:
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    for partial in partials:
        print(f"\n#### {partial}: test mAP, mean ± std over seeds (gap recovered %)\n")
        print("| method | " + " | ".join(datasets) + " |")
        print("|---|" + "---|" * len(datasets))
        for method in methods:
            row = []
            for data in datasets:
                values = cells.get((partial, data, method))
                if not values:
                    row.append("")
                    continue
                mean, std = stats(values)
                full_mean, full_std = stats(cells[(partial, data, "full")])
                an_mean, an_std = stats(cells[(partial, data, "an")])
                if abs(full_mean - an_mean) < 2 * max(full_std, an_std):
                    gap = "n/a"
                else:
                    gap = f"{100 * (mean - an_mean) / (full_mean - an_mean):.0f}"
                row.append(f"{mean:.2f} ± {std:.2f} ({gap})")
            print(f"| {METHOD_NAMES.get(method, method)} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
