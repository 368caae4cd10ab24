"""Training on memory-mapped features larger than a memory cap: peak memory vs feature file size.

Protocol: a ``npy`` feature folder whose ``train_features.npy`` (float32, 256 columns, 20 classes,
single-positive labels) is four times the cap: 400 MB under a 100 MB cap (``quick``: 100 MB under
25 MB). One epoch of the ``features`` setting (linear head, AN loss, batch 1024, 20 % validation) runs in
a subprocess.

The cap: ``RLIMIT_AS`` is impractical (torch reserves GBs of address space at import, and the memory map
itself counts), so the child warms up (imports, one tiny run) and then sets a **hard** ``RLIMIT_DATA`` of its data
segment at that point plus the cap. Since Linux 4.7 ``RLIMIT_DATA`` counts private writable memory (heap, anonymous maps) and not a
read-only file map, which is what "anonymous memory of the run may grow by at most the cap" means; a
run that copied the features into RAM dies with ``MemoryError``. Reported: the peak anonymous resident
memory (``RssAnon`` of ``/proc/self/status`` sampled every 5 ms) above its value after the imports,
``VmHWM`` (peak resident set, file pages of the map included: those are page cache, reclaimable and
shared), and the file size. Goal: the run completes under the cap, and the anonymous peak growth is
below a quarter of the file size.

The hard cap is the default (``benchmarks.run`` reports it; ``--no-hard-limit`` only measures). The
peak ``VmData`` above the warm-up value is reported too: how much of the cap the run used.

Usage: ``python -m benchmarks.memmap_memory [--quick] [--no-hard-limit]`` (``--hard-limit``, the
default, is accepted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

DIM = 256
NUM_CLASSES = 20

CHILD = textwrap.dedent(
    """
    import json, resource, sys, threading, time
    import torch
    from partialml.engine import TrainConfig, Trainer

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return -1

    data, out, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    # Warm-up on 64 rows: every lazy import and one-time allocation happens before the cap is set.
    import numpy as np, os
    os.makedirs(out + "_warm", exist_ok=True)
    np.save(out + "_warm/train_features.npy", np.random.default_rng(0).normal(size=(64, 256)).astype("float32"))
    np.save(out + "_warm/train_labels.npy", np.eye(20, dtype="int8")[np.arange(64) % 20])
    Trainer(TrainConfig(data=out + "_warm", format="npy", loss="an", epochs=1, device="cpu",
                        output_dir=out + "_warm/run"), show_progress=False).fit()
    peak, peak_data = [0], [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], status("RssAnon"))
            peak_data[0] = max(peak_data[0], status("VmData"))
            time.sleep(0.005)

    # The sampler (measuring apparatus, not the run) starts before the cap: its 8 MB thread stack is
    # private writable memory that RLIMIT_DATA would otherwise charge to the run.
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    time.sleep(0.05)
    base_anon, base_data = status("RssAnon"), status("VmData")
    peak[0], peak_data[0] = base_anon, base_data
    limit = base_data + cap if cap > 0 else -1
    if cap > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    t0 = time.perf_counter()
    config = TrainConfig(data=data, format="npy", loss="an", epochs=1, batch_size=1024, eval_batch_size=4096,
                         device="cpu", output_dir=out)
    Trainer(config, show_progress=False).fit()
    seconds = time.perf_counter() - t0
    done.set(); thread.join()
    peak[0] = max(peak[0], status("RssAnon"))
    peak_data[0] = max(peak_data[0], status("VmData"))
    print(json.dumps({"base_anon": base_anon, "peak_anon": peak[0], "vm_hwm": status("VmHWM"),
                      "base_data": base_data, "peak_data": peak_data[0],
                      "rlimit_data": limit, "seconds": seconds}))
    """
)


def _write_data(folder: Path, file_bytes: int) -> int:
    """Write ``train_features.npy`` (memory mapped, written in chunks) and ``train_labels.npy``."""
    n = file_bytes // (DIM * 4)
    folder.mkdir(parents=True, exist_ok=True)
    x = np.lib.format.open_memmap(folder / "train_features.npy", mode="w+", dtype=np.float32, shape=(n, DIM))
    rng = np.random.default_rng(0)
    w = rng.normal(size=(DIM, NUM_CLASSES)).astype(np.float32)
    labels = np.zeros((n, NUM_CLASSES), np.int8)
    step = 32_768
    for start in range(0, n, step):
        block = rng.normal(size=(min(step, n - start), DIM)).astype(np.float32)
        x[start : start + len(block)] = block
        logits = block @ w
        y = (logits > 8.0).astype(np.int8)
        y[np.arange(len(block)), logits.argmax(1)] = 1
        labels[start : start + len(block)] = y
    x.flush()
    del x
    np.save(folder / "train_labels.npy", labels)
    return int((folder / "train_features.npy").stat().st_size)


def run(quick: bool = False, *, hard_limit: bool = True) -> list[dict[str, Any]]:
    """One epoch on memory-mapped features 4x the cap, in a subprocess; rows for ``benchmarks.run``.

    ``hard_limit=True`` (default, what ``benchmarks.run`` reports) enforces the cap with a hard
    ``RLIMIT_DATA`` (module docstring): the run must complete under it. ``False`` only measures.
    """
    cap = (25 if quick else 100) << 20
    with tempfile.TemporaryDirectory(prefix="partialml-memmap-") as tmp:
        size = _write_data(Path(tmp) / "data", 4 * cap)
        src = str(Path(__file__).resolve().parents[1] / "src")
        env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
        env["OMP_NUM_THREADS"] = "1"
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(Path(tmp) / "data"),
                str(Path(tmp) / "run"),
                str(cap if hard_limit else 0),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    completed = proc.returncode == 0
    m = json.loads(proc.stdout.strip().splitlines()[-1]) if completed else {}
    growth = m.get("peak_anon", 0) - m.get("base_anon", 0) if completed else float("nan")
    mb = 1 << 20
    notes = (
        f"{size / mb:.0f} MB float32 features ({size // (DIM * 4)} x {DIM}), "
        + (
            f"hard RLIMIT_DATA = data segment after warm-up + {cap / mb:.0f} MB"
            + (f" (peak use {(m['peak_data'] - m['base_data']) / mb:.0f} MB)" if completed else "")
            if hard_limit
            else "measured, no hard limit"
        )
        + "; 1 epoch, linear head, AN, batch 1024"
    )
    if not completed:
        notes += f"; FAILED (exit {proc.returncode}): {' '.join(proc.stderr.split()[-30:])}"
    return [
        {
            "benchmark": "memmap_memory",
            "metric": "completes under the hard cap" if hard_limit else "completes (no hard cap)",
            "value": "yes" if completed else "no",
            "unit": "",
            "goal": f"completes with features 4x the {cap / mb:.0f} MB cap",
            "passed": completed,
            "notes": notes,
        },
        {
            "benchmark": "memmap_memory",
            "metric": "peak anonymous RSS growth",
            "value": growth / mb,
            "unit": "MB",
            "goal": f"< {size / 4 / mb:.0f} MB (a quarter of the file)",
            "passed": completed and growth < size / 4,
            "notes": f"RssAnon sampled every 5 ms, above {m.get('base_anon', 0) / mb:.0f} MB after imports",
        },
        {
            "benchmark": "memmap_memory",
            "metric": "peak RSS (VmHWM) / file size",
            "value": (m.get("vm_hwm", 0) / size) if completed else float("nan"),
            "unit": "x",
            "goal": "",
            "passed": None,
            "notes": f"VmHWM {m.get('vm_hwm', 0) / mb:.0f} MB includes torch (~{m.get('base_anon', 0) / mb:.0f} MB "
            f"anon at start) and page-cache pages of the map; epoch {m.get('seconds', float('nan')):.1f} s",
        },
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv, hard_limit="--no-hard-limit" not in sys.argv):
        print(row)
