"""The LTML two-branch model and step, and the trainer's long-tail wiring (cut, samplers, group mAP,
resume)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from partialml.engine import TrainConfig, Trainer
from partialml.engine.dual_branch import dual_branch_loss
from partialml.engine.inference import load_run_model
from partialml.labels import LabelStore
from partialml.losses import create_loss
from partialml.models.dual_branch import DualBranchClassifier, average_probability_logit


def test_test_time_output_is_mean_probability() -> None:
    u = torch.tensor([[-30.0, 0.0, 2.0, 40.0]], dtype=torch.float64)
    r = torch.tensor([[-1.0, 0.0, -3.0, 35.0]], dtype=torch.float64)
    z = average_probability_logit(u, r)
    assert torch.allclose(torch.sigmoid(z), (torch.sigmoid(u) + torch.sigmoid(r)) / 2, atol=1e-15)
    assert torch.isfinite(z).all()
    m = DualBranchClassifier(4, 3, dropout=0.0).eval()
    x = torch.randn(5, 4)
    a, b = m.branches(x)
    assert torch.allclose(torch.sigmoid(m(x)), (torch.sigmoid(a) + torch.sigmoid(b)) / 2, atol=1e-6)


def test_step_loss_is_the_papers_total_loss_and_reaches_both_heads() -> None:
    torch.manual_seed(0)
    obs = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=torch.int8)
    store = LabelStore.from_dense(obs.numpy())
    loss = create_loss("ltml", labels=obs, compensation="statistics")
    m = DualBranchClassifier(2, 3, hidden_dim=4, dropout=0.0)
    xu, xr = torch.randn(2, 2), torch.randn(3, 2)
    pu, pr = torch.tensor([0, 1]), torch.tensor([2, 3, 2])
    value, _, _, _ = dual_branch_loss(m, loss, (xu, pu), (xr, pr), store)
    u_u, r_u = m.branches(xu)
    u_r, r_r = m.branches(xr)
    yu, yr = obs[pu], obs[pr]
    ref = (
        loss.compute(u_u, yu, None).mean()
        + loss.compute(r_r, yr, None).mean()
        + 0.1 * (((u_u - r_u) ** 2).mean() + ((r_r - u_r) ** 2).mean())
    )
    assert torch.allclose(value, ref)
    value.backward()
    assert m.head_u.weight.grad is not None and m.head_u.weight.grad.abs().sum() > 0
    assert m.head_r.weight.grad is not None and m.head_r.weight.grad.abs().sum() > 0


def _config(data: Path, out: Path, **kw: object) -> TrainConfig:
    base = {
        "data": str(data),
        "format": "npy",
        "output_dir": str(out),
        "epochs": 3,
        "batch_size": 32,
        "device": "cpu",
        "partial": "full",
        "head": "mlp",
        "hidden_dim": 16,
    }
    base.update(kw)
    return TrainConfig.from_mapping(base)


def _fit(cfg: TrainConfig) -> dict:
    return Trainer(cfg, show_progress=False, handle_signals=False).fit().metrics


def test_ltml_train_group_map_resume_and_predict(tmp_path: Path, make_feature_dir) -> None:
    data = make_feature_dir(tmp_path / "d", n=400, c=6)
    straight = _fit(_config(data, tmp_path / "a", loss="ltml", long_tail="pareto,max=60"))
    _fit(_config(data, tmp_path / "b", loss="ltml", long_tail="pareto,max=60", epochs=2))
    resumed = _fit(_config(data, tmp_path / "b", loss="ltml", long_tail="pareto,max=60", resume=True))
    assert straight["test"]["mAP"] == resumed["test"]["mAP"]
    a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=True)
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["loss"]:  # learned compensation
        assert torch.equal(a["loss"][key], b["loss"][key]), key
    assert set(straight["test"]["group_mAP"]) == {"head", "medium", "tail"}
    assert straight["protocol"]["num_train"] < 320  # the cut happened
    loaded = load_run_model(tmp_path / "a")
    assert isinstance(loaded.model, DualBranchClassifier)


@pytest.mark.parametrize(("loss", "extra"), [("bce", {"sampler": "class-aware"}), ("db", {}), ("focal", {})])
def test_group_map_for_every_loss(tmp_path: Path, make_feature_dir, loss: str, extra: dict) -> None:
    data = make_feature_dir(tmp_path / "d", n=200, c=4)
    m = _fit(_config(data, tmp_path / "r", loss=loss, epochs=1, long_tail="pareto,max=40", **extra))
    groups = m["test"]["group_mAP"]
    assert set(groups) == {"head", "medium", "tail"}
    assert sum(m["test"]["group_sizes"].values()) == 4
    values = [v for v in groups.values() if v is not None]
    assert values and all(0 <= v <= 100 for v in values)


def test_cut_before_partial_scheme(tmp_path: Path, make_feature_dir) -> None:
    data = make_feature_dir(tmp_path / "d", n=300, c=5)
    cfg = _config(data, tmp_path / "r", loss="an", partial="single-positive", long_tail="pareto,max=30")
    t = Trainer(cfg, show_progress=False, handle_signals=False).setup()
    full = np.load(data / "train_labels.npy")
    from partialml.labels.long_tail import long_tail_rows

    keep = long_tail_rows("pareto,max=30", full)
    assert np.array_equal(t.prepared.full, full[keep])
    assert ((t.prepared.observed == 1).sum(1) == 1).all()  # single positive drawn on the cut rows
    assert json.loads(json.dumps(t._meta()))["model"] == "single"
