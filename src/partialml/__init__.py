"""partialml: multi-label classification from incomplete labels on long-tailed data.

Label encoding everywhere: ``1`` observed positive, ``0`` observed negative, ``-1`` unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from partialml.tools.export import ExportedModel

__version__ = "0.1.0"


def load(path: str | Path, *, device: str = "cpu") -> ExportedModel:
    """Load a model written by ``partialml export`` (its ``.safetensors`` or its ``.json`` sidecar).

    Imported lazily, so that ``import partialml`` stays light.
    """
    from partialml.tools.export import load_exported

    return load_exported(path, device=device)


__all__ = ["__version__", "load"]
