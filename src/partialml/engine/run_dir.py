"""The run directory: where a training run writes its files, and the rules that protect earlier runs.

Layout of ``--output-dir DIR``::

    DIR/config.yaml            the resolved configuration
    DIR/metrics.json           final metrics (written last: its presence means the run finished)
    DIR/history.csv            one row per epoch
    DIR/log.jsonl              one JSON object per event (epoch ends, start, end)
    DIR/checkpoints/last.pt    the state after the last finished epoch
    DIR/checkpoints/best.pt    the state at the best epoch (by validation mAP)
    DIR/tensorboard/           TensorBoard scalars, with ``--tensorboard``

A directory that already holds a run (``metrics.json`` or ``checkpoints/``) is refused unless
``overwrite`` (the earlier run's files are removed, nothing else) or ``resume`` (continue from
``checkpoints/last.pt``). The check happens before anything is written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from partialml.engine.checkpoint import atomic_write_text
from partialml.errors import PartialMLError

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
LOG_FILE = "log.jsonl"
CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, HISTORY_FILE, LOG_FILE)
RUN_DIRS = (CHECKPOINT_DIR, TENSORBOARD_DIR)
HISTORY_COLUMNS = ("epoch", "train_loss", "val_mAP", "seconds", "corrections", "lr")


class RunDir:
    """Paths of one run directory and its atomic writers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- paths -----------------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def history(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def log(self) -> Path:
        return self.path / LOG_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD_DIR

    def checkpoint(self, which: str) -> Path:
        """``checkpoints/{which}.pt`` (``which`` is ``last`` or ``best``)."""
        return self.checkpoints / f"{which}.pt"

    # -- rules -----------------------------------------------------------------------------------------
    def holds_run(self) -> bool:
        """Whether the directory holds (part of) another run: a ``metrics.json`` or ``checkpoints/``."""
        return self.metrics.exists() or self.checkpoints.exists()

    def check_available(self, *, overwrite: bool, resume: bool) -> None:
        """Refuse a directory holding another run unless ``overwrite`` or ``resume``; writes nothing."""
        if self.path.exists() and not self.path.is_dir():
            raise PartialMLError("--output-dir exists and is not a directory", path=self.path)
        if resume:
            if not self.checkpoint("last").is_file():
                raise PartialMLError(
                    f"--resume: no {CHECKPOINT_DIR}/last.pt to resume from in this directory", path=self.path
                )
            if not self.config.is_file():
                raise PartialMLError(f"--resume: no {CONFIG_FILE} in this directory", path=self.path)
            return
        if self.holds_run() and not overwrite:
            raise PartialMLError(
                "--output-dir already holds a run (metrics.json or checkpoints/); "
                "pass --overwrite to replace it or --resume to continue it",
                path=self.path,
            )

    def clear_previous_run(self) -> None:
        """Remove the files of an earlier run (only the names this module writes)."""
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
        for name in RUN_DIRS:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)

    def create(self) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)

    # -- writers ---------------------------------------------------------------------------------------
    def write_text(self, name: str, text: str) -> Path:
        target = self.path / name
        atomic_write_text(target, text)
        return target

    def write_json(self, name: str, payload: Any) -> Path:
        return self.write_text(name, json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")

    def write_history(self, rows: Sequence[dict[str, Any]]) -> Path:
        """Rewrite ``history.csv`` atomically from the per-epoch rows."""
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf, fieldnames=list(HISTORY_COLUMNS), extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in HISTORY_COLUMNS})
        return self.write_text(HISTORY_FILE, buf.getvalue())

    def append_log(self, event: dict[str, Any]) -> None:
        """Append one JSON line to ``log.jsonl`` (flushed; a torn last line is possible on a crash)."""
        with self.log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(to_jsonable(event), allow_nan=False) + "\n")
            f.flush()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def to_jsonable(value: Any) -> Any:
    """Plain JSON data: NaN / inf become ``None``, tuples lists, paths strings, numpy / torch scalars numbers."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)
    if callable(item):
        return to_jsonable(item())
    return str(value)


__all__ = ["HISTORY_COLUMNS", "RunDir", "to_jsonable"]
