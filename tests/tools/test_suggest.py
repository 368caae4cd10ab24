"""``partialml suggest``: ranking of unknown entries, recoverable hidden positives, folds, cleanlab, CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from partialml.errors import PartialMLError
from partialml.tools.suggest import (
    cleanlab_inputs,
    fold_rows,
    precision_at_k,
    random_baseline,
    rank_unknown,
    suggest,
    suggestions_csv,
    training_scores,
)


def test_rank_unknown_orders_unknown_entries_by_score_with_row_major_ties() -> None:
    scores = np.array([[0.9, 0.5, 0.7], [0.5, 0.8, 0.1]])
    observed = np.array([[1, -1, -1], [-1, -1, 0]])
    rows, cols = rank_unknown(scores, observed)
    # unknown entries: (0,1)=.5 (0,2)=.7 (1,0)=.5 (1,1)=.8 ; ties .5: (0,1) before (1,0)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(1, 1), (0, 2), (0, 1), (1, 0)]
    rows, cols = rank_unknown(scores, observed, top=2)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(1, 1), (0, 2)]
    rows, cols = rank_unknown(scores, observed, per_class=1)  # best of each class: (1,1), (0,2), (1,0)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(1, 1), (0, 2), (1, 0)]
    for bad in ({"top": 0}, {"per_class": -1}, {"top": True}):
        with pytest.raises(PartialMLError):
            rank_unknown(scores, observed, **bad)  # type: ignore[arg-type]


def test_fold_rows_partition_the_rows_reproducibly() -> None:
    parts = fold_rows(23, 4, seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(23))
    assert sorted(len(p) for p in parts) == [5, 6, 6, 6]
    assert all((a == b).all() for a, b in zip(parts, fold_rows(23, 4, seed=3), strict=True))
    assert not all((a == b).all() for a, b in zip(parts, fold_rows(23, 4, seed=4), strict=True))
    with pytest.raises(PartialMLError, match="--folds"):
        fold_rows(23, 1, seed=0)


def test_hidden_positives_are_recovered_in_sample(trained: Path) -> None:
    scored = training_scores(trained, device="cpu")
    n = scored.scores.shape[0]
    assert scored.full is not None and scored.observed.shape == scored.full.shape == (n, 4)
    # single-positive: one observed positive per row, everything else unknown
    assert ((scored.observed == 1).sum(axis=1) == 1).all() and not (scored.observed == 0).any()
    base = random_baseline(scored)
    p20 = precision_at_k(scored, 20)
    assert 0.1 < base < 0.5
    assert p20 >= 0.8 and p20 > 1.8 * base, (p20, base)


def test_out_of_fold_scores_recover_hidden_positives_and_differ_from_in_sample(trained: Path) -> None:
    ins = training_scores(trained, device="cpu")
    oof = training_scores(trained, folds=2, device="cpu")
    assert oof.folds == 2 and oof.scores.shape == ins.scores.shape
    assert np.isfinite(oof.scores).all() and ((oof.scores > 0) & (oof.scores < 1)).all()
    assert not np.allclose(oof.scores, ins.scores, atol=1e-3)
    assert (oof.observed == ins.observed).all()
    assert precision_at_k(oof, 20) >= 0.7


def test_suggestions_csv_lists_only_unknown_entries_best_first(trained: Path) -> None:
    scored = training_scores(trained, device="cpu")
    text = suggestions_csv(suggest(scored, top=30))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["sample", "class", "score"]
    body = rows[1:]
    assert len(body) == 30
    values = [float(r[2]) for r in body]
    assert values == sorted(values, reverse=True)
    for sample, cls, score in body:
        r, c = int(sample), scored.class_names.index(cls)
        assert scored.observed[r, c] == -1
        assert float(score) == pytest.approx(float(scored.scores[r, c]), rel=1e-5)


def test_cleanlab_inputs_layout() -> None:
    scores = np.array([[0.2, 0.9], [0.6, 0.4], [0.1, 0.3]])
    observed = np.array([[1, -1], [1, 1], [-1, 0]])
    probs, labels = cleanlab_inputs(scores, observed)
    assert probs.dtype == np.float32 and probs.shape == (3, 2)
    assert labels == [[0], [0, 1], []]


def test_cli_suggest_writes_csv_and_cleanlab_files(trained: Path, tmp_path: Path, cli) -> None:
    out, npy = tmp_path / "s.csv", tmp_path / "probs.npy"
    code, _, err = cli(
        [
            "suggest",
            "--run",
            str(trained),
            "--output",
            str(out),
            "--top",
            "10",
            "--per-class",
            "5",
            "--cleanlab",
            str(npy),
            "--device",
            "cpu",
        ]
    )
    assert code == 0, err
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["sample", "class", "score"] and len(rows) == 11
    assert max(sum(1 for r in rows[1:] if r[1] == c) for c in {r[1] for r in rows[1:]}) <= 5
    probs = np.load(npy)
    side = json.loads((tmp_path / "probs.labels.json").read_text())
    assert probs.shape == (len(side["labels"]), 4) and len(side["sample_names"]) == probs.shape[0]
    assert all(len(lab) == 1 for lab in side["labels"])  # single positive per row


@pytest.mark.parametrize(
    ("flags", "needle"),
    [(["--top", "0"], "--top"), (["--folds", "1"], "--folds"), (["--per-class", "0"], "--per-class")],
)
def test_cli_suggest_bad_flags_exit_2_with_one_line(
    trained: Path, tmp_path: Path, cli, flags: list[str], needle: str
) -> None:
    out = tmp_path / "s.csv"
    code, _, err = cli(["suggest", "--run", str(trained), "--output", str(out), *flags])
    assert code == 2 and err.count("\n") == 1 and needle in err
    assert not out.exists()


def test_cli_suggest_run_without_checkpoint_exits_2(trained: Path, tmp_path: Path, cli) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    shutil.rmtree(broken / "checkpoints")
    code, _, err = cli(["suggest", "--run", str(broken), "--output", str(tmp_path / "s.csv")])
    assert code == 2 and err.count("\n") == 1 and "checkpoint" in err
    code, _, err = cli(["suggest", "--run", str(tmp_path / "nothing"), "--output", str(tmp_path / "s.csv")])
    assert code == 2 and err.count("\n") == 1 and "run directory" in err


def test_suggestions_after_a_long_tail_cut_name_the_source_rows(make_run, data_dir: Path) -> None:
    """With --long-tail the run trains on a subset of the file's rows: a suggestion's sample name is the
    row in the source file, and its score is the model's score of that row's features."""
    from partialml.engine.inference import load_run_model
    from partialml.labels.long_tail import long_tail_rows

    run = make_run("--loss", "an", "--long-tail", "pareto")
    scored = training_scores(run, device="cpu")
    kept = long_tail_rows("pareto", np.load(data_dir / "train_labels.npy"))
    assert 0 < len(kept) < 240  # the cut drops rows, so names and positions differ
    assert scored.sample_names == [str(int(r)) for r in kept]
    model = load_run_model(run, device="cpu").model
    x = torch.from_numpy(np.load(data_dir / "train_features.npy"))
    for s in suggest(scored, top=10):
        with torch.no_grad():
            want = torch.sigmoid(model(x[int(s.sample)][None]))[0, s.column].item()
        assert s.score == pytest.approx(want, rel=1e-5)
