"""``partialml analyze ...`` end to end on tiny generated data (2 epochs), and bad flags (exit 2, one line)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from partialml.cli.app import main

FAST = ["--epochs", "2", "--lr", "0.01", "--batch-size", "32", "--device", "cpu"]
PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return (0 if info.value.code is None else int(info.value.code)), out, err


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_memorization_end_to_end(
    feature_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mem"
    argv = ["analyze", "memorization", "--data", str(feature_dir), "--output-dir", str(out), *FAST]
    code, stdout, err = run_cli([*argv, "--max-entries", "200"], capsys)
    assert code == 0, err
    assert "false_negative" in stdout
    result = json.loads((out / "memorization.json").read_text())
    assert result["entries"] == {
        "recorded": 200, "total": 96 * 4, "sampled": True, "sample_seed": 0, "max_entries": 200,
    }  # fmt: skip
    history = np.load(out / "loss_history.npy")
    assert history.shape == (2, 200) and history.dtype == np.float16 and np.isfinite(history).all()
    entries = np.load(out / "entries.npz")
    counts = {name: int((entries["category"] == i).sum()) for i, name in enumerate(result["table1"])}
    assert counts == {name: row["count"] for name, row in result["table1"].items()}
    assert sum(counts.values()) == 200
    fn = entries["category"] == 2
    peak0 = int((history[0] > history[1])[fn].sum())  # the table uses float32; float16 may tie
    ties = int((history[0] == history[1])[fn].sum())
    assert peak0 <= result["table1"]["false_negative"]["warmup"] <= peak0 + ties
    rows = read_csv(out / "memorization_curves.csv")
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert (out / "memorization.png").read_bytes().startswith(PNG)
    # a second run into the same folder is refused, the files stay as they were
    before = (out / "memorization.json").read_bytes()
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and "--overwrite" in err
    assert (out / "memorization.json").read_bytes() == before


def test_selection_end_to_end(feature_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sel"
    argv = [
        "analyze",
        "selection",
        "--data",
        str(feature_dir),
        "--loss",
        "ll-r,ll-cp",
        "--output-dir",
        str(out),
    ]
    code, _, err = run_cli([*argv, "--loss-arg", "delta_rel=0.05", *FAST], capsys)
    assert code == 0, err
    rows = read_csv(out / "selection.csv")
    assert [(r["loss"], r["epoch"]) for r in rows] == [
        ("ll-r", "0"),
        ("ll-r", "1"),
        ("ll-cp", "0"),
        ("ll-cp", "1"),
    ]
    assert rows[0]["chosen"] == "0" and rows[0]["precision"] == ""  # warm-up: nothing chosen
    assert int(rows[1]["chosen"]) > 0 and 0 <= float(rows[1]["precision"]) <= 1
    assert int(rows[1]["chosen_fn"]) <= int(rows[1]["fn"])
    assert json.loads((out / "selection.json").read_text())["seeds"] == [0]
    assert (out / "selection.png").read_bytes().startswith(PNG)


def test_delta_rel_end_to_end(feature_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dr"
    argv = ["analyze", "delta-rel", "--data", str(feature_dir), "--values", "0,0.01", "--seeds", "0,1"]
    code, _, err = run_cli([*argv, "--output-dir", str(out), *FAST], capsys)
    assert code == 0, err
    rows = read_csv(out / "delta_rel.csv")
    assert [(r["delta_rel"], r["seed"]) for r in rows] == [
        ("0.0", "0"),
        ("0.0", "1"),
        ("0.01", "0"),
        ("0.01", "1"),
    ]
    summary = read_csv(out / "delta_rel_summary.csv")
    tests = [float(r["test_mAP"]) for r in rows[:2]]
    assert float(summary[0]["test_mAP_mean"]) == pytest.approx(np.mean(tests))
    assert float(summary[0]["test_mAP_std"]) == pytest.approx(np.std(tests, ddof=1))
    assert (out / "delta_rel.png").read_bytes().startswith(PNG)
    config = (out / "runs" / "dr0.01_s1" / "config.yaml").read_text()
    assert "delta_rel: 0.01" in config and "seed: 1" in config


def test_data_size_end_to_end(feature_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    argv = ["analyze", "data-size", "--data", str(feature_dir), "--fractions", "0.5,1", "--seeds", "0"]
    code, _, err = run_cli([*argv, "--output-dir", str(out), *FAST], capsys)
    assert code == 0, err
    rows = read_csv(out / "data_size.csv")
    assert [(r["loss"], r["fraction"]) for r in rows] == [
        ("an", "0.5"),
        ("ll-r", "0.5"),
        ("an", "1.0"),
        ("ll-r", "1.0"),
    ]
    # 120 samples -> 60 at half; 20 % of them validation
    assert [int(r["num_train"]) for r in rows] == [48, 48, 96, 96]
    assert (out / "data_size.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["analyze", "delta-rel", "--values", "0,abc"], "--values"),
        (["analyze", "delta-rel", "--values", "0,2"], "--values"),
        (["analyze", "delta-rel", "--seeds", "0,-1"], "--seeds"),
        (["analyze", "delta-rel", "--loss", "an"], "--loss"),
        (["analyze", "data-size", "--fractions", "0,0.5"], "--fractions"),
        (["analyze", "data-size", "--losses", "an,nope"], "nope"),
        (["analyze", "data-size", "--losses", "an,ll-r", "--loss-arg", "delt_rel=0.01"], "delt_rel"),
        (["analyze", "selection", "--loss", "an"], "--loss"),
        (["analyze", "memorization", "--epochs", "0"], "--epochs"),
        (["analyze", "memorization", "--max-entries", "0"], "--max-entries"),
        (["analyze", "memorization", "--bogus"], "--bogus"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    argv: list[str], needle: str, feature_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(
        [*argv, "--data", str(feature_dir), "--output-dir", str(out), "--device", "cpu"], capsys
    )
    assert code == 2
    assert err.startswith("partialml: error:") and err.count("\n") == 1 and needle in err
    assert not (out / "runs").exists()


def test_missing_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["analyze", "memorization", "--output-dir", str(tmp_path / "o")], capsys)
    assert code == 2 and "--data" in err and err.count("\n") == 1


def test_sweep_plot_without_validation_draws_no_empty_legend(tmp_path: Path) -> None:
    """A run with ``--val-fraction 0`` has no validation curve: that panel gets no legend (matplotlib's
    multi-line "No artists with labels" warning would reach the CLI's output)."""
    import warnings

    from partialml.analysis.plots_analysis import plot_sweep

    rows = [
        {"fraction": f, "loss": loss, "test_mAP_mean": 50.0 + f, "test_mAP_std": 1.0, "val_mAP_mean": None}
        for f in (0.5, 1.0)
        for loss in ("an", "ll-r")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_sweep(rows, tmp_path / "s.png", x="fraction", xlabel="fraction", group="loss")
    assert path.read_bytes().startswith(PNG)
