"""The comparison runner, its table, --resume, the bench CLI and the demo on a reduced setting."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from partialml.engine import compare
from partialml.engine.compare import (
    PARTIAL_SEED_BASE,
    RECORD_KEYS,
    RunSpec,
    format_table,
    make_specs,
    mean_std,
    plan_jobs,
    read_records,
    run_bench,
    summarize,
)
from partialml.errors import PartialMLError

FAST = {"epochs": 2, "batch_size": 32}


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    """A learnable 4-class problem: 80 training rows (each with >= 1 positive), 40 test rows."""
    rng = np.random.default_rng(0)
    n, d, c = 120, 6, 4
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, c))
    y = (x @ w + 0.3 * rng.normal(size=(n, c)) > 0.3).astype(np.int8)
    y[y.sum(1) == 0, 0] = 1
    split = np.array(["train"] * 80 + ["test"] * 40)
    path = tmp_path / "tiny.npz"
    np.savez(path, X=x, Y=y, split=split)
    return str(path)


def _run(tiny: str, out: Path, methods: list[str], seeds: list[int], **kw: object) -> list[dict]:
    specs = make_specs(
        data=[tiny], partials=["single-positive"], methods=methods, seeds=seeds, overrides=FAST
    )
    return run_bench(specs, output=out / "results.jsonl", runs_dir=out / "runs", jobs=1, **kw)  # type: ignore[arg-type]


def test_records_and_table_match_hand_computation(tiny: str, tmp_path: Path) -> None:
    records = _run(tiny, tmp_path, ["full", "an"], [0, 1])
    assert [r["key"] for r in records] == [
        "tiny|single-positive|full|0",
        "tiny|single-positive|full|1",
        "tiny|single-positive|an|0",
        "tiny|single-positive|an|1",
    ]
    on_disk = read_records(tmp_path / "results.jsonl")
    assert on_disk == records
    for r in records:
        assert set(RECORD_KEYS) <= set(r)
        assert r["epochs"] == 2 and r["batch_size"] == 32 and r["val_labels"] == "clean"
        assert 0 <= r["test_mAP"] <= 100 and 0 <= r["val_mAP"] <= 100
        assert 0 <= r["best_epoch"] < 2
        # metrics.json of the run is the source of the record; checkpoints removed by default
        run_dir = tmp_path / "runs" / r["key"].replace("|", "__")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["test"]["mAP"] == r["test_mAP"]
        assert not (run_dir / "checkpoints").exists()
    full0, an0 = records[0], records[2]
    assert full0["loss"] == "bce" and full0["partial_seed"] is None
    assert an0["loss"] == "an" and an0["partial_seed"] == PARTIAL_SEED_BASE
    assert records[3]["partial_seed"] == PARTIAL_SEED_BASE + 1

    rows = {r.method: r for r in summarize(records)}
    for method in ("full", "an"):
        tests = [r["test_mAP"] for r in records if r["method"] == method]
        vals = [r["val_mAP"] for r in records if r["method"] == method]
        assert rows[method].test_mean == pytest.approx(statistics.mean(tests))
        assert rows[method].test_std == pytest.approx(statistics.stdev(tests))
        assert rows[method].val_mean == pytest.approx(statistics.mean(vals))
        assert rows[method].n == 2
    assert rows["full"].gap_recovered == pytest.approx(100.0)
    assert rows["an"].gap_recovered == pytest.approx(0.0)
    table = format_table(list(rows.values()))
    t = rows["an"]
    assert f"{t.test_mean:.2f} +- {t.test_std:.2f}" in table


def test_gap_recovered_hand_computed() -> None:
    def rec(method: str, seed: int, test: float) -> dict:
        return {
            "dataset": "d",
            "partial": "p",
            "method": method,
            "seed": seed,
            "test_mAP": test,
            "val_mAP": 1.0,
        }

    records = [
        rec("full", 0, 60.0),
        rec("full", 1, 62.0),  # mean 61
        rec("an", 0, 40.0),
        rec("an", 1, 42.0),  # mean 41
        rec("ll-r", 0, 50.0),
        rec("ll-r", 1, 47.0),  # mean 48.5 -> (48.5 - 41) / (61 - 41) = 37.5 %
    ]
    rows = {r.method: r for r in summarize(records)}
    assert rows["ll-r"].gap_recovered == pytest.approx(37.5)
    assert rows["ll-r"].test_std == pytest.approx(2.1213203435596424)  # sqrt(((1.5)^2 * 2) / 1)
    assert "37.5" in format_table(list(rows.values()), markdown=True)
    # no AN row: no gap
    assert summarize([rec("full", 0, 60.0), rec("ll-r", 0, 50.0)])[1].gap_recovered is None


def test_mean_std_single_value_and_empty() -> None:
    assert mean_std([3.0]) == (3.0, None)
    assert mean_std([]) == (None, None)
    assert mean_std([None, 1.0, 3.0]) == (2.0, pytest.approx(2**0.5))


def test_resume_skips_finished_runs(tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(tiny, tmp_path, ["an"], [0])
    with pytest.raises(PartialMLError, match="--resume"):
        _run(tiny, tmp_path, ["an"], [0, 1])
    calls: list[str] = []
    original = compare.run_one

    def counting(spec: RunSpec, **kw: object) -> dict:
        calls.append(spec.key())
        return original(spec, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(compare, "run_one", counting)
    # an interrupted write leaves a truncated last line: it is ignored
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"key": "tiny|single-pos')
    records = _run(tiny, tmp_path, ["an"], [0, 1], resume=True)
    assert calls == ["tiny|single-positive|an|1"]
    assert records[0] == first[0] and [r["seed"] for r in records] == [0, 1]


def test_resume_refuses_finished_runs_made_with_other_settings(tiny: str, tmp_path: Path) -> None:
    """A resumed bench never averages a finished run with runs made under other settings."""
    _run(tiny, tmp_path, ["an"], [0])
    before = (tmp_path / "results.jsonl").read_bytes()
    specs = make_specs(
        data=[tiny],
        partials=["single-positive"],
        methods=["an"],
        seeds=[0, 1],
        overrides={**FAST, "epochs": 3},
    )
    with pytest.raises(
        PartialMLError,
        match=r"results.jsonl: the finished run tiny\|single-positive\|an\|0 "
        r"was made with epochs=2, this bench asks for epochs=3; give --overwrite",
    ):
        run_bench(specs, output=tmp_path / "results.jsonl", runs_dir=tmp_path / "runs", jobs=1, resume=True)
    spec = RunSpec(
        data=tiny, partial="single-positive", method="an", seed=0, overrides=FAST, loss_args={"x": 1}
    )
    with pytest.raises(PartialMLError, match="loss_args="):
        run_bench([spec], output=tmp_path / "results.jsonl", runs_dir=tmp_path / "runs", jobs=1, resume=True)
    assert (tmp_path / "results.jsonl").read_bytes() == before


def test_duplicate_specs_and_bad_jobs_refused(tiny: str, tmp_path: Path) -> None:
    spec = RunSpec(data=tiny, partial="single-positive", method="an", seed=0)
    with pytest.raises(PartialMLError, match="twice"):
        run_bench([spec, spec], output=tmp_path / "r.jsonl", runs_dir=tmp_path)
    with pytest.raises(PartialMLError, match="--jobs"):
        plan_jobs(0, 3)


@pytest.mark.parametrize("jobs,runs,cores", [(None, 10, 8), (3, 10, 8), (None, 2, 8), (16, 40, 2), (1, 5, 2)])
def test_plan_jobs_never_oversubscribes(jobs: int | None, runs: int, cores: int) -> None:
    j, t = plan_jobs(jobs, runs, cores)
    assert j >= 1 and t >= 1 and j <= runs
    assert j * t <= max(cores, j)  # more jobs than cores only when asked, and then one thread each
    if jobs is None:
        assert j == min(cores, runs)


def test_bench_cli_end_to_end(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from partialml.cli.app import main

    out = tmp_path / "bench" / "results.jsonl"
    args = ["bench", "--data", tiny, "--losses", "full,an", "--seeds", "0", "--epochs", "1", "--jobs", "1"]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--output", str(out)])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    assert "gap recovered" in printed and "full" in printed
    assert len(read_records(out)) == 2
    with pytest.raises(SystemExit) as exc:  # exists, no --resume: exit status 2, file untouched
        main([*args, "--output", str(out)])
    assert exc.value.code == 2
    assert len(read_records(out)) == 2
    with pytest.raises(SystemExit) as exc:
        main([*args, "--losses", "an,nope", "--output", str(tmp_path / "x.jsonl")])
    assert exc.value.code == 2


def test_demo_quick_writes_png_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from partialml.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--quick", "--jobs", "1", "--output-dir", str(tmp_path / "demo")])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("protocol: data yeast")
    png = tmp_path / "demo" / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert [r["method"] for r in results["records"]] == ["full", "an", "ll-r"]
    assert all(r["epochs"] == 2 for r in results["records"])
    assert f"wrote {png}" in printed


def test_presets_lookup_and_fallback(tmp_path: Path) -> None:
    from partialml.engine.presets import preset_for

    f = tmp_path / "p.yaml"
    f.write_text(
        "defaults: {train: {epochs: 7, lr: 0.1}}\n"
        "datasets:\n  d:\n    train: {lr: 0.01}\n    losses:\n"
        "      ll-r: {loss_args: {delta_rel: 0.01}, train: {epochs: 3}, chosen_from: x}\n"
    )
    p = preset_for("d", "ll-r", path=f)
    assert p.train == {"epochs": 3, "lr": 0.01} and p.loss_args == {"delta_rel": 0.01}
    assert p.source == "presets.yaml:d/ll-r" and p.notes == {"chosen_from": "x"}
    assert preset_for("d", "an", path=f).source == "presets.yaml:d"
    assert preset_for("other", "an", path=f).train == {"epochs": 7, "lr": 0.1}
    f.write_text("datasets: [1, 2]\n")
    with pytest.raises(PartialMLError, match="datasets"):
        preset_for("d", "an", path=f)
