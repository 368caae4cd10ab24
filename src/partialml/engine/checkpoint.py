"""Atomic checkpoint files that hold tensors and plain containers only.

A checkpoint is written to a temporary file in the destination's directory, flushed and ``fsync``-ed,
then moved over the destination with ``os.replace`` (atomic on POSIX and Windows), and the directory
is ``fsync``-ed. A crash at any point leaves either the old file or the new one, never a torn file.

Everything stored is a tensor, a number, a string, ``None`` or a list / tuple / dict of those, so that
``torch.load(path, weights_only=True)`` loads it (:func:`load_checkpoint` does exactly that).

Contents written by the trainer (keys of the top-level dict): ``format`` (this module's
:data:`CHECKPOINT_FORMAT`), ``epoch`` (last finished, 0-indexed), ``model``, ``optimizer``, ``loss``
(the loss module's ``state_dict``), ``label_store`` (``LabelStore.state_dict()``), ``standardization``
(``{"mean", "std"}`` of the training rows, or ``None``), ``best`` (``{"epoch", "val_mAP"}``),
``history`` (one dict per epoch), ``rng`` (see :mod:`partialml.engine.seeding`), ``meta`` (input
dimension, class names, split sizes), ``stopped_early``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

import torch

from partialml.errors import PartialMLError

CHECKPOINT_FORMAT = "partialml-checkpoint-1"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, flush, fsync, ``os.replace``)."""
    _atomic_write(Path(path), lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` atomically."""
    _atomic_write(Path(path), lambda f: torch.save(state, f))


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name opened exclusively ("xb") gets the usual permissions (0o666 minus the umask),
    # unlike tempfile.mkstemp's 0o600.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a missing or foreign file raises one line."""
    p = Path(path)
    if not p.is_file():
        raise PartialMLError("checkpoint not found", path=p)
    try:
        with warnings.catch_warnings():
            # torch warns about foreign pickle protocols before failing; the error below says it in one line
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt file, pickle of non-allowed objects, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PartialMLError(f"not a readable partialml checkpoint ({first})", path=p) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise PartialMLError(f"not a partialml checkpoint (expected format {CHECKPOINT_FORMAT})", path=p)
    return state


__all__ = [
    "CHECKPOINT_FORMAT",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_checkpoint",
    "save_checkpoint",
]
