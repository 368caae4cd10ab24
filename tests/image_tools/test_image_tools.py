"""evaluate, tuned thresholds (predict, export), suggest and the memorization / selection analyses on a
tiny end-to-end image run (CPU), against references computed here from the image files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from partialml.analysis.memorization import MEMORIZATION_OUTPUTS
from partialml.engine.trainer import split_train_val
from partialml.tools.thresholds import run_thresholds, tune_thresholds

from ..image_training.conftest import CLASSES
from .conftest import data_flags

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _label_rows(root: Path, name: str = "labels.csv") -> list[tuple[str, set[str]]]:
    with (root / name).open(encoding="utf-8", newline="") as fh:
        return [(r["path"], set(filter(None, r["labels"].split("|")))) for r in csv.DictReader(fh)]


def _reference_scores(run: Path, root: Path, paths: list[str]) -> np.ndarray:
    """sigmoid(model(x)) with the images read here: 32 x 32 PNGs (no resize), /255, ImageNet mean/std."""
    from PIL import Image

    from partialml.engine.inference import load_run_model

    arrays = [np.asarray(Image.open(root / p).convert("RGB"), dtype=np.float64) / 255.0 for p in paths]
    x = torch.tensor(
        np.stack([((a - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1) for a in arrays]),
        dtype=torch.float32,
    )
    model = load_run_model(run, device="cpu").model
    with torch.no_grad():
        return torch.sigmoid(model(x)).numpy()


def _full(rows: list[tuple[str, set[str]]], classes: list[str]) -> np.ndarray:
    return np.array([[int(c in labels) for c in classes] for _, labels in rows], dtype=np.int8)


def test_memorization_on_images_writes_its_files(memorization_dir: Path, image_data: Path) -> None:
    for name in MEMORIZATION_OUTPUTS:
        if name != "memorization.png":  # --no-plot
            assert (memorization_dir / name).is_file(), name
    payload = json.loads((memorization_dir / "memorization.json").read_text())
    assert payload["protocol"]["setting"] == "end-to-end"
    rows = _label_rows(image_data)
    train_rows, _ = split_train_val(len(rows), 0.2, 0)
    full = _full(rows, sorted(CLASSES))[train_rows]
    table = payload["table1"]
    # Single positive: one observed positive per image; every other entry is unknown.
    assert table["true_positive"]["count"] == len(train_rows)
    assert table["false_negative"]["count"] == int(full.sum()) - len(train_rows)
    assert table["true_negative"]["count"] == int((full == 0).sum())
    history = np.load(memorization_dir / "loss_history.npy")
    assert history.shape == (2, full.size) and np.isfinite(history).all()


def test_evaluate_image_run_equals_its_metrics(image_run: Path, image_data: Path, cli) -> None:
    code, out, err = cli(["evaluate", "--run", str(image_run), "--device", "cpu"])
    assert code == 0, err
    report = json.loads(out)
    metrics = json.loads((image_run / "metrics.json").read_text())
    assert report["test"]["mAP"] == pytest.approx(metrics["test"]["mAP"], abs=1e-6)
    assert report["val"]["mAP"] == pytest.approx(metrics["val"]["mAP"], abs=1e-6)
    assert report["val"]["num_samples"] == metrics["protocol"]["num_val"]
    assert set(report["test"]) == set(metrics["test"])
    assert report["test"]["group_sizes"] == metrics["test"]["group_sizes"]
    # Other image data: the same test images as a label file of their own give the same test mAP.
    code, out, err = cli(["evaluate", "--run", str(image_run), "--data", str(image_data / "test.csv"),
                          "--device", "cpu"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["test"]["mAP"] == pytest.approx(metrics["test"]["mAP"], abs=1e-4)


def test_tuned_thresholds_of_an_image_run(image_run: Path, image_data: Path, cli, tmp_path: Path) -> None:
    rows = _label_rows(image_data)
    _, val_rows = split_train_val(len(rows), 0.2, 0)
    classes = sorted(CLASSES)
    ref_scores = _reference_scores(image_run, image_data, [rows[i][0] for i in val_rows])
    ref_labels = _full(rows, classes)[val_rows]  # clean validation labels (the default protocol)
    expected = tune_thresholds(ref_scores, ref_labels)

    tuned = run_thresholds(image_run, device="cpu")
    assert tuned.class_names == classes and tuned.num_val == len(val_rows)
    np.testing.assert_allclose(tuned.thresholds, expected, atol=1e-6)
    stored = json.loads((image_run / "thresholds.json").read_text())
    np.testing.assert_allclose(stored["thresholds"], expected, atol=1e-6)

    test_csv = str(image_data / "test.csv")
    code, out, err = cli(["predict", "--run", str(image_run), "--data", test_csv, "--device", "cpu"])
    assert code == 0, err
    probs = np.loadtxt(io.StringIO(out), delimiter=",", skiprows=1, usecols=(1, 2, 3))
    code, out, err = cli(["predict", "--run", str(image_run), "--data", test_csv, "--thresholds", "tuned",
                          "--device", "cpu"])  # fmt: skip
    assert code == 0, err
    binary = np.loadtxt(io.StringIO(out), delimiter=",", skiprows=1, usecols=(1, 2, 3))
    np.testing.assert_array_equal(binary, (probs >= tuned.thresholds).astype(float))

    code, _, err = cli(["export", "--run", str(image_run), "--output", str(tmp_path / "m.pt"), "--format",
                        "torchscript"])  # fmt: skip
    assert code == 0, err
    sidecar = json.loads((tmp_path / "m.pt.json").read_text())
    assert sidecar["threshold_source"] == "tuned"
    np.testing.assert_allclose(sidecar["thresholds"], expected, atol=1e-6)


def test_suggest_on_an_image_run(image_run: Path, image_data: Path, cli, tmp_path: Path) -> None:
    rows = _label_rows(image_data)
    out_csv = tmp_path / "suggestions.csv"
    code, _, err = cli(["suggest", "--run", str(image_run), "--output", str(out_csv), "--device", "cpu"])
    assert code == 0, err
    with out_csv.open(encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    scores = [float(r["score"]) for r in got]
    assert scores == sorted(scores, reverse=True)
    labels_of = dict(rows)
    assert {r["sample"] for r in got} == set(labels_of)  # the image paths of the label file
    assert len({(r["sample"], r["class"]) for r in got}) == len(got) == len(rows) * (len(CLASSES) - 1)
    for path, labels in labels_of.items():  # single positive, AN: only the observed positive is left out
        left_out = set(CLASSES) - {r["class"] for r in got if r["sample"] == path}
        assert len(left_out) == 1 and left_out <= labels
    # In-sample scores are the model's on the training images.
    ref = _reference_scores(image_run, image_data, [p for p, _ in rows])
    classes = sorted(CLASSES)
    for r in got[:10]:
        i = [p for p, _ in rows].index(r["sample"])
        assert float(r["score"]) == pytest.approx(ref[i, classes.index(r["class"])], rel=1e-4, abs=1e-5)

    code, _, err = cli(["suggest", "--run", str(image_run), "--output", str(tmp_path / "f.csv"), "--folds",
                        "2", "--device", "cpu"])  # fmt: skip
    assert code == 2
    assert "--folds" in err and "image" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f.csv").exists()


def test_selection_on_images(image_data: Path, cli, tmp_path: Path) -> None:
    out = tmp_path / "selection"
    code, _, err = cli(["analyze", "selection", *data_flags(image_data), "--epochs", "2", "--loss", "ll-r",
                        "--loss-arg", "delta_rel=0.2", "--output-dir", str(out), "--no-plot"])  # fmt: skip
    assert code == 0, err
    payload = json.loads((out / "selection.json").read_text())
    assert payload["protocols"]["ll-r"]["setting"] == "end-to-end"
    by_epoch = {r["epoch"]: r for r in payload["rows"]}
    assert by_epoch[0]["chosen"] == 0  # the warm-up epoch rejects nothing
    rows = _label_rows(image_data)
    train_rows, _ = split_train_val(len(rows), 0.2, 0)
    full = _full(rows, sorted(CLASSES))[train_rows]
    for r in by_epoch.values():  # every training entry is seen once per epoch
        assert r["unknown"] == full.size - len(train_rows)
        assert r["fn"] == int(full.sum()) - len(train_rows)
    assert by_epoch[1]["chosen"] > 0
