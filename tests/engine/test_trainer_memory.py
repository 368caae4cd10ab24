"""The features trainer holds one copy of each label set: the store keeps the training-row subsets it is
built from, scans avoid ``(N, C)`` temporaries, and the results are those of the plain formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from partialml.engine import TrainConfig, Trainer
from partialml.engine.trainer import _has_value, build_label_store, prepare_data
from partialml.labels.long_tail import head_medium_tail


@pytest.mark.parametrize("block_entries", [1, 7, 60, 1 << 20])
def test_has_value_matches_the_plain_test(block_entries: int) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(int(rng.integers(1, 40)), 5))
        for value in (-1, 0, 1):
            assert _has_value(labels, value, block_entries=block_entries) == bool((labels == value).any())
    only_last = np.full((30, 4), -1, dtype=np.int8)
    only_last[-1, 3] = 0  # a 0 between -1 (min) and 1 (max) only in the last block
    only_last[0, 0] = 1
    assert _has_value(only_last, 0, block_entries=block_entries)
    only_last[-1, 3] = 1
    assert not _has_value(only_last, 0, block_entries=block_entries)
    assert not _has_value(np.zeros((0, 3), dtype=np.int8), 0)


def _config(data: Path, out: Path, **kw: object) -> TrainConfig:
    return TrainConfig(data=str(data), output_dir=str(out), epochs=1, batch_size=32, device="cpu", **kw)  # type: ignore[arg-type]


def test_store_keeps_the_training_subsets_without_a_second_copy(feature_dir: Path, tmp_path: Path) -> None:
    prepared = prepare_data(_config(feature_dir, tmp_path / "run"))
    store = build_label_store(prepared)
    rows = prepared.train_rows
    assert torch.equal(store.to_dense(), torch.from_numpy(prepared.observed[rows]))
    assert torch.equal(store.to_dense(full=True), torch.from_numpy(prepared.full[rows]))
    # observed + full, n_train x C int8 each, nothing else (no corrections yet)
    assert store.nbytes == 2 * len(rows) * prepared.num_classes
    state = store.state_dict()
    assert not np.shares_memory(state["observed"]["data"].numpy(), prepared.observed)  # a subset, not a view


def test_group_report_counts_the_full_training_positives(feature_dir: Path, tmp_path: Path) -> None:
    trainer = Trainer(_config(feature_dir, tmp_path / "run", group_scale=0.1), show_progress=False)
    metrics = trainer.fit().metrics
    p = trainer.prepared
    counts = (p.full[p.train_rows] == 1).sum(axis=0)  # the reference: full labels of the training rows
    groups = head_medium_tail(counts, scale=0.1)
    assert metrics["test"]["group_sizes"] == {k: len(v) for k, v in groups.items()}
    assert metrics["best_epoch"] == 0


def test_report_test_split_names_partial_test_labels_and_groups_by_training_counts() -> None:
    from sklearn.metrics import average_precision_score

    from partialml.engine.evaluate import report_test_split

    scores = np.array([[0.9, 0.2, 0.6], [0.1, 0.8, 0.4], [0.7, 0.3, 0.2], [0.2, 0.6, 0.9]])
    labels = np.array([[1, 0, 1], [0, 1, -1], [1, -1, 0], [0, 1, 1]], dtype=np.int8)
    counts = np.array([150, 50, 3])  # head, medium, tail at the paper's thresholds 100 / 20
    out = report_test_split(scores, labels, class_names=["a", "b", "c"], train_positives=counts)
    assert out["labels"] == "partial" and out["unknown_as"] == "ignored"
    assert out["group_sizes"] == {"head": 1, "medium": 1, "tail": 1}
    keep = labels[:, 2] >= 0
    tail = 100 * average_precision_score(labels[keep, 2], scores[keep, 2])
    assert out["group_mAP"]["tail"] == pytest.approx(tail)
    full = report_test_split(scores, np.abs(labels), class_names=["a", "b", "c"], train_positives=counts)
    assert full["labels"] == "full" and "unknown_as" not in full
