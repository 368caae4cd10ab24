"""DDP on the CPU (gloo, 2 processes under torchrun) against one process with the same global batch.

Reference: one in-process run with ``batch_size = 2 b``; DDP: ``torchrun --nproc-per-node 2`` with
``batch_size = b`` per rank. The per-epoch training losses must agree to 1e-5 relative, the val/test mAP
(0-100 scale) to 1e-3 points, and LL-Cp's corrected LabelStore must be identical on both ranks (and,
with ``--ll-topk global``, equal to the single process's).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from partialml.engine import TrainConfig, Trainer
from partialml.engine.distributed import StepSync, gather_cat, init_distributed, shard, world_size
from partialml.engine.loaders import FeatureBatches
from partialml.errors import PartialMLError

WORKER = Path(__file__).with_name("_ddp_worker.py")
LOSS_RTOL = 1e-5
MAP_ATOL = 1e-3  # mAP points (0-100)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    return env


def _torchrun(args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _config(data: Path, out: Path, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "data": str(data),
        "output_dir": str(out),
        "partial": "single-positive",
        "epochs": 3,
        "lr": 0.01,
        "optimizer": "adam",
        "head": "linear",
        "device": "cpu",
        "seed": 3,
        "eval_batch_size": 37,  # several scoring batches, uneven rank shares
    }
    base.update(kw)
    return base


def _single(cfg: dict[str, Any]) -> tuple[Trainer, Any]:
    trainer = Trainer(TrainConfig.from_mapping(cfg), show_progress=False)
    return trainer, trainer.fit()


def _ddp(tmp: Path, cfg: dict[str, Any]) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.json").write_text(json.dumps(cfg))
    _torchrun([str(WORKER), str(tmp / "config.json"), str(tmp)])
    runs = [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(2)]
    stores = [np.load(tmp / f"rank{r}.npz")["store"] for r in range(2)]
    return runs, stores


def _assert_same_run(single: Any, ddp: dict[str, Any]) -> None:
    assert ddp["world"] == 2
    losses_1 = [row["train_loss"] for row in single.history]
    losses_2 = [row["train_loss"] for row in ddp["history"]]
    np.testing.assert_allclose(losses_2, losses_1, rtol=LOSS_RTOL)
    for split in ("val", "test"):
        assert abs(ddp["metrics"][split]["mAP"] - single.metrics[split]["mAP"]) <= MAP_ATOL, split
    assert ddp["metrics"]["best_epoch"] == single.metrics["best_epoch"]
    assert ddp["metrics"]["protocol"]["global_batch_size"] == single.metrics["protocol"]["batch_size"]


# -- in-process pieces (no process group) ---------------------------------------------------------------


def test_single_process_is_a_no_op() -> None:
    ctx = init_distributed("cpu")
    assert (ctx.world_size, ctx.rank, ctx.enabled, ctx.is_main) == (1, 0, False, True)
    assert world_size() == 1
    sync = StepSync()
    assert sync.loss_weight(7) == 1.0 and sync.any_true(True) and not sync.any_true(False)
    t = torch.arange(5)
    assert torch.equal(gather_cat(t), t)


def test_shard_is_a_disjoint_cover() -> None:
    items = torch.arange(11)
    parts = [shard(items, num_replicas=3, rank=r) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 3]
    assert torch.equal(torch.cat(parts), items)


def test_rank_batches_slice_the_single_process_batches() -> None:
    """Same seeded order on every rank; rank slices of a global batch = the 2b batch of one process."""
    x = torch.randn(21, 3)
    rows = np.arange(21)

    def batches(**kw: Any) -> list[torch.Tensor]:
        g = torch.Generator()
        g.manual_seed(5)
        return [p for _, p in FeatureBatches(x, rows, shuffle=True, generator=g, **kw)]

    single = batches(batch_size=8)
    ranks = [batches(batch_size=4, num_replicas=2, rank=r) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == 3
    for step, whole in enumerate(single):
        assert torch.equal(torch.cat([ranks[0][step], ranks[1][step]]), whole)
    assert [len(b) for b in ranks[1]] == [4, 4, 2]  # last global batch of 5: 3 / 2


# -- torchrun, gloo, 2 processes ------------------------------------------------------------------------


@pytest.mark.slow
def test_ddp_an_matches_single_process(tmp_path: Path, make_feature_dir: Any) -> None:
    """AN, per-rank batch 4 (the last global batch has 1 sample: rank 1's share is empty)."""
    data = make_feature_dir(tmp_path / "data", n=251, n_test=60)  # 201 training rows
    _, single = _single(_config(data, tmp_path / "one", loss="an", batch_size=8))
    runs, stores = _ddp(tmp_path / "ddp", _config(data, tmp_path / "two", loss="an", batch_size=4))
    _assert_same_run(single, runs[0])
    assert np.array_equal(stores[0], stores[1])
    # only rank 0 wrote; its run directory is complete
    assert (tmp_path / "two" / "metrics.json").is_file()
    assert len((tmp_path / "two" / "log.jsonl").read_text().splitlines()) == 3 + 2


@pytest.mark.slow
def test_ddp_ll_cp_global_topk_matches_single_process(tmp_path: Path, make_feature_dir: Any) -> None:
    data = make_feature_dir(tmp_path / "data", n=251, n_test=60)
    extra = {"loss": "ll-cp", "loss_args": {"delta_rel": 0.02}, "ll_topk": "global"}
    trainer, single = _single(_config(data, tmp_path / "one", batch_size=16, **extra))
    runs, stores = _ddp(tmp_path / "ddp", _config(data, tmp_path / "two", batch_size=8, **extra))
    _assert_same_run(single, runs[0])
    one_store = trainer.store.to_dense().numpy()
    assert trainer.store.num_corrections > 0
    assert np.array_equal(stores[0], stores[1])
    assert np.array_equal(stores[0], one_store)
    assert runs[0]["metrics"]["corrections"] == single.metrics["corrections"]


@pytest.mark.slow
def test_ddp_cli_ll_cp_rank_topk_keeps_stores_identical(tmp_path: Path, make_feature_dir: Any) -> None:
    """The console route (``torchrun -m partialml train``), LL-Cp with per-rank top-k."""
    data = make_feature_dir(tmp_path / "data", n=251, n_test=60)
    out = tmp_path / "run"
    args = ["--data", str(data), "--output-dir", str(out), "--loss", "ll-cp", "--loss-arg", "delta_rel=0.02"]
    args += ["--epochs", "3", "--batch-size", "8", "--device", "cpu", "--seed", "3", "--no-progress"]
    proc = _torchrun(["-m", "partialml", "train", *args])
    assert proc.stdout.count("best epoch") == 1  # rank 0 reports, rank 1 is silent
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"]["world_size"] == 2 and metrics["protocol"]["ll_topk"] == "rank"
    assert metrics["corrections"] > 0
    # per rank: k = ceil(8 * 5 * 0.02) = 1 per rank and step from epoch 1 (2 per global step of 16)
    steps = -(-201 // 16)
    assert metrics["corrections"] <= 2 * 2 * steps
    assert state["label_store"] is not None


def test_rank_slices_of_sampled_batches_are_the_single_process_batches() -> None:
    """Re-balanced sampling under DDP: every rank draws the same sequence and keeps its slice of each
    global batch, so the ranks' batches put together are the batches of one process (global batch)."""
    from partialml.data.samplers import build_sampler
    from partialml.engine.loaders import SamplerBatches

    observed = np.full((30, 3), -1, dtype=np.int8)
    observed[np.arange(30), np.arange(30) % 3] = 1
    observed[:20, 0] = 1  # class 0 is frequent

    def batches(batch_size: int, rank: int | None) -> list[torch.Tensor]:
        sampler = build_sampler("class-aware", observed, seed=4)
        sampler.set_epoch(2)
        b = SamplerBatches(torch.randn(30, 2), np.arange(30), sampler, batch_size=batch_size)
        if rank is not None:
            b.num_replicas, b.rank = 2, rank
        assert len(b) == -(-len(sampler) // 8)
        return [p for _, p in b]

    single = batches(8, None)
    ranks = [batches(4, r) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for step, whole in enumerate(single):
        assert torch.equal(torch.cat([ranks[0][step], ranks[1][step]]), whole)


@pytest.mark.slow
def test_ddp_class_aware_sampler_matches_single_process(tmp_path: Path, make_feature_dir: Any) -> None:
    data = make_feature_dir(tmp_path / "data", n=251, n_test=60)
    extra = {"loss": "an", "sampler": "class-aware"}
    _, single = _single(_config(data, tmp_path / "one", batch_size=8, **extra))
    runs, stores = _ddp(tmp_path / "ddp", _config(data, tmp_path / "two", batch_size=4, **extra))
    _assert_same_run(single, runs[0])
    assert np.array_equal(stores[0], stores[1])


def test_dual_branch_loss_under_torchrun_is_one_line_naming_the_loss(
    tmp_path: Path, make_feature_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal names the dual-branch loss and what to use instead (no process group needed: it
    comes before DDP wraps anything)."""
    from partialml.engine import distributed

    two = distributed.DistContext(
        rank=0, world_size=2, local_rank=0, backend="gloo", device=torch.device("cpu")
    )
    monkeypatch.setattr(distributed, "init_distributed", lambda device: two)
    data = make_feature_dir(tmp_path / "data", n=60, n_test=10)
    config = TrainConfig(data=str(data), output_dir=str(tmp_path / "run"), loss="ltml", device="cpu")
    with pytest.raises(PartialMLError, match=r"--loss ltml \(dual-branch\) is not supported") as info:
        Trainer(config, show_progress=False).setup()
    assert "--sampler" not in str(info.value) and "\n" not in str(info.value)
