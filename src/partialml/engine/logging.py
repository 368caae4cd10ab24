"""Progress bars and TensorBoard scalars for the trainer (the JSONL log is written by :class:`RunDir`).

* :func:`progress`: a ``tqdm`` bar on stderr, shown only when stderr is a terminal (never in tests or
  in redirected logs) unless forced with ``enabled``.
* :class:`ScalarWriter`: TensorBoard scalars when asked for; TensorBoard is an optional dependency,
  imported only here, and a missing install raises one line naming the extra ``partialml[tensorboard]``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from partialml.errors import PartialMLError

T = TypeVar("T")


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool | None = None
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr; ``enabled=None`` shows it only on a terminal."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)


def check_tensorboard_available() -> None:
    """Raise one line naming the extra to install when TensorBoard is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise PartialMLError(
            "--tensorboard needs the tensorboard package: pip install 'partialml[tensorboard]'"
        )


class ScalarWriter:
    """TensorBoard scalars under ``log_dir`` (``enabled=False``: a no-op)."""

    def __init__(self, log_dir: str | Path, *, enabled: bool) -> None:
        self._writer: Any = None
        if enabled:
            check_tensorboard_available()
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(log_dir))

    def add_scalars(self, values: dict[str, float | None], step: int) -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            if value is not None:
                self._writer.add_scalar(name, value, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


__all__ = ["ScalarWriter", "check_tensorboard_available", "progress"]
