"""Graceful stops on SIGTERM and SIGINT: finish the current step, checkpoint, exit 143 or 130.

Inside :class:`StopRequest` (a context manager the trainer enters around its epochs) the first SIGTERM or
SIGINT only records the signal; the trainer checks :attr:`StopRequest.signum` at each step boundary (after
the optimizer step and the LabelStore corrections of a batch), writes ``checkpoints/last.pt`` atomically
with its position inside the epoch, and raises :class:`TrainingInterrupted`. The CLI turns that into one
line on stderr and the conventional shell status ``128 + signum``: **143** for SIGTERM (15), **130** for
SIGINT (2).

A second signal of either kind while the first is pending restores the previous handlers and re-raises
it the default way (SIGINT: ``KeyboardInterrupt``; SIGTERM: the process ends with status 143 at once),
so a stuck run can still be killed with a second Ctrl-C. The handlers are installed only in the main
thread (Python delivers signals there); elsewhere :class:`StopRequest` is inert. Previous handlers are
restored on exit, whatever happened.

Example:
    >>> with StopRequest() as stop:
    ...     stop.signum is None
    True
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Final

#: The signals handled, and the exit status of a run they stopped (``128 + signum``, the shell's rule).
EXIT_STATUS: Final = {signal.SIGINT: 130, signal.SIGTERM: 143}


class TrainingInterrupted(Exception):
    """A run stopped by SIGTERM or SIGINT after writing its checkpoint.

    Attributes:
        signum: the signal number (``signal.SIGTERM`` or ``signal.SIGINT``).
        exit_status: ``128 + signum`` (143 or 130).
        checkpoint: the checkpoint written, or ``None`` when none was written.
    """

    def __init__(self, signum: int, *, checkpoint: str | None, where: str) -> None:
        name = signal.Signals(signum).name
        saved = f"checkpoint {checkpoint} written; continue with --resume" if checkpoint else "no checkpoint"
        super().__init__(f"{name} received {where}; {saved}")
        self.signum = int(signum)
        self.exit_status = exit_status(signum)
        self.checkpoint = checkpoint


def exit_status(signum: int) -> int:
    """``128 + signum``: 143 for SIGTERM, 130 for SIGINT."""
    return 128 + int(signum)


class StopRequest:
    """Record the first SIGTERM / SIGINT instead of dying; see the module docstring.

    Attributes:
        signum: the pending signal number, or ``None``.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.signals = tuple(signals)
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            return
        # A second signal: give up gracefully stopping and behave as without us.
        self._restore()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signum)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._restore()


__all__ = ["EXIT_STATUS", "StopRequest", "TrainingInterrupted", "exit_status"]
