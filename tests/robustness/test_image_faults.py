"""Faults in the end-to-end setting: SIGTERM inside an epoch writes a checkpoint at a step boundary and
exits 143; ``--resume`` then ends bit for bit where an uninterrupted run ends (CPU, one thread)."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from partialml.engine import load_checkpoint

from ..image_training.conftest import tiny_args
from .conftest import run_cli
from .test_bad_inputs import _image_dir
from .test_faults import _env, _history_without_time

# The real CLI with a slowed image batch iterator that prints a line per batch (timing only).
SLOW_IMAGE_TRAIN = textwrap.dedent(
    """
    import sys, time
    import torch
    torch.set_num_threads(1)
    from partialml.engine import image_setting
    original = image_setting.ImageBatches.__iter__
    count = [0]
    def slow(self):
        for item in original(self):
            if self.shuffle:  # training batches only (not the scoring passes)
                count[0] += 1
                print(f"batch {count[0]}", flush=True)
                time.sleep(0.05)
            yield item
    image_setting.ImageBatches.__iter__ = slow
    from partialml.cli.app import main
    main(sys.argv[1:])
    """
)


def test_sigterm_inside_an_image_epoch_resumes_bit_for_bit(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    root = _image_dir(tmp_path)
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    extra = ("--epochs", "3", "--batch-size", "4", "--transforms", "ll")  # random flips: seeded per image

    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_IMAGE_TRAIN, *tiny_args(root, interrupted, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "batch 7":  # epoch 1 (epochs have 5 steps): a finished epoch exists
            proc.send_signal(signal.SIGTERM)
            break
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("partialml: error: training interrupted:"), err
    assert "SIGTERM" in lines[0] and "--resume" in lines[0]
    state = load_checkpoint(interrupted / "checkpoints" / "last.pt")
    steps = math.ceil(state["meta"]["num_train"] / 4)
    assert state["in_epoch"] is not None and state["in_epoch"]["epoch"] == 1
    assert 2 <= state["in_epoch"]["step"] < steps  # a step boundary inside epoch 1
    assert state["epoch"] == 0 and not (interrupted / "metrics.json").exists()

    assert run_cli(["train", "--output-dir", str(interrupted), "--resume", "--no-progress"]) == 0
    assert run_cli(tiny_args(root, reference, *extra)) == 0

    got = json.loads((interrupted / "metrics.json").read_text())
    want = json.loads((reference / "metrics.json").read_text())
    assert got["val"] == want["val"] and got["test"] == want["test"]
    assert got["best_epoch"] == want["best_epoch"] and got["epochs_run"] == 3
    assert _history_without_time(interrupted) == _history_without_time(reference)
    a = load_checkpoint(interrupted / "checkpoints" / "last.pt")
    b = load_checkpoint(reference / "checkpoints" / "last.pt")
    for key, value in b["model"].items():
        assert torch.equal(a["model"][key], value), key
    for group_a, group_b in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert all(torch.equal(group_a[k], group_b[k]) for k in group_b)
