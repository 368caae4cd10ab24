"""Faults: SIGTERM/SIGINT mid-epoch (checkpoint, 143/130, bit-exact resume), kill -9 during checkpoint
writes, NaN/inf losses (stop with exit 1, or skip within a budget)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor

from partialml.engine import load_checkpoint
from partialml.engine.signals import StopRequest, TrainingInterrupted, exit_status
from partialml.losses import PartialLabelLoss
from partialml.losses import registry as loss_registry
from partialml.losses.registry import LossEntry

from .conftest import run_cli

SRC = str(Path(__file__).resolve().parents[2] / "src")

TRAIN_ARGS = [
    "--format", "npy", "--partial", "single-positive", "--loss", "ll-r", "--epochs", "3",
    "--batch-size", "8", "--lr", "0.01", "--device", "cpu", "--head", "mlp", "--hidden-dim", "16",
    "--dropout", "0.25", "--no-progress",
]  # fmt: skip
# mlp + dropout: the global torch RNG is drawn at every step, so resume must restore it exactly.

# Runs the real CLI with a slowed batch iterator that prints a line per batch (timing only: the numbers
# are untouched), so that the test can signal it in the middle of an epoch.
SLOW_TRAIN = textwrap.dedent(
    """
    import sys, time
    from partialml.engine import loaders
    original = loaders.FeatureBatches.__iter__
    count = [0]
    def slow(self):
        for item in original(self):
            count[0] += 1
            print(f"batch {count[0]}", flush=True)
            time.sleep(0.03)
            yield item
    loaders.FeatureBatches.__iter__ = slow
    from partialml.cli.app import main
    main(sys.argv[1:])
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _history_without_time(run: Path) -> list[list[str]]:
    lines = (run / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, h in enumerate(header) if h != "seconds"]
    return [[row.split(",")[i] for i in keep] for row in lines]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_epoch_checkpoints_exits_and_resumes_bit_for_bit(
    sig: int, data_dir: Path, tmp_path: Path
) -> None:
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    args = ["train", "--data", str(data_dir), *TRAIN_ARGS]
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_TRAIN, *args, "--output-dir", str(interrupted)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    # 96 training rows / 8 = 12 steps per epoch: batch 17 is epoch 1, step 4 (an epoch checkpoint exists).
    for line in proc.stdout:
        if line.strip() == "batch 17":
            proc.send_signal(sig)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == exit_status(sig) == (143 if sig == signal.SIGTERM else 130), err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("partialml: error: training interrupted:"), err
    assert signal.Signals(sig).name in lines[0] and "--resume" in lines[0]
    state = load_checkpoint(interrupted / "checkpoints" / "last.pt")
    assert state["in_epoch"] is not None and state["in_epoch"]["epoch"] == 1
    assert 4 <= state["in_epoch"]["step"] < 12  # a step boundary inside epoch 1
    assert state["epoch"] == 0 and not (interrupted / "metrics.json").exists()

    assert run_cli(["train", "--output-dir", str(interrupted), "--resume", "--no-progress"]) == 0
    assert run_cli([*args, "--output-dir", str(reference)]) == 0

    got = json.loads((interrupted / "metrics.json").read_text())
    want = json.loads((reference / "metrics.json").read_text())
    assert got == want
    assert _history_without_time(interrupted) == _history_without_time(reference)
    a = load_checkpoint(interrupted / "checkpoints" / "last.pt")
    b = load_checkpoint(reference / "checkpoints" / "last.pt")
    for key, value in b["model"].items():
        assert torch.equal(a["model"][key], value), key
    for key in ("best", "epoch", "skipped_batches"):
        assert a[key] == b[key]


def test_stop_request_records_the_first_signal_and_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert stop.signum is None
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # delivered to the main thread at the next bytecode boundary
        assert stop.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
    error = TrainingInterrupted(signal.SIGINT, checkpoint="x/last.pt", where="at epoch 0, step 3")
    assert error.exit_status == 130 and "SIGINT" in str(error) and "--resume" in str(error)


CHECKPOINT_WRITER = textwrap.dedent(
    """
    import sys, torch
    from partialml.engine.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
    path = sys.argv[1]
    for i in range(20):
        state = {"format": CHECKPOINT_FORMAT, "i": i, "w": torch.full((512, 1024), float(i))}
        save_checkpoint(path, state)
        if i == 0:
            print("ready", flush=True)
    print("done", flush=True)
    """
)


def test_kill_9_during_checkpoint_writes_never_leaves_an_unloadable_last(tmp_path: Path) -> None:
    rng = random.Random(7)
    outcomes = []
    for trial in range(6):
        path = tmp_path / f"t{trial}" / "last.pt"
        proc = subprocess.Popen(
            [sys.executable, "-c", CHECKPOINT_WRITER, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))  # 20 writes of 2 MiB take about that long
        proc.kill()
        proc.wait(timeout=30)
        proc.communicate()
        state = load_checkpoint(path)  # must load: the old file or the new one, never a torn one
        i = int(state["i"])
        assert 0 <= i < 20 and torch.equal(state["w"], torch.full((512, 1024), float(i)))
        outcomes.append((proc.returncode, i))
    # at least one trial was killed while writing (not after the loop ended)
    assert any(code == -signal.SIGKILL and i < 19 for code, i in outcomes), outcomes


# -- NaN / inf losses -------------------------------------------------------------------------------------


class _BadLoss(PartialLabelLoss):
    """BCE on observed positives/negatives whose value is NaN (or inf) at chosen (epoch, step) pairs."""

    bad: ClassVar[set[tuple[int, int]]] = set()
    value: ClassVar[float] = float("nan")

    def __init__(self) -> None:
        super().__init__()
        self.step = 0

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.step = 0

    def compute(self, logits: Tensor, targets: Tensor, indices: Tensor | None) -> Tensor:
        out = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, (targets == 1).to(logits.dtype), reduction="none"
        )
        if (self.epoch, self.step) in _BadLoss.bad:
            out = out * _BadLoss.value
        self.step += 1
        return out


@pytest.fixture
def bad_loss(monkeypatch: pytest.MonkeyPatch) -> type[_BadLoss]:
    monkeypatch.setitem(
        loss_registry._REGISTRY, "test-bad", LossEntry("test-bad", _BadLoss, "NaN at chosen steps", "test")
    )
    _BadLoss.bad = set()
    _BadLoss.value = float("nan")
    return _BadLoss


def _train(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", "--data", str(data_dir), "--format", "npy", "--loss", "test-bad", "--epochs", "3",
        "--batch-size", "16", "--device", "cpu", "--no-progress", "--output-dir", str(out), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_loss_stops_with_exit_1_naming_epoch_step_and_samples(
    value: float, bad_loss: type[_BadLoss], data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    bad_loss.bad, bad_loss.value = {(1, 2)}, value
    assert run_cli(_train(data_dir, tmp_path / "run")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "epoch 1, step 2" in err[0] and "samples (training-file rows)" in err[0]
    assert str(value) in err[0]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 0
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_nan_policy_skip_counts_skipped_batches_within_the_budget(
    bad_loss: type[_BadLoss], data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    bad_loss.bad = {(0, 1), (1, 0), (2, 3)}
    out = tmp_path / "skip"
    assert run_cli(_train(data_dir, out, "--nan-policy", "skip", "--nan-budget", "3")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["skipped_batches"] == 3
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    skipped = [(e["epoch"], e["step"]) for e in events if e["event"] == "skipped_batch"]
    assert skipped == [(0, 1), (1, 0), (2, 3)]


def test_nan_policy_skip_stops_once_the_budget_is_spent(
    bad_loss: type[_BadLoss], data_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    bad_loss.bad = {(0, 1), (1, 0), (2, 3)}
    out = tmp_path / "spent"
    assert run_cli(_train(data_dir, out, "--nan-policy", "skip", "--nan-budget", "2")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "epoch 2, step 3" in err[0] and "--nan-budget of 2" in err[0]
    assert load_checkpoint(out / "checkpoints" / "last.pt")["skipped_batches"] == 2
    assert not (out / "metrics.json").exists()


def test_a_skipped_batch_does_not_change_the_model(
    bad_loss: type[_BadLoss], data_dir: Path, tmp_path: Path
) -> None:
    """Skipping every step of epoch 1 leaves the weights where epoch 0 left them."""
    bad_loss.bad = {(1, s) for s in range(20)}
    skipped, reference = tmp_path / "all", tmp_path / "one"
    assert (
        run_cli([*_train(data_dir, skipped, "--nan-policy", "skip", "--nan-budget", "100"), "--epochs", "2"])
        == 0
    )
    assert json.loads((skipped / "metrics.json").read_text())["skipped_batches"] == 6  # 96 rows / 16
    assert run_cli([*_train(data_dir, reference), "--epochs", "1"]) == 0
    a = load_checkpoint(skipped / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(reference / "checkpoints" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in b)
