"""extract-features, linear-init, predict and TorchScript export of image runs (tiny data, CPU)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from partialml.cli.app import main
from partialml.engine.checkpoint import load_checkpoint
from partialml.errors import PartialMLError

from .conftest import CLASSES, train_args


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return (0 if info.value.code is None else int(info.value.code)), out, err


def _weights(tmp: Path) -> Path:
    from partialml.models.backbones import build_backbone

    torch.manual_seed(3)
    path = tmp / "w8.pt"
    torch.save(build_backbone("resnet18", width=8).state_dict(), path)
    return path


def test_extract_features_equals_the_pooled_backbone(
    images: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from partialml.data.arrays import read_npy_dir
    from partialml.data.transforms import build_transforms
    from partialml.models.backbones import build_backbone

    lab, root = images
    weights = _weights(tmp_path)
    out = tmp_path / "feats"
    argv = ["extract-features", "--data", str(lab / "labels.csv"), "--image-root", str(root), "--model",
            "resnet18", "--width", "8", "--weights", str(weights), "--image-size", "32", "--output",
            str(out), "--split", "train", "--split", "test", "--test-split", str(lab / "test.csv"),
            "--batch-size", "7", "--device", "cpu"]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    feats = np.load(out / "train_features.npy")
    assert feats.dtype == np.float32 and feats.shape == (20, 64)
    assert np.load(out / "train_labels.npy").dtype == np.int8
    assert not (out / "train_observed.npy").exists()  # csv labels are full labels
    ids = (out / "train_ids.txt").read_text().splitlines()
    assert ids[0] == "img/tr00.png" and len(ids) == 20
    assert (out / "class_names.txt").read_text().split() == sorted(CLASSES)
    # reference: the backbone's pooled output computed here, image by image
    backbone = build_backbone("resnet18", width=8, weights=weights).eval()
    tf = build_transforms("plain", image_size=32, train=False)
    for i in (0, 7, 19):
        arr = np.asarray(Image.open(root / ids[i]).convert("RGB"))
        x = tf(torch.from_numpy(arr).permute(2, 0, 1).contiguous())
        with torch.no_grad():
            ref = backbone(x[None]).mean(dim=(2, 3))[0].numpy()
        np.testing.assert_allclose(feats[i], ref, rtol=1e-5, atol=1e-5)
    data = read_npy_dir(out)  # the features reader takes the folder
    assert data.test is not None and data.test.x.shape == (6, 64)
    # the features setting trains on it
    code, _, err = run_cli(["train", "--data", str(out), "--format", "npy", "--epochs", "2",
                            "--device", "cpu", "--output-dir", str(tmp_path / "run"), "--no-progress"],
                           capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["protocol"]["num_test"] == 6


def test_extract_features_errors_are_one_line(
    images: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab, root = images
    base = ["extract-features", "--data", str(lab / "labels.csv"), "--image-root", str(root), "--model",
            "resnet18", "--width", "8", "--image-size", "32", "--output", str(tmp_path / "o")]  # fmt: skip
    code, _, err = run_cli([*base, "--split", "test"], capsys)
    assert code == 2 and "--split test" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli([*base, "--split", "val"], capsys)
    assert code == 2 and "--split" in err


def test_image_transform_reference_matches_the_dataset(images: tuple[Path, Path]) -> None:
    """The reference above reads images as ImageDataset does (guards the equality test's premise)."""
    from PIL import Image

    from partialml.data.images import ImageDataset
    from partialml.data.transforms import build_transforms

    _, root = images
    tf = build_transforms("plain", image_size=32, train=False)
    ds = ImageDataset(["img/tr03.png"], root=root, transform=tf)
    arr = np.asarray(Image.open(root / "img/tr03.png").convert("RGB"))
    ref = tf(torch.from_numpy(arr).permute(2, 0, 1).contiguous())
    torch.testing.assert_close(ds[0][0], ref)


@pytest.fixture(scope="module")
def e2e_run(images: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    lab, root = images
    out = tmp_path_factory.mktemp("e2e") / "run"
    with pytest.raises(SystemExit) as info:
        main(train_args(lab, root, out, "--setting", "end-to-end", "--epochs", "1"))
    assert info.value.code in (0, None)
    return out


def test_predict_on_an_image_run(
    e2e_run: Path, images: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from partialml.engine.image_setting import build_image_dataset
    from partialml.engine.inference import load_run_model

    lab, root = images
    out = tmp_path / "pred.csv"
    code, _, err = run_cli(["predict", "--run", str(e2e_run), "--data", str(lab / "test.csv"),
                            "--image-root", str(root), "--device", "cpu", "--output", str(out)],
                           capsys)  # fmt: skip
    assert code == 0, err
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["sample", *sorted(CLASSES)]
    assert [r[0] for r in rows[1:]] == [f"img/te{i:02d}.png" for i in range(6)]
    got = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    # reference: the checkpoint's model on the same images
    loaded = load_run_model(e2e_run, device="cpu")
    ds = build_image_dataset([r[0] for r in rows[1:]], root=root, config=loaded.config, train=False)
    with torch.no_grad():
        x = torch.stack([ds[i][0] for i in range(6)])
        ref = torch.sigmoid(loaded.model(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    # a run on images cannot read feature data
    code, _, err = run_cli(["predict", "--run", str(e2e_run), "--data", "yeast", "--device", "cpu"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_torchscript_export_of_an_image_run(
    e2e_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import partialml
    from partialml.engine.inference import load_run_model

    target = tmp_path / "model.pt"
    code, _, err = run_cli(["export", "--run", str(e2e_run), "--output", str(target), "--format",
                            "torchscript"], capsys)  # fmt: skip
    assert code == 0, err
    meta = json.loads(target.with_name(target.name + ".json").read_text())  # model.pt.json
    assert meta["kind"] == "torchscript" and meta["input_shape"] == [None, 3, 32, 32]
    assert meta["transforms"] == "ll" and meta["class_names"] == sorted(CLASSES)
    model = partialml.load(target)
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = torch.sigmoid(load_run_model(e2e_run, device="cpu").model(x)).numpy()
    np.testing.assert_allclose(model.predict_proba(x), ref, atol=1e-5, rtol=0)
    assert model.predict(x).shape == (5, 3)
    with pytest.raises(PartialMLError, match="expected \\(N, 3, 32, 32\\)"):
        model.predict_proba(torch.zeros(2, 64))
    # safetensors is for feature heads; onnx needs the onnx package
    code, _, err = run_cli(["export", "--run", str(e2e_run), "--output", str(tmp_path / "m.safetensors")],
                           capsys)  # fmt: skip
    assert code == 2 and "torchscript" in err
    try:
        import onnx  # noqa: F401
    except ImportError:
        code, _, err = run_cli(["export", "--run", str(e2e_run), "--output", str(tmp_path / "m.onnx"),
                                "--format", "onnx"], capsys)  # fmt: skip
        assert code == 2 and "onnx" in err and len(err.strip().splitlines()) == 1


def test_linear_init_starts_phase_2_from_the_phase_1_head(images: tuple[Path, Path], tmp_path: Path) -> None:
    from partialml.engine.config import resolve_config
    from partialml.engine.extract import PHASE1_DIR, LinearInitTrainer

    lab, root = images
    overrides = {
        "setting": "linear-init", "data": str(lab / "labels.csv"), "test_split": str(lab / "test.csv"),
        "image_root": str(root), "model": "resnet18", "width": 8, "image_size": 32, "loss": "an",
        "partial": "single-positive", "batch_size": 8, "lr": 0.001, "device": "cpu", "epochs": 1,
        "init_epochs": 2, "output_dir": str(tmp_path / "li"), "head_lr_mult": 10.0,
    }  # fmt: skip
    trainer = LinearInitTrainer(resolve_config(config_file=None, overrides=overrides), show_progress=False)
    backbone_before = {k: v.clone() for k, v in trainer.setup().model.backbone.state_dict().items()}
    trainer.initialize_head()
    state = load_checkpoint(tmp_path / "li" / PHASE1_DIR / "checkpoints" / "best.pt")
    assert torch.equal(trainer.model.head.fc.weight, state["model"]["head.fc.weight"])
    assert torch.equal(trainer.model.head.fc.bias, state["model"]["head.fc.bias"])
    for k, v in trainer.model.backbone.state_dict().items():  # phase 1 leaves the backbone alone
        assert torch.equal(v, backbone_before[k]), k
    p1 = json.loads((tmp_path / "li" / PHASE1_DIR / "metrics.json").read_text())
    assert p1["protocol"]["setting"] == "features" and p1["protocol"]["lr"] == pytest.approx(0.01)
    assert p1["protocol"]["num_train"] == len(trainer.prepared.train_rows)  # the same split


def test_linear_init_cli_records_both_phases(
    images: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab, root = images
    out = tmp_path / "run"
    code, _, err = run_cli(train_args(lab, root, out, "--setting", "linear-init", "--init-epochs", "2",
                                      "--epochs", "1"), capsys)  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [(r["phase"], r["epoch"]) for r in rows] == [("linear", "0"), ("linear", "1"), ("end-to-end", "0")]
    m = json.loads((out / "metrics.json").read_text())
    assert m["protocol"]["setting"] == "linear-init" and m["protocol"]["init_epochs"] == 2
    assert m["phases"]["linear"]["epochs_run"] == 2 and m["phases"]["end-to-end"]["epochs_run"] == 1
    assert 0.0 <= m["test"]["mAP"] <= 100.0
    # the run is an image run for predict
    code, _, err = run_cli(["predict", "--run", str(out), "--data", str(lab / "test.csv"), "--image-root",
                            str(root), "--device", "cpu"], capsys)  # fmt: skip
    assert code == 0, err


def test_linear_init_rejects_the_cam_head(images: tuple[Path, Path], tmp_path: Path) -> None:
    from partialml.engine.config import TrainConfig

    with pytest.raises(PartialMLError, match="--head"):
        TrainConfig.from_mapping({"setting": "linear-init", "head": "cam"})


def test_onnx_export_of_an_image_run_matches_torch(
    e2e_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ONNX graph, run by onnxruntime (a reference we did not write), gives the run's logits."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from partialml.engine.inference import load_run_model

    target = tmp_path / "model.onnx"
    code, out, err = run_cli(["export", "--run", str(e2e_run), "--output", str(target), "--format", "onnx"],
                             capsys)  # fmt: skip
    assert code == 0, err
    assert "torch.onnx" not in out + err  # the exporter's progress lines stay out of the CLI's output
    meta = json.loads(target.with_name(target.name + ".json").read_text())  # model.pt.json
    assert meta["kind"] == "onnx" and meta["input_shape"] == [None, 3, 32, 32]
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    for batch in (1, 5):  # the batch axis is dynamic
        x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            ref = load_run_model(e2e_run, device="cpu").model(x).numpy()
        (logits,) = session.run(["logits"], {"input": x.numpy()})
        assert logits.shape == (batch, 3)
        np.testing.assert_allclose(logits, ref, atol=1e-4, rtol=1e-4)
