"""Helpers shared by the CLI commands: parsing ``key=value`` options, refusing to replace files
(:func:`partialml.errors.refuse_existing`, shared with the library's exports) and writing one-line errors."""

from __future__ import annotations

import re
import sys
from typing import Any

from partialml.errors import PartialMLError, refuse_existing

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z|[-+]?(?:inf|nan)\Z", re.I)
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_NONE = {"none", "null"}


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.002"`` / ``"1e-3"`` -> float, ``"true"`` / ``"false"`` -> bool,
    ``"none"`` / ``"null"`` -> None, anything else the string itself.

    Example:
        >>> [parse_value(t) for t in ["3", "2e-3", "True", "null", "mean"]]
        [3, 0.002, True, None, 'mean']
    """
    stripped = text.strip()
    low = stripped.lower()
    if _INT.match(stripped):
        return int(stripped)
    if _FLOAT.match(stripped):
        return float(stripped)
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    if low in _NONE:
        return None
    return text


def parse_key_values(items: list[str] | None, *, option: str = "--loss-arg") -> dict[str, Any]:
    """Parse repeated ``key=value`` options into a dict (a later key wins); dashes in keys become ``_``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise PartialMLError(f"{option}: got {item!r}; expected key=value, e.g. {option} delta_rel=0.002")
        if not key.isidentifier():
            raise PartialMLError(f"{option}: {key!r} is not a valid option name")
        out[key] = parse_value(value)
    return out


def one_line(message: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(str(message).split())


def error_exit(message: str, code: int) -> None:
    """Print ``partialml: error: MESSAGE`` (one line) on stderr and exit with ``code``."""
    sys.stderr.write(f"partialml: error: {one_line(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


__all__ = ["error_exit", "one_line", "parse_key_values", "parse_value", "refuse_existing"]
