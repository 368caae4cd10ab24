"""Atomic checkpoints: weights_only loading, and a crash between write and replace keeps the old file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from partialml.engine.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from partialml.errors import PartialMLError


def _state(value: float) -> dict:
    return {"format": CHECKPOINT_FORMAT, "epoch": 1, "w": torch.full((3,), value), "meta": {"names": ["a"]}}


def test_save_and_load_with_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(path, _state(1.0))
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], torch.ones(3))
    assert load_checkpoint(path)["meta"] == {"names": ["a"]}
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left


def test_crash_between_write_and_replace_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(1.0))
    before = path.read_bytes()

    def crash(src, dst):  # the process dies after writing the temp file, before the rename
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _state(2.0))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # the temp file was removed


def test_crash_during_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(1.0))
    real_save = torch.save

    def torn_save(obj, f):
        real_save(obj, f)
        f.truncate(10)  # a partial write...
        raise OSError("disk full")  # ...then the failure

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError):
        save_checkpoint(path, _state(2.0))
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))


def test_load_rejects_missing_foreign_and_unsafe_files(tmp_path: Path) -> None:
    with pytest.raises(PartialMLError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"w": torch.ones(1)}, foreign)
    with pytest.raises(PartialMLError, match="not a partialml checkpoint"):
        load_checkpoint(foreign)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "obj": Path("x")}, unsafe)  # not allowed by weights_only
    with pytest.raises(PartialMLError, match="not a readable"):
        load_checkpoint(unsafe)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(PartialMLError):
        load_checkpoint(garbage)
