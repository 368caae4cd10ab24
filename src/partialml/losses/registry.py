"""A small explicit registry of losses: ``create_loss(name, **kwargs)`` and ``list_losses(pattern)``.

Each entry has a one-line description; an unknown name or option lists the valid ones.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import Tensor

from partialml.errors import PartialMLError
from partialml.losses.base import PartialLabelLoss

L = TypeVar("L", bound=type[PartialLabelLoss])


@dataclass(frozen=True)
class LossEntry:
    """A registered loss: its name, class, one-line description and paper."""

    name: str
    cls: type[PartialLabelLoss]
    description: str
    paper: str


_REGISTRY: dict[str, LossEntry] = {}


def register_loss(name: str, *, description: str, paper: str) -> Callable[[L], L]:
    """Class decorator registering a :class:`PartialLabelLoss` under ``name``."""

    def decorator(cls: L) -> L:
        if name in _REGISTRY:
            raise RuntimeError(f"loss {name!r} registered twice")
        _REGISTRY[name] = LossEntry(name=name, cls=cls, description=description, paper=paper)
        return cls

    return decorator


def _ensure_loaded() -> None:
    import partialml.losses  # noqa: F401  (importing the package registers every loss)


def list_losses(pattern: str | None = None) -> list[str]:
    """Registered loss names, sorted; ``pattern`` is a shell-style filter such as ``"ll-*"``."""
    _ensure_loaded()
    names = sorted(_REGISTRY)
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def loss_entry(name: str) -> LossEntry:
    """The registry entry of ``name``; an unknown name raises with the list of valid ones."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PartialMLError(f"unknown loss {name!r}; valid losses: {', '.join(sorted(_REGISTRY))}") from None


def loss_options(name: str) -> dict[str, Any]:
    """Keyword options of loss ``name`` with their defaults (``inspect.Parameter.empty`` if required)."""
    cls = loss_entry(name).cls
    sig = inspect.signature(cls.__init__)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def create_loss(name: str, *, labels: Tensor | None = None, **kwargs: Any) -> PartialLabelLoss:
    """Build the loss registered as ``name``.

    Args:
        name: a name from :func:`list_losses`.
        labels: the ``(N, C)`` observed training labels (1 / 0 / -1); required by losses with
            ``requires_labels`` (ROLE, DB, LTML, EM+APL), used by :meth:`PartialLabelLoss.from_labels`.
        **kwargs: the loss's options; an unknown option raises with the list of valid ones.

    Example:
        >>> loss = create_loss("ll-r", delta_rel=0.002)
        >>> loss.set_epoch(0)
    """
    entry = loss_entry(name)
    options = loss_options(name)
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        valid = ", ".join(sorted(options)) or "none"
        raise PartialMLError(f"loss {name!r} has no option {', '.join(unknown)}; valid options: {valid}")
    if labels is not None:
        return entry.cls.from_labels(labels, **kwargs)
    if entry.cls.requires_labels:
        raise PartialMLError(
            f"loss {name!r} needs the training labels: create_loss({name!r}, labels=observed, ...)"
        )
    try:
        return entry.cls(**kwargs)
    except TypeError as exc:  # a required option is missing
        raise PartialMLError(f"loss {name!r}: {exc}") from None
