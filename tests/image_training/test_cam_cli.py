"""``partialml analyze cam`` end to end on the tiny generated images (boxes read off the pixels), bad inputs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from partialml.cli.app import main

from .conftest import CLASSES, tiny_args

PNG = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return (0 if info.value.code is None else int(info.value.code)), out, err


def square_boxes(root: Path, label_file: Path) -> tuple[Path, int]:
    """The generator draws class k as a square of value 230 in channel k (background < 40): its box is the
    bounding box of those pixels. Writes ``boxes.csv``; returns it and the number of positives."""
    lines = ["path,class,x0,y0,x1,y1"]
    positives = 0
    with open(label_file, newline="") as fh:
        for row in csv.DictReader(fh):
            arr = np.asarray(Image.open(root / row["path"]))
            for name in row["labels"].split("|"):
                ys, xs = np.nonzero(arr[..., CLASSES.index(name)] == 230)
                lines.append(f"{row['path']},{name},{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}")
                positives += 1
    path = root / "boxes.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, positives


@pytest.fixture(scope="module")
def trained(image_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cam") / "run"
    with pytest.raises(SystemExit) as info:
        main(tiny_args(image_data, out, "--head", "cam"))
    assert info.value.code in (0, None)
    return out


def test_cam_end_to_end(
    trained: Path, image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boxes, positives = square_boxes(image_data, image_data / "test.csv")
    out = tmp_path / "pg"
    argv = ["analyze", "cam", "--run", str(trained), "--boxes", str(boxes), "--box-format", "csv"]
    code, stdout, err = run_cli(
        [*argv, "--output-dir", str(out), "--examples", "3", "--device", "cpu"], capsys
    )
    assert code == 0, err
    for name in ("pointing_game.json", "pointing_game.csv", "cam_examples.png"):
        assert f"wrote {out / name}" in stdout
    result = json.loads((out / "pointing_game.json").read_text())
    assert result["pairs"] == positives and result["positives_without_boxes"] == 0
    assert result["protocol"]["tolerance_px"] == 15.0 and result["protocol"]["input_size"] == [32, 32]
    with open(out / "pointing_game.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == positives and {r["class"] for r in rows} <= set(CLASSES)
    assert sum(int(r["hit"]) for r in rows) == result["hits"]
    assert all(0 <= int(r["argmax_row"]) < 32 and 0 <= int(r["argmax_col"]) < 32 for r in rows)
    scored = [v for v in result["per_class"].values() if v["pairs"]]
    assert result["mean_class_accuracy"] == pytest.approx(np.mean([v["hits"] / v["pairs"] for v in scored]))
    assert (out / "cam_examples.png").read_bytes()[:8] == PNG

    # tolerance 0 can only lose hits; the 32 x 32 image is within 15 px of nearly everything
    code, _, err = run_cli([*argv, "--output-dir", str(out), "--tolerance", "0", "--examples", "0"], capsys)
    assert code == 2 and "--overwrite" in err  # earlier results are kept
    code, _, err = run_cli(
        [*argv, "--output-dir", str(out), "--tolerance", "0", "--examples", "0", "--overwrite"], capsys
    )
    assert code == 0, err
    strict = json.loads((out / "pointing_game.json").read_text())
    assert strict["hits"] <= result["hits"]


def test_cam_bad_inputs_exit_2(
    trained: Path,
    image_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_feature_dir: Callable[..., Path],
) -> None:
    base = ["analyze", "cam", "--box-format", "csv", "--output-dir", str(tmp_path / "o")]
    code, _, err = run_cli([*base, "--run", str(trained), "--boxes", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and "none.csv" in err and "file not found" in err and len(err.strip().splitlines()) == 1

    other = tmp_path / "other.csv"
    other.write_text("path,class,x0,y0,x1,y1\nimg/elsewhere.png,red,0,0,4,4\n")
    code, _, err = run_cli([*base, "--run", str(trained), "--boxes", str(other)], capsys)
    assert code == 2 and "no box" in err and len(err.strip().splitlines()) == 1

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("path,class,x0,y0,x1,y1\nimg/te00.png,purple,0,0,4,4\n")
    code, _, err = run_cli([*base, "--run", str(trained), "--boxes", str(wrong)], capsys)
    assert code == 2 and "'purple'" in err

    features = make_feature_dir(tmp_path / "feat", n=40, n_test=10, d=4, c=3)
    run = tmp_path / "frun"
    train = ["train", "--data", str(features), "--epochs", "1", "--device", "cpu", "--output-dir", str(run)]
    assert run_cli([*train, "--no-progress"], capsys)[0] == 0
    code, _, err = run_cli([*base, "--run", str(run), "--boxes", str(other)], capsys)
    assert code == 2 and "features run" in err and "image model" in err

    code, _, err = run_cli(
        [*base, "--run", str(trained), "--boxes", str(other), "--box-format", "yolo"], capsys
    )
    assert code == 2 and "--box-format" in err
    assert not (tmp_path / "o").exists()  # nothing written on any failure
