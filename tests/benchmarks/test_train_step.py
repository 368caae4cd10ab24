"""``benchmarks.train_step``: the skip row without CUDA; on CUDA, the quick run's rows are consistent."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"benchmark", "metric", "value", "unit", "goal", "passed", "notes"}


def _module(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))  # ``benchmarks`` is a top-level package of the checkout
    return importlib.import_module(f"benchmarks.{name}")


def test_without_cuda_one_skip_row_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    train_step = _module(monkeypatch, "train_step")
    runner = _module(monkeypatch, "run")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    t0 = time.perf_counter()
    rows = train_step.run(quick=False)
    assert time.perf_counter() - t0 < 1.0  # no model is built, no JPEG is written
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == KEYS
    assert (row["benchmark"], row["metric"], row["value"]) == ("train_step", "skipped", "no CUDA device")
    assert row["passed"] is None and row["goal"] == ""  # a skip neither passes nor fails the run
    assert "train_step" in runner.BENCHMARKS
    assert runner.BENCHMARKS.index("train_step") > runner.BENCHMARKS.index("input_pipeline")
    assert "| train_step | skipped | no CUDA device |" in runner.render(rows, quick=True, seconds=0.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_quick_run_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _module(monkeypatch, "train_step").run(quick=True)
    assert all(set(r) == KEYS and r["benchmark"] == "train_step" for r in rows)
    by_unit: dict[str, list[dict]] = {}
    for r in rows:
        by_unit.setdefault(r["unit"], []).append(r)
    fp32, amp = by_unit["images/s"]
    assert fp32["metric"].startswith("fp32") and "channels_last" in amp["metric"]
    assert fp32["value"] > 0 and amp["value"] > 0
    (ratio,) = by_unit["x"]
    # speed-up = fp32 seconds per step / AMP seconds per step = AMP images/s / fp32 images/s
    assert ratio["value"] == pytest.approx(amp["value"] / fp32["value"], rel=1e-9)
    assert ratio["goal"] == "" and ratio["passed"] is None  # the issue sets no goal
    memory = by_unit["MiB"]
    assert len(memory) == 2 and all(m["value"] > 0 for m in memory)
    assert torch.cuda.get_device_name(0) in fp32["notes"]
