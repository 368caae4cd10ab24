"""LTML and the long-tail samplers in the end-to-end setting: the two-branch image model, resume,
predict, the DB sampler's epoch length (features and images), the long-tail cut and group mAP."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from partialml.cli.app import main
from partialml.engine import TrainConfig, Trainer
from partialml.engine.checkpoint import load_checkpoint
from partialml.engine.image_setting import ImageBatches, build_image_model
from partialml.engine.inference import load_run_model, predict_split
from partialml.errors import PartialMLError
from partialml.models.dual_branch import ImageDualBranchClassifier, split_last_stage

from .conftest import tiny_args


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return (0 if info.value.code is None else int(info.value.code)), out, err


def with_option(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    if option in out:
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


def ltml_args(root: Path, out: Path, *extra: str) -> list[str]:
    args = with_option(tiny_args(root, out), "--loss", "ltml")
    return [*with_option(args, "--partial", "full"), *extra]


def test_image_ltml_on_a_long_tail_cut_trains_resumes_exactly_and_predicts(
    image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    cut = ("--long-tail", "pareto,max=12")
    code, _, err = run_cli(ltml_args(image_data, full, *cut), capsys)
    assert code == 0, err
    assert run_cli(with_option(ltml_args(image_data, part, *cut), "--epochs", "1"), capsys)[0] == 0
    code, _, err = run_cli(
        ["train", "--output-dir", str(part), "--resume", "--epochs", "2", "--no-progress"], capsys
    )
    assert code == 0, err
    a = load_checkpoint(full / "checkpoints" / "last.pt")
    b = load_checkpoint(part / "checkpoints" / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for name in ("backbone.last_u.0.conv1.weight", "backbone.last_r.0.conv1.weight", "head.u.fc.weight"):
        assert name in a["model"]
    assert not any(k.startswith("backbone.trunk.layer4.") for k in a["model"])  # layer4 lives per branch
    ma = json.loads((full / "metrics.json").read_text())
    mb = json.loads((part / "metrics.json").read_text())
    assert ma["epochs_run"] == 2 and ma["protocol"]["loss"] == "ltml"
    assert ma["val"] == mb["val"] and ma["test"] == mb["test"]
    assert ma["protocol"]["long_tail"] == "pareto,max=12" and ma["protocol"]["sampler"] == "uniform"
    assert ma["protocol"]["num_train"] + ma["protocol"]["num_val"] < 24  # the cut happened
    assert set(ma["test"]["group_mAP"]) == {"head", "medium", "tail"}
    assert sum(ma["test"]["group_sizes"].values()) == 3
    # predict rebuilds the two-branch model from config.yaml and reads the test images
    loaded = load_run_model(full, device="cpu")
    assert isinstance(loaded.model, ImageDualBranchClassifier)
    names, _classes, scores = predict_split(full, data=str(image_data / "test.csv"), device="cpu")
    assert len(names) == 8 and scores.shape == (8, 3)
    assert np.all((scores >= 0) & (scores <= 1))


def test_branch_structure_shared_trunk_and_copied_last_stage() -> None:
    cfg = TrainConfig.from_mapping(
        {"setting": "end-to-end", "model": "resnet18", "width": 4, "weights": None, "loss": "ltml"}
    )
    torch.manual_seed(0)
    model = build_image_model(cfg, num_classes=3, device=torch.device("cpu"))
    assert isinstance(model, ImageDualBranchClassifier)
    trunk, last_u, last_r = (model.backbone[k] for k in ("trunk", "last_u", "last_r"))
    assert isinstance(trunk.layer4, nn.Identity)
    trunk_ids = {id(p) for p in trunk.parameters()}
    u_ids, r_ids = {id(p) for p in last_u.parameters()}, {id(p) for p in last_r.parameters()}
    assert trunk_ids and u_ids and r_ids
    assert not (trunk_ids & u_ids) and not (trunk_ids & r_ids) and not (u_ids & r_ids)
    for (name, pu), (_, pr) in zip(last_u.named_parameters(), last_r.named_parameters(), strict=True):
        assert torch.equal(pu, pr), name  # the copies start equal ...
        assert pu.data_ptr() != pr.data_ptr(), name  # ... in separate storage
    # each parameter is in exactly one optimizer group, and the trunk is one module used by both branches
    from partialml.engine.image_setting import image_param_groups

    groups = image_param_groups(cfg, model)
    counted = [id(p) for g in groups for p in g["params"]]
    assert sorted(counted) == sorted(id(p) for p in model.parameters())
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    u, r = model.branches(x)
    assert u.shape == r.shape == (2, 3)
    assert torch.allclose(torch.sigmoid(model(x)), (torch.sigmoid(u) + torch.sigmoid(r)) / 2, atol=1e-6)
    # a loss on branch U alone reaches the shared trunk and U's last stage, not R's
    model.train()
    model.zero_grad()
    model.branches(x)[0].sum().backward()
    assert all(p.grad is not None for p in trunk.parameters())
    assert all(p.grad is not None for p in last_u.parameters())
    assert all(p.grad is None for p in last_r.parameters())


def test_backbone_without_last_stage_is_a_one_line_error() -> None:
    with pytest.raises(PartialMLError, match="layer4"):
        split_last_stage(nn.Sequential(nn.Conv2d(3, 4, 3)), name="timm:convnext_atto")


def _features_config(data: Path, out: Path) -> TrainConfig:
    return TrainConfig.from_mapping(
        {
            "data": str(data),
            "format": "npy",
            "output_dir": str(out),
            "epochs": 1,
            "batch_size": 16,
            "device": "cpu",
            "partial": "full",
            "head": "mlp",
            "hidden_dim": 8,
            "loss": "ltml",
            "sampler": "db",
        }
    )


def _db_steps(observed: np.ndarray, batch_size: int) -> int:
    """DB's rule (Wu et al. 2020, ClassAwareSampler, reduce 4): floor(max_k n_k * C / 4) draws, C the
    classes with a positive; the LTML epoch ends with the shorter of it and the uniform pass."""
    counts = (observed == 1).sum(axis=0)
    db_draws = int(counts.max() * (counts > 0).sum() / 4)
    return min(math.ceil(observed.shape[0] / batch_size), math.ceil(db_draws / batch_size))


@pytest.mark.parametrize("setting", ["features", "end-to-end"])
def test_ltml_with_db_sampler_epoch_length(
    setting: str, image_data: Path, tmp_path: Path, make_feature_dir: Any
) -> None:
    if setting == "features":
        data = make_feature_dir(tmp_path / "d", n=120, c=5)
        cfg = _features_config(data, tmp_path / "run")
    else:
        cfg = TrainConfig.from_mapping(
            {
                "setting": "end-to-end",
                "data": str(image_data / "labels.csv"),
                "test_split": str(image_data / "test.csv"),
                "model": "resnet18",
                "width": 4,
                "weights": None,
                "image_size": 32,
                "partial": "full",
                "loss": "ltml",
                "sampler": "db",
                "epochs": 1,
                "batch_size": 2,
                "device": "cpu",
                "output_dir": str(tmp_path / "run"),
            }
        )
    steps: list[int] = []
    trainer = Trainer(
        cfg, show_progress=False, handle_signals=False, step_callback=lambda *a: steps.append(a[1])
    )
    trainer.setup()
    expected = _db_steps(trainer.store.to_dense().numpy(), cfg.batch_size)
    assert expected < math.ceil(len(trainer.prepared.train_rows) / cfg.batch_size)  # DB is the shorter
    assert len(trainer.batches) == expected
    metrics = trainer.fit().metrics
    assert steps == list(range(expected))
    assert metrics["protocol"]["sampler"] == "db"
    assert set(metrics["test"]["group_mAP"]) == {"head", "medium", "tail"}


def test_class_aware_resampling_in_the_image_setting(image_data: Path, tmp_path: Path) -> None:
    from partialml.data.samplers import ClassAwareSampler

    cfg = TrainConfig.from_mapping(
        {
            "setting": "end-to-end",
            "data": str(image_data / "labels.csv"),
            "model": "resnet18",
            "width": 4,
            "weights": None,
            "image_size": 32,
            "loss": "bce",
            "sampler": "class-aware",
            "batch_size": 4,
            "device": "cpu",
            "output_dir": str(tmp_path / "run"),
        }
    )
    trainer = Trainer(cfg, show_progress=False, handle_signals=False).setup()
    batches: Any = trainer.batches
    assert isinstance(batches, ImageBatches) and isinstance(batches.sampler, ClassAwareSampler)
    n = len(trainer.prepared.train_rows)
    assert len(batches) == math.ceil(n / 4)  # class-aware: N draws per epoch
    batches.set_epoch(0)
    drawn = [int(p) for _, pos in batches for p in pos]
    batches.set_epoch(0)
    assert drawn == [int(p) for _, pos in batches for p in pos]  # an epoch depends on (seed, epoch)
    assert len(drawn) == n and len(set(drawn)) < n  # drawn with replacement


def test_sampled_image_batches_share_one_draw_sequence_between_ranks() -> None:
    from partialml.data.samplers import ClassAwareSampler

    observed = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [1, 1]], dtype=np.int8)
    dataset = [(torch.full((3, 2, 2), float(i)), i) for i in range(5)]
    shares = []
    for rank in (0, 1):
        sampler = ClassAwareSampler(observed, mode="class-aware", num_samples=9, seed=3)
        gen = torch.Generator().manual_seed(0)
        batches = ImageBatches(
            dataset, np.arange(5), batch_size=2, shuffle=True, generator=gen, sampler=sampler
        )
        batches.num_replicas, batches.rank = 2, rank  # what the trainer sets under torchrun
        batches.set_epoch(1)
        shares.append([[int(p) for p in pos] for _, pos in batches])  # an empty share is a batch too
        assert len(batches) == 3  # ceil(9 draws / global batch 4)
    whole = ClassAwareSampler(observed, mode="class-aware", num_samples=9, seed=3)
    whole.set_epoch(1)
    draws = whole.epoch_draws().tolist()  # the one-process sequence, which every rank draws
    assert len(draws) == 9
    # global batches draws[0:4], [4:8], [8:9]: rank 0 keeps the first half of each, rank 1 the rest
    assert shares[0] == [draws[0:2], draws[4:6], draws[8:9]]
    assert shares[1] == [draws[2:4], draws[6:8], []]  # its share of the last batch is empty
