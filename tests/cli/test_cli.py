"""The ``partialml`` command line end to end: run directory, schema, errors (one line, exit 2)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from partialml.cli.app import main
from partialml.cli.common import parse_key_values, parse_value
from partialml.errors import PartialMLError

FAST = ["--epochs", "2", "--lr", "0.01", "--batch-size", "32", "--device", "cpu"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else int(code)), out, err


def snapshot(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def trained(feature_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        ["train", "--data", str(feature_dir), "--output-dir", str(out), "--loss", "an", *FAST], capsys
    )
    assert code == 0, err
    assert "best epoch" in stdout and str(out) in stdout
    return out


def test_train_writes_the_run_directory_with_the_documented_schema(trained: Path, feature_dir: Path) -> None:
    names = {p.relative_to(trained).as_posix() for p in trained.rglob("*") if p.is_file()}
    assert {"config.yaml", "metrics.json", "history.csv", "log.jsonl"} <= names
    assert {"checkpoints/last.pt", "checkpoints/best.pt"} <= names
    assert not [n for n in names if n.endswith(".tmp")]

    metrics = json.loads((trained / "metrics.json").read_text())
    assert isinstance(metrics["best_epoch"], int) and 0 <= metrics["best_epoch"] < 2
    protocol = metrics["protocol"]
    for key in ("data", "partial", "partial_seed", "seed", "val_labels", "loss", "loss_args", "setting"):
        assert key in protocol
    assert protocol["setting"] == "features" and protocol["loss"] == "an"
    assert protocol["partial"] == "single-positive" and protocol["val_labels"] == "clean"
    for split in ("val", "test"):
        report = metrics[split]
        assert 0.0 <= report["mAP"] <= 100.0
        assert set(report["per_class"]) == {f"class_{i}" for i in range(5)} or len(report["per_class"]) == 5
        assert report["num_skipped"] >= 0 and report["empty_class"] == "skip"
        per_class = [v for v in report["per_class"].values() if v is not None]
        assert report["mAP"] == pytest.approx(sum(per_class) / len(per_class))

    with (trained / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert set(rows[0]) == {"epoch", "train_loss", "val_mAP", "seconds", "corrections", "lr"}
    best = max(rows, key=lambda r: float(r["val_mAP"]))
    assert int(best["epoch"]) == metrics["best_epoch"]
    assert float(best["val_mAP"]) == pytest.approx(metrics["val"]["mAP"])

    events = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "end"]

    saved = yaml.safe_load((trained / "config.yaml").read_text())
    assert saved["data"] == str(feature_dir) and saved["epochs"] == 2 and saved["loss"] == "an"

    state = torch.load(trained / "checkpoints" / "last.pt", weights_only=True)
    for key in ("model", "optimizer", "label_store", "loss", "rng", "history", "best", "epoch"):
        assert key in state
    assert state["epoch"] == 1 and {"python", "numpy", "torch", "shuffle"} <= set(state["rng"])


def test_config_file_then_flags(feature_dir: Path, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data": str(feature_dir), "epochs": 3, "lr": 0.5, "device": "cpu"}))
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "--config", str(cfg), "--lr", "0.02", "--output-dir", str(out)], capsys)
    assert code == 0, err
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["epochs"] == 3 and saved["lr"] == 0.02


BAD_INPUTS = [
    (["--loss", "no-such-loss"], "unknown loss 'no-such-loss'"),
    (["--loss", "an", "--loss-arg", "bogus=1"], "bogus"),
    (["--loss-arg", "novalue"], "key=value"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--partial", "fraction:2"], "fraction:2"),
    (["--val-labels", "dirty"], "--val-labels: got 'dirty'"),
    (["--no-such-flag"], "--no-such-flag"),
]


@pytest.mark.parametrize(("extra", "needle"), BAD_INPUTS)
def test_bad_inputs_exit_2_with_one_line_and_leave_the_earlier_run(
    trained: Path, feature_dir: Path, extra: list[str], needle: str, capsys
) -> None:
    before = snapshot(trained)
    argv = ["train", "--data", str(feature_dir), "--output-dir", str(trained), "--overwrite", *FAST, *extra]
    code, _out, err = run_cli(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("partialml: error: ")
    assert needle in lines[0]
    assert snapshot(trained) == before


def test_output_dir_holding_a_run_is_refused(trained: Path, feature_dir: Path, capsys) -> None:
    before = snapshot(trained)
    code, _, err = run_cli(["train", "--data", str(feature_dir), "--output-dir", str(trained), *FAST], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "already holds a run" in err
    assert snapshot(trained) == before


def test_nan_features_file_is_refused(trained: Path, tmp_path: Path, make_feature_dir, capsys) -> None:
    bad = make_feature_dir(tmp_path / "nan_data", nan_at=7)
    before = snapshot(trained)
    code, _, err = run_cli(
        ["train", "--data", str(bad), "--output-dir", str(trained), "--overwrite", *FAST], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "nan" in err.lower() and "7" in err
    assert snapshot(trained) == before


def test_resume_continues_the_run(trained: Path, capsys) -> None:
    code, _out, err = run_cli(["train", "--output-dir", str(trained), "--resume", "--epochs", "3"], capsys)
    assert code == 0, err
    assert len((trained / "history.csv").read_text().splitlines()) == 1 + 3
    code, _, err = run_cli(["train", "--output-dir", str(trained), "--resume", "--loss", "ll-r"], capsys)
    assert code == 2 and "--loss" in err


def test_evaluate_reproduces_the_metrics(trained: Path, tmp_path: Path, capsys) -> None:
    report_path = tmp_path / "eval.json"
    code, out, err = run_cli(
        ["evaluate", "--run", str(trained), "--output", str(report_path), "--device", "cpu"], capsys
    )
    assert code == 0, err
    report = json.loads(out)
    assert report == json.loads(report_path.read_text())
    metrics = json.loads((trained / "metrics.json").read_text())
    assert report["test"]["mAP"] == pytest.approx(metrics["test"]["mAP"], abs=1e-9)
    assert report["val"]["mAP"] == pytest.approx(metrics["val"]["mAP"], abs=1e-9)
    # the same entries as metrics.json's, head / medium / tail included
    assert set(report["test"]) == set(metrics["test"]) and set(report["val"]) == set(metrics["val"])
    assert (
        report["test"]["labels"] == "full" and report["test"]["group_sizes"] == metrics["test"]["group_sizes"]
    )
    for group, value in metrics["test"]["group_mAP"].items():
        assert report["test"]["group_mAP"][group] == pytest.approx(value, abs=1e-9)
    code, _, err = run_cli(["evaluate", "--run", str(trained), "--checkpoint", "middle"], capsys)
    assert code == 2 and "--checkpoint" in err


def test_predict_writes_one_row_per_sample(trained: Path, feature_dir: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "preds.csv"
    predict = ["predict", "--run", str(trained), "--data", str(feature_dir), "--output", str(target)]
    code, _, err = run_cli([*predict, "--device", "cpu"], capsys)
    assert code == 0, err
    with target.open() as f:
        rows = list(csv.reader(f))
    n_test = np.load(feature_dir / "test_labels.npy").shape[0]
    assert rows[0][0] == "sample" and len(rows[0]) == 1 + 5 and len(rows) == 1 + n_test
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(n_test)]
    scores = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert ((scores >= 0) & (scores <= 1)).all()
    again = [*predict, "--labels"]
    target.write_text("mine\n")
    code, _, err = run_cli(again, capsys)  # an existing file is kept unless --overwrite
    assert code == 2 and "--overwrite" in err and target.read_text() == "mine\n"
    code, _, err = run_cli([*again, "--overwrite"], capsys)
    assert code == 0, err
    assert {v for r in list(csv.reader(target.open()))[1:] for v in r[1:]} <= {"0", "1"}
    code, out, _ = run_cli(
        [
            "predict",
            "--run",
            str(trained),
            "--data",
            str(feature_dir),
            "--threshold",
            "0.3",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0
    labels = np.array([[int(v) for v in line.split(",")[1:]] for line in out.splitlines()[1:]])
    np.testing.assert_array_equal(labels, (scores >= 0.3).astype(int))


def test_simulate_writes_text_lists_and_npy(feature_dir: Path, tmp_path: Path, capsys) -> None:
    from partialml.labels import read_text_lists

    npy = tmp_path / "obs.npy"
    code, _, err = run_cli(
        [
            "simulate",
            "--data",
            str(feature_dir),
            "--partial",
            "fraction:0.4",
            "--seed",
            "0",
            "--output",
            str(npy),
        ],
        capsys,
    )
    assert code == 0, err
    obs = np.load(npy)
    full = np.load(feature_dir / "train_labels.npy")
    assert obs.shape == full.shape and obs.dtype == np.int8
    assert ((obs == 1) <= (full == 1)).all() and (obs == 1).sum() < (full == 1).sum()
    txt = tmp_path / "obs.txt"
    code, _, err = run_cli(
        [
            "simulate",
            "--data",
            str(feature_dir),
            "--partial",
            "fraction:0.4",
            "--seed",
            "0",
            "--output",
            str(txt),
        ],
        capsys,
    )
    assert code == 0, err
    names, listed = read_text_lists(txt, full.shape[1])
    assert names == [str(i) for i in range(full.shape[0])]  # the npy folder has no ids: 0-based rows
    np.testing.assert_array_equal(listed == 1, obs == 1)  # same seed, same positives as the .npy
    code, _, err = run_cli(
        ["simulate", "--data", str(feature_dir), "--partial", "fraction:0.4", "--output", str(txt)], capsys
    )
    assert code == 2 and "--overwrite" in err


def test_simulate_given_takes_labels_with_unknowns_and_warns_on_text_lists(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(np.array([1, 0, -1], dtype=np.int8), size=(30, 3))
    np.savez(tmp_path / "part.npz", X=rng.normal(size=(30, 2)).astype(np.float32), Y=y)

    def simulate(partial: str, output: str) -> tuple[int, str, str]:
        argv = ["simulate", "--data", str(tmp_path / "part.npz"), "--partial", partial]
        return run_cli([*argv, "--output", str(tmp_path / output)], capsys)

    code, _, err = simulate("given", "g.npy")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), y)
    code, _, err = simulate("given", "g.txt")
    assert code == 0, err
    assert err.count("\n") == 1 and err.startswith("partialml: warning: --output g.txt")
    assert f"the {(y == 0).sum()} observed negatives" in err
    code, _, err = simulate("rps:0.5", "r.npy")
    assert code == 2 and "--partial given" in err and "part.npz" in err


def test_losses_lists_every_loss(capsys) -> None:
    from partialml.losses import list_losses

    code, out, _ = run_cli(["losses"], capsys)
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == list_losses() and "ll-r" in listed and "an" in listed
    code, out, _ = run_cli(["losses", "ll-*"], capsys)
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["ll-cp", "ll-ct", "ll-r"]
    code, _, err = run_cli(["losses", "zzz"], capsys)
    assert code == 2 and "'zzz'" in err and err.count("\n") == 1


def test_parse_value_and_key_values() -> None:
    assert [parse_value(t) for t in ["3", "-2", "2e-3", "0.5", "True", "no", "null", "mean"]] == [
        3,
        -2,
        0.002,
        0.5,
        True,
        False,
        None,
        "mean",
    ]
    assert parse_key_values(["delta-rel=0.002", "a=1", "a=2"]) == {"delta_rel": 0.002, "a": 2}
    with pytest.raises(PartialMLError, match="key=value"):
        parse_key_values(["=3"])


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "partialml", "train", "--epochs", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("partialml: error: ")


def test_tensorboard_without_the_package_names_the_extra(feature_dir: Path, tmp_path: Path, capsys) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    out = tmp_path / "tb"
    argv = ["train", "--data", str(feature_dir), "--output-dir", str(out), "--tensorboard", *FAST]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "partialml[tensorboard]" in err
    assert not out.exists()  # nothing written


def test_evaluate_plot_draws_per_class_ap(trained: Path, tmp_path: Path, capsys) -> None:
    png = tmp_path / "plots" / "ap.png"
    code, _, err = run_cli(["evaluate", "--run", str(trained), "--plot", str(png)], capsys)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in err


def test_per_class_ap_chart_names_skipped_classes(tmp_path: Path) -> None:
    from partialml.analysis.plots import per_class_ap_chart

    path = per_class_ap_chart({"a": 50.0, "b": None, "c": float("nan"), "d": 75.0}, tmp_path / "x.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
