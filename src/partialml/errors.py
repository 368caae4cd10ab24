"""User-facing errors.

Every problem caused by the user's input (a malformed file, a wrong flag, a class count that does not
match) raises :class:`PartialMLError` with one line that names the file or option and says what was
expected. The CLI prints that line and exits with status 2, touching nothing of an earlier run.
"""

from __future__ import annotations

from pathlib import Path


class PartialMLError(ValueError):
    """A problem with the user's input; its message is one line meant for people."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(f"{where}{message}")
        self.path = None if path is None else str(path)
        self.line = line


class PartialMLWarning(UserWarning):
    """Input that is legal but probably not what was meant (for instance a class with no observed
    positive); the CLI prints it as one ``partialml: warning: ...`` line and goes on."""


def refuse_existing(*paths: str | Path | None, overwrite: bool, flag: str = "--output") -> None:
    """Raise one :class:`PartialMLError` line naming the first of ``paths`` that exists, unless
    ``overwrite``: no command replaces a file it did not just write without being asked to (``None``
    paths are skipped)."""
    if overwrite:
        return
    for path in paths:
        if path is not None and Path(path).exists():
            raise PartialMLError(f"{flag}: the file exists; pass --overwrite to replace it", path=path)
