"""End-to-end setting: CLI run, metrics schema, resume, weight files, BoostLU head, optimizer groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from partialml.cli.app import main
from partialml.engine.checkpoint import load_checkpoint
from partialml.engine.config import TrainConfig, resolve_config
from partialml.errors import PartialMLError
from partialml.models.backbones import build_backbone, load_backbone_weights
from partialml.models.image_heads import CAMHead, GAPLinearHead, boostlu

from .conftest import CLASSES, tiny_args


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return (0 if info.value.code is None else int(info.value.code)), out, err


@pytest.fixture(scope="module")
def trained(image_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "run"
    with pytest.raises(SystemExit) as info:
        main(tiny_args(image_data, out))
    assert info.value.code in (0, None)
    return out


def test_cli_run_writes_the_run_directory(trained: Path) -> None:
    m = json.loads((trained / "metrics.json").read_text())
    assert m["epochs_run"] == 2 and m["best_epoch"] in (0, 1)
    assert m["protocol"]["setting"] == "end-to-end"
    assert m["protocol"]["model"] == "resnet18" and m["protocol"]["width"] == 8
    assert m["protocol"]["amp"] == "off" and m["protocol"]["channels_last"] is False  # CPU
    assert m["protocol"]["num_train"] + m["protocol"]["num_val"] == 24
    assert m["protocol"]["num_test"] == 8
    for split in ("val", "test"):
        assert 0.0 <= m[split]["mAP"] <= 100.0
        assert set(m[split]["per_class"]) == set(CLASSES)
    assert m["test"]["labels"] == "full" and m["val"]["labels"] == "clean"
    assert m["skipped_images"] == 0 and m["bad_images"] == []
    history = (trained / "history.csv").read_text().strip().splitlines()
    assert len(history) == 3  # header + 2 epochs
    state = load_checkpoint(trained / "checkpoints" / "best.pt")  # weights_only=True
    assert any(k.startswith("backbone.layer4.") for k in state["model"])
    assert state["model"]["head.fc.weight"].shape == (3, 64)  # 8 * width, 3 classes


def test_resume_is_bit_exact_with_the_cam_head(
    image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--head", "cam", "--boost-alpha", "3"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert run_cli(tiny_args(image_data, full, *extra), capsys)[0] == 0
    args = tiny_args(image_data, part, *extra)
    args[args.index("--epochs") + 1] = "1"
    assert run_cli(args, capsys)[0] == 0
    code, _, err = run_cli(
        ["train", "--output-dir", str(part), "--resume", "--epochs", "2", "--no-progress"], capsys
    )
    assert code == 0, err
    a = load_checkpoint(full / "checkpoints" / "last.pt")
    b = load_checkpoint(part / "checkpoints" / "last.pt")
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["model"]["head.conv.weight"].shape == (3, 64, 1, 1)
    ma = json.loads((full / "metrics.json").read_text())
    mb = json.loads((part / "metrics.json").read_text())
    assert ma["val"] == mb["val"] and ma["test"] == mb["test"]
    assert ma["protocol"]["boost_alpha"] == 3.0


def test_weight_file_of_another_architecture_exits_2_with_one_line(
    image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wide.pth"
    torch.save(build_backbone("resnet18", width=16).state_dict(), wrong)
    out = tmp_path / "run"
    code, _, err = run_cli(tiny_args(image_data, out, "--weights", str(wrong)), capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "wide.pth" in lines[0] and "of another shape" in lines[0]
    assert not out.exists()


def test_weight_file_round_trip_and_classifier_dropped(tmp_path: Path) -> None:
    import torchvision

    reference = torchvision.models.resnet18()  # torchvision's own keys, classifier included
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    trunk = build_backbone("resnet18", weights=path)
    for key, value in trunk.state_dict().items():
        assert torch.equal(value, reference.state_dict()[key])
    x = torch.randn(2, 3, 64, 64)
    reference.eval()
    trunk.eval()
    with torch.no_grad():
        pooled = trunk(x).mean(dim=(2, 3))
        expected = torch.flatten(
            reference.avgpool(
                reference.layer4(
                    reference.layer3(
                        reference.layer2(
                            reference.layer1(
                                reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
                            )
                        )
                    )
                )
            ),
            1,
        )
    torch.testing.assert_close(pooled, expected)
    with pytest.raises(PartialMLError, match="216 missing, 0 unexpected"):
        load_backbone_weights(build_backbone("resnet34", width=8), {}, source="empty")


def test_boostlu_cam_head_against_a_hand_computation() -> None:
    head = CAMHead(1, 2, alpha=5.0)
    with torch.no_grad():
        head.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        head.conv.bias.zero_()
    feats = torch.tensor([[1.0, -2.0], [3.0, -4.0]]).view(1, 1, 2, 2)
    # class 0: CAM [1, -2, 3, -4] -> [5, -2, 15, -4], mean 14 / 4; class 1: [-1, 2, -3, 4] -> [-1, 10, -3, 20]
    expected = torch.tensor([[3.5, 6.5]])
    torch.testing.assert_close(head(feats), expected)
    head.eval()  # the boost applies at test time too
    torch.testing.assert_close(head(feats), expected)
    assert torch.equal(boostlu(torch.tensor([-1.0, 0.0, 2.0]), 3.0), torch.tensor([-1.0, 0.0, 6.0]))


def test_cam_head_with_alpha_one_is_the_gap_linear_head() -> None:
    torch.manual_seed(0)
    cam, lin = CAMHead(6, 4, alpha=1.0), GAPLinearHead(6, 4)
    with torch.no_grad():
        lin.fc.weight.copy_(cam.conv.weight.view(4, 6))
        lin.fc.bias.copy_(cam.conv.bias)
    feats = torch.randn(3, 6, 5, 7)
    torch.testing.assert_close(cam(feats), lin(feats))


def test_recipe_and_optimizer_groups(image_data: Path, tmp_path: Path) -> None:
    from partialml.engine.trainer import Trainer

    cfg = resolve_config(
        overrides={
            "recipe": "ll",
            "data": str(image_data / "labels.csv"),
            "weights": "none",
            "model": "resnet18",
            "width": 8,
            "image_size": 32,
            "epochs": 2,
            "device": "cpu",
            "output_dir": str(tmp_path / "run"),
        }
    )
    assert (cfg.setting, cfg.lr, cfg.head_lr_mult, cfg.batch_size, cfg.optimizer) == (
        "end-to-end",
        1e-5,
        10.0,
        16,
        "adam",
    )
    assert cfg.epochs == 2 and cfg.transforms == "ll" and cfg.early_stop_drop == 3.0  # flags override
    trainer = Trainer(cfg).setup()
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert groups["backbone"]["lr"] == pytest.approx(1e-5)
    assert groups["head"]["lr"] == pytest.approx(1e-4)  # LL: 10x for the classifier
    model = trainer.model
    assert {id(p) for p in groups["head"]["params"]} == {id(p) for p in model.head.parameters()}
    n_backbone = sum(1 for _ in model.backbone.parameters())
    assert len(groups["backbone"]["params"]) == n_backbone
    assert not (tmp_path / "run").exists()  # setup writes nothing


def test_augmentation_depends_on_seed_epoch_and_sample_only(image_data: Path) -> None:
    from partialml.data.images import ImageDataset
    from partialml.data.transforms import build_transforms
    from partialml.engine.image_setting import ImageBatches

    paths = [f"img/tr{i:02d}.png" for i in range(12)]
    ds = ImageDataset(paths, root=image_data, transform=build_transforms("ll", image_size=32, train=True))

    def epoch(gen_seed: int, workers: int, burn: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator()
        g.manual_seed(gen_seed)
        torch.rand(burn)  # the global RNG must not matter
        batches = ImageBatches(
            ds, np.arange(12), batch_size=5, shuffle=True, generator=g, num_workers=workers
        )
        return list(batches)

    a, b = epoch(0, 0, 1), epoch(0, 2, 7)
    assert len(a) == 3 and [len(p) for _, p in a] == [5, 5, 2]
    for (xa, pa), (xb, pb) in zip(a, b, strict=True):
        assert torch.equal(pa, pb) and torch.equal(xa, xb)
    c = epoch(1, 0, 1)
    assert not all(torch.equal(pa, pc) for (_, pa), (_, pc) in zip(a, c, strict=True))


def test_bad_options_are_one_line_errors(image_data: Path) -> None:
    with pytest.raises(PartialMLError, match="--head"):
        TrainConfig(setting="end-to-end", head="mlp").validate()
    with pytest.raises(PartialMLError, match="--head cam needs --setting end-to-end"):
        TrainConfig(head="cam").validate()
    with pytest.raises(PartialMLError, match="unknown model"):
        build_backbone("vgg11")
    with pytest.raises(PartialMLError, match="--boost-alpha"):
        TrainConfig(setting="end-to-end", boost_alpha=0.0).validate()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_and_channels_last_train_on_cuda(
    image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], amp: str
) -> None:
    args = tiny_args(image_data, tmp_path / "run", "--amp", amp, "--channels-last")
    args[args.index("--device") + 1] = "cuda"
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["protocol"]["amp"] == amp and m["protocol"]["channels_last"] is True
    assert np.isfinite(m["val"]["mAP"])


def test_partial_given_trains_on_a_csv_with_unknowns(
    image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real partial labels in the generic CSV (a class in neither ``labels`` nor ``negatives`` is
    unknown): ``--partial given`` trains on them as read; a simulated scheme is refused in one line."""
    from partialml.data import read_image_labels
    from partialml.engine.image_setting import prepare_image_data

    lines = (image_data / "labels.csv").read_text(encoding="utf-8").splitlines()
    kept = [lines[0]]
    for i, line in enumerate(lines[1:]):  # drop every other row's negatives: those become unknown
        path, labels, negatives = line.split(",")
        kept.append(f"{path},{labels},{negatives if i % 2 else ''}")
    partial_csv = tmp_path / "partial.csv"
    partial_csv.write_text("\n".join(kept) + "\n", encoding="utf-8")
    argv = tiny_args(image_data, tmp_path / "run", "--epochs", "1")
    argv[argv.index("--data") + 1] = str(partial_csv)
    argv[argv.index("--partial") + 1] = "given"
    argv += ["--image-root", str(image_data)]

    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["protocol"]["partial"] == "given" and m["val"]["unknown_as"] == "ignored"

    config = TrainConfig(
        setting="end-to-end", data=str(partial_csv), image_root=str(image_data), partial="given"
    )
    prepared, _ = prepare_image_data(config)
    read = read_image_labels(str(partial_csv), format="csv").labels
    assert (read == -1).any()
    rows = [int(r) for r in prepared.features[:, 0]]
    assert np.array_equal(prepared.observed, read[rows])

    argv[argv.index("--partial") + 1] = "single-positive"
    argv[argv.index("--output-dir") + 1] = str(tmp_path / "sp")
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "expected full labels" in err and "--partial given" in err
    assert "the label of sample 'img/tr" in err and "for class '" in err  # the image and class named
    assert not (tmp_path / "sp").exists()


def test_unlisted_negative_lets_simulated_schemes_use_a_positives_only_csv(
    image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``path,labels`` CSV lists positives only: its other classes are unknown, so a simulated scheme
    is refused, unless ``--unlisted negative`` reads them as negatives (a file of complete positives)."""
    from partialml.data import read_image_labels

    lines = (image_data / "labels.csv").read_text(encoding="utf-8").splitlines()
    positives_csv = tmp_path / "positives.csv"
    positives_csv.write_text(
        "path,labels\n" + "".join(",".join(line.split(",")[:2]) + "\n" for line in lines[1:]),
        encoding="utf-8",
    )
    argv = tiny_args(image_data, tmp_path / "run", "--epochs", "1", "--image-root", str(image_data))
    argv[argv.index("--data") + 1] = str(positives_csv)
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "expected full labels" in err and not (tmp_path / "run").exists()

    code, _, err = run_cli([*argv, "--unlisted", "negative"], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["protocol"]["partial"] == "single-positive"
    full = read_image_labels(str(image_data / "labels.csv"), format="csv").labels
    as_negative = read_image_labels(str(positives_csv), format="csv", unlisted="negative").labels
    assert np.array_equal(as_negative, full)  # the shipped file's negatives are every unlisted class

    with pytest.raises(
        PartialMLError, match="--unlisted: got 'negative'; expected unknown with --setting features"
    ):
        resolve_config(overrides={"unlisted": "negative", "data": str(positives_csv)})
    from partialml.engine.image_setting import unlisted_option

    voc = TrainConfig(setting="end-to-end", data="VOC2007", unlisted="negative")
    with pytest.raises(
        PartialMLError, match="applies to csv / jsonl label files; the 'voc' format lists every"
    ):
        unlisted_option(voc, "voc")
