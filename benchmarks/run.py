"""Run every benchmark and write the results, with the machine and protocol, to ``BENCHMARKS.md``.

Each benchmark module exposes ``run(quick: bool = False) -> list[dict]``; a row has the keys
``benchmark, metric, value, unit, goal, passed, notes``. Speed goals are ratios against a baseline
measured in the same process, so they hold across machines.

Usage: ``python -m benchmarks.run [--quick] [--only NAME ...] [--output BENCHMARKS.md]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

BENCHMARKS = [
    "label_store",
    "losses_speed",
    "metrics",
    "features_epoch",
    "dual_branch",
    "memmap_memory",
    "input_pipeline",
    "train_step",
]
BEGIN = "<!-- speed-benchmarks:begin -->"
END = "<!-- speed-benchmarks:end -->"


def machine_description() -> str:
    """One line naming the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, {platform.system()}"
    )


def format_value(row: dict[str, Any]) -> str:
    value = row["value"]
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{text} {row.get('unit', '')}".strip()


def render(rows: list[dict[str, Any]], *, quick: bool, seconds: float) -> str:
    status = {True: "yes", False: "**no**", None: ""}
    lines = [
        BEGIN,
        f"Machine: {machine_description()}.",
        f"Run: `python -m benchmarks.run{' --quick' if quick else ''}` on {time.strftime('%Y-%m-%d')}, "
        f"{seconds:.0f} s in all.",
        "",
        "| benchmark | metric | value | goal | met | notes |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['benchmark']} | {row['metric']} | {format_value(row)} | {row.get('goal', '')} | "
            f"{status[row.get('passed')]} | {row.get('notes', '')} |"
        )
    lines.append(END)
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the speed section of ``path`` (or append it), keeping everything else."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Speed and memory\n\n" + section + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        new_rows = module.run(quick=args.quick)
        print(f"[bench] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        for row in new_rows:
            print(f"  {row['metric']}: {format_value(row)}  (goal {row.get('goal', '')})", file=sys.stderr)
        rows.extend(new_rows)
    section = render(rows, quick=args.quick, seconds=time.perf_counter() - start)
    write_section(args.output, section)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2, default=float))
    print(f"[bench] wrote {args.output}", file=sys.stderr)
    failed = [r for r in rows if r.get("passed") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
