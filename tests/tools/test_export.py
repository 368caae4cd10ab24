"""``partialml export`` and ``partialml.load``: round trip, sidecar, thresholds, errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import partialml
from partialml.engine.inference import predict_split
from partialml.errors import PartialMLError, PartialMLWarning
from partialml.tools.export import EXPORT_FORMAT, export_run, load_exported


@pytest.fixture(scope="module")
def std_run(make_run) -> Path:
    return make_run("--loss", "ll-r", "--standardize", "--head", "mlp", "--hidden-dim", "16")


@pytest.mark.parametrize("which", ["trained", "std_run"])
def test_round_trip_predictions_equal_the_runs(
    which: str, request: pytest.FixtureRequest, data_dir: Path, tmp_path: Path
) -> None:
    run = request.getfixturevalue(which)
    weights, sidecar = export_run(run, tmp_path / "model.safetensors")
    assert sidecar == tmp_path / "model.json"
    model = partialml.load(weights)
    _, classes, want = predict_split(run, data=str(data_dir), split="test", device="cpu")
    x = np.load(data_dir / "test_features.npy")
    got = model.predict_proba(x)
    assert got.shape == want.shape and model.class_names == classes
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    np.testing.assert_allclose(model.predict_proba(torch.from_numpy(x)), want, atol=1e-6, rtol=0)
    assert (model.predict(x) == (got >= model.thresholds)).all()
    assert (partialml.load(sidecar).predict_proba(x) == got).all()  # the sidecar path works too


def test_sidecar_fields_and_tuned_thresholds(std_run: Path, tmp_path: Path) -> None:
    _, sidecar = export_run(std_run, tmp_path / "m.safetensors")
    meta = json.loads(sidecar.read_text())
    assert meta["format"] == EXPORT_FORMAT and meta["partialml_version"] == partialml.__version__
    assert meta["in_dim"] == 8 and meta["num_classes"] == 4 and len(meta["class_names"]) == 4
    assert meta["head"] == {"type": "mlp", "hidden_dim": 16, "dropout": 0.5}
    assert meta["standardize"] is True and meta["threshold_source"] == "tuned"
    assert meta["protocol"]["loss"] == "ll-r" and meta["protocol"]["partial"] == "single-positive"
    tuned = json.loads((std_run / "thresholds.json").read_text())["thresholds"]
    assert meta["thresholds"] == pytest.approx(tuned)
    from safetensors.torch import load_file

    keys = set(load_file(str(tmp_path / "m.safetensors")))
    assert {"standardize.mean", "standardize.std"} <= keys
    _, side2 = export_run(std_run, tmp_path / "d.safetensors", thresholds="default")
    assert json.loads(side2.read_text())["thresholds"] == [0.5] * 4


def test_load_rejects_changed_or_foreign_files(trained: Path, tmp_path: Path) -> None:
    weights, sidecar = export_run(trained, tmp_path / "model.safetensors")
    model = load_exported(weights)
    with pytest.raises(PartialMLError, match=r"expected \(N, 8\)"):
        model.predict_proba(np.zeros((2, 5), np.float32))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(PartialMLError, match="SHA-256"):
        load_exported(weights)
    sidecar.write_text(json.dumps({"format": "other"}))
    with pytest.raises(PartialMLError, match="not a partialml export"):
        load_exported(sidecar)
    with pytest.raises(PartialMLError, match="sidecar"):
        load_exported(tmp_path / "missing.safetensors")


def test_cli_export(trained: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "model.safetensors"
    code, _, err = cli(["export", "--run", str(trained), "--output", str(out)])
    assert code == 0, err
    assert out.is_file() and (tmp_path / "model.json").is_file()
    code, _, err = cli(["export", "--run", str(trained), "--output", str(tmp_path / "model.pt")])
    assert code == 2 and err.count("\n") == 1 and ".safetensors" in err
    code, _, err = cli(["export", "--run", str(tmp_path / "none"), "--output", str(out)])
    assert code == 2 and err.count("\n") == 1


def test_onnx_export_of_a_features_run_matches_the_run(std_run: Path, data_dir: Path, tmp_path: Path) -> None:
    """Standardization + MLP head in one ONNX graph; onnxruntime's probabilities equal the run's."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    weights, sidecar = export_run(std_run, tmp_path / "model.onnx", format="onnx")
    assert json.loads(sidecar.read_text())["kind"] == "onnx"
    _, _, want = predict_split(std_run, data=str(data_dir), split="test", device="cpu")
    x = np.load(data_dir / "test_features.npy").astype(np.float32)
    (logits,) = ort.InferenceSession(str(weights)).run(["logits"], {"input": x})
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), want, atol=1e-5, rtol=0)


def test_formats_side_by_side_keep_their_own_sidecars_and_nothing_is_replaced(
    trained: Path, data_dir: Path, tmp_path: Path, cli
) -> None:
    """safetensors, TorchScript and ONNX of one run in one folder: three sidecars, each loads its own
    file; a second export to an existing name exits 2 and leaves both files as they were."""
    safetensors, torchscript = tmp_path / "model.safetensors", tmp_path / "model.pt"
    assert cli(["export", "--run", str(trained), "--output", str(safetensors)])[0] == 0
    code, _, err = cli(
        ["export", "--run", str(trained), "--output", str(torchscript), "--format", "torchscript"]
    )
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.json",
        "model.pt",
        "model.pt.json",
        "model.safetensors",
    ]
    x = np.load(data_dir / "test_features.npy").astype(np.float32)
    a, b = partialml.load(safetensors), partialml.load(torchscript)
    assert a.metadata["kind"] == "features-head" and b.metadata["kind"] == "torchscript"
    np.testing.assert_allclose(a.predict_proba(x), b.predict_proba(x), atol=1e-6, rtol=0)

    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = cli(
        ["export", "--run", str(trained), "--output", str(torchscript), "--format", "torchscript"]
    )
    assert code == 2 and err.count("\n") == 1 and "--overwrite" in err and "model.pt" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    code, _, err = cli(["export", "--run", str(trained), "--output", str(safetensors), "--thresholds", "default",
                        "--overwrite"])  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "model.json").read_text())["threshold_source"] == "default"

    with warnings.catch_warnings(record=True) as caught:  # torch's deprecation notices: one warning of ours
        warnings.simplefilter("always")
        export_run(trained, tmp_path / "again.pt", format="torchscript")
    assert [(w.category, str(w.message).split(":")[0]) for w in caught] == [
        (PartialMLWarning, "--format torchscript")
    ]

    # an export of an earlier version: TorchScript file with its sidecar as model.json
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "old.pt").write_bytes(torchscript.read_bytes())
    (legacy / "old.json").write_text(
        (tmp_path / "model.pt.json").read_text().replace('"model.pt"', '"old.pt"')
    )
    np.testing.assert_allclose(partialml.load(legacy / "old.pt").predict_proba(x), b.predict_proba(x))


def test_tuned_thresholds_without_a_validation_split_warn_once(make_run, tmp_path: Path, cli) -> None:
    run = make_run("--loss", "an", "--val-fraction", "0")
    code, _, err = cli(["export", "--run", str(run), "--output", str(tmp_path / "m.safetensors")])
    assert code == 0 and err.startswith("partialml: warning: --thresholds tuned: the run has no validation")
    assert json.loads((tmp_path / "m.json").read_text())["threshold_source"] == "default"
    code, _, err = cli(["export", "--run", str(run), "--output", str(tmp_path / "d.safetensors"),
                        "--thresholds", "default"])  # fmt: skip
    assert code == 0 and "warning" not in err
