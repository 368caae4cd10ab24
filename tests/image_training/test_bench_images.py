"""``partialml bench --setting end-to-end``: 2 losses x 1 seed on the tiny image set, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partialml.cli.app import main
from partialml.engine.compare import read_records


def test_bench_end_to_end_writes_records_and_prints_the_table(
    image_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench" / "results.jsonl"
    argv = [
        "bench", "--setting", "end-to-end", "--data", str(image_data / "labels.csv"),
        "--test-split", str(image_data / "test.csv"), "--image-root", str(image_data),
        "--format", "csv", "--model", "resnet18", "--width", "8", "--weights", "none",
        "--image-size", "32", "--transforms", "plain", "--losses", "an,ll-r", "--seeds", "0",
        "--epochs", "1", "--batch-size", "8", "--lr", "0.001", "--device", "cpu", "--jobs", "1",
        "--output", str(out),
    ]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code in (0, None)
    stdout = capsys.readouterr().out
    records = read_records(out)
    assert [r["method"] for r in records] == ["an", "ll-r"]
    assert all(r["dataset"] == "labels" and r["seed"] == 0 and r["preset"] == "none" for r in records)
    for rec in records:
        assert 0.0 <= rec["test_mAP"] <= 100.0 and rec["batch_size"] == 8
        run = Path(rec["run_dir"])
        protocol = json.loads((run / "metrics.json").read_text())["protocol"]
        assert protocol["setting"] == "end-to-end" and protocol["model"] == "resnet18"
        assert protocol["width"] == 8 and protocol["image_size"] == 32 and protocol["transforms"] == "plain"
        assert protocol["num_test"] == 8 and not (run / "checkpoints").exists()
    table = stdout.splitlines()
    assert any(line.startswith("labels") and " an " in line for line in table), stdout
    assert any(line.startswith("labels") and " ll-r " in line for line in table), stdout
    assert f"{records[1]['test_mAP']:.2f}" in stdout
