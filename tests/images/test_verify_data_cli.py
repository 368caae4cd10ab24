"""``partialml verify-data`` and ``partialml make-mosaics``: exit codes, one-line errors, the bad-image list."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from partialml.cli.app import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else int(code)), out, err


@pytest.fixture
def dataset(tmp_path: Path, img) -> tuple[Path, Path]:
    root = tmp_path / "images"
    root.mkdir()
    img.save_jpeg(root / "a.jpg", img.gradient_rgb(20, 30), orientation=6)
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(root / "b.png")
    Image.fromarray(np.zeros((5, 5, 4), np.uint8), mode="RGBA").save(root / "c.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,labels\na.jpg,cat\nb.png,dog\nc.png,cat|dog\n")
    return labels, root


def test_all_readable_exits_0(dataset: tuple[Path, Path], capsys) -> None:
    labels, root = dataset
    code, out, err = run_cli(["verify-data", "--data", str(labels), "--format", "csv", "--image-root", str(root)],
                             capsys)  # fmt: skip
    assert code == 0, err
    assert out == "" and "all 3 images" in err


def test_bad_images_listed_on_stdout_exit_2(dataset: tuple[Path, Path], capsys) -> None:
    labels, root = dataset
    data = (root / "a.jpg").read_bytes()
    (root / "a.jpg").write_bytes(data[: len(data) // 3])
    (root / "b.png").unlink()
    code, out, err = run_cli(["verify-data", "--data", str(labels), "--image-root", str(root), "--workers", "2"],
                             capsys)  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("partialml: error:") and "2 of 3 images" in err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["path", "reason"]
    assert [r[0] for r in rows[1:]] == ["a.jpg", "b.png"]
    assert "truncated" in rows[1][1] and "not found" in rows[2][1]


def test_output_csv_is_written_in_both_cases(dataset: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    labels, root = dataset
    report = tmp_path / "bad.csv"
    argv = ["verify-data", "--data", str(labels), "--image-root", str(root), "--output", str(report)]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and out == "" and report.read_text() == "path,reason\n"
    (root / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == "" and str(report) in err
    assert [r[0] for r in csv.reader(report.read_text().splitlines())] == ["path", "c.png"]


def test_bad_arguments_exit_2_with_one_line(dataset: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    labels, root = dataset
    cases = [
        (["--data", str(labels), "--image-root", str(tmp_path / "none")], "--image-root"),
        (["--data", str(tmp_path / "none.csv"), "--image-root", str(root)], "none.csv"),
        (["--data", str(labels), "--image-root", str(root), "--format", "bmp"], "format"),
        (["--data", str(labels), "--image-root", str(root), "--workers", "0"], "--workers"),
    ]
    for args, words in cases:
        code, _, err = run_cli(["verify-data", *args], capsys)
        assert code == 2 and err.count("\n") == 1 and words in err, err


def test_make_mosaics_cli(tmp_path: Path, img, capsys) -> None:
    folder = tmp_path / "fm"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        img.write_idx(
            folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 4, 4), np.uint8), gz=True
        )
        img.write_idx(
            folder / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8), gz=True
        )
    out = tmp_path / "mosaics"
    argv = ["make-mosaics", "--fashion-mnist", str(folder), "--output", str(out), "--train", "6", "--test", "3",
            "--seed", "2"]  # fmt: skip
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "semi-synthetic" in stdout and "train 6" in stdout and "test 3" in stdout
    code, _, _ = run_cli(["verify-data", "--data", str(out / "train.csv"), "--image-root", str(out)], capsys)
    assert code == 0
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "--overwrite" in err
    code, _, err = run_cli([*argv, "--overwrite", "--classes", "some"], capsys)
    assert code == 2 and "--classes" in err
    code, _, err = run_cli(["make-mosaics", "--fashion-mnist", str(tmp_path), "--output", str(tmp_path / "x")],
                           capsys)  # fmt: skip
    assert code == 2 and "train-images-idx3-ubyte" in err
