"""``partialml simulate``: write simulated partial labels of a data set's training split."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer


def simulate_command(
    data: Annotated[str, typer.Option(help="Feature data (a path or a builtin name).")],
    partial: Annotated[str, typer.Option(help="single-positive, fraction:F, fpc:N, rps:P, full or given.")],
    output: Annotated[Path, typer.Option(help="FILE.txt (robust-loss text lists) or FILE.npy (1/0/-1).")],
    seed: Annotated[Optional[int], typer.Option(help="Simulation seed (default: the simulator's).")] = None,
    split: Annotated[str, typer.Option(help="train or test.")] = "train",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
) -> None:
    """Simulate partial labels from the full labels and write them."""
    from partialml.cli.common import refuse_existing
    from partialml.engine.checkpoint import atomic_write_bytes
    from partialml.engine.trainer import load_data, scheme_labels
    from partialml.errors import PartialMLError
    from partialml.labels import parse_scheme, write_text_lists

    suffix = output.suffix.lower()
    if suffix not in (".txt", ".npy"):
        raise PartialMLError(
            "--output: expected a .txt (text lists) or .npy (1/0/-1 matrix) file", path=output
        )
    refuse_existing(output, overwrite=overwrite)
    if split not in ("train", "test"):
        raise PartialMLError(f"--split: got {split!r}; expected train or test")
    parse_scheme(partial)  # a bad scheme fails before the data is read
    source = load_data(data)
    part = getattr(source, split, None)
    if part is None:
        raise PartialMLError(f"--split {split}: the data has no {split} split", path=data)
    full = np.asarray(part.labels, dtype=np.int8)
    given = getattr(part, "observed", None)
    given = None if given is None else np.asarray(given, dtype=np.int8)
    labels = scheme_labels(partial, full, given, seed=seed, source=data)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, np.asarray(labels, dtype=np.int8))
        atomic_write_bytes(output, buf.getvalue())
    else:
        negatives = int((labels == 0).sum())
        if negatives and (labels < 0).any():  # text lists keep positives: negatives would read as unknown
            import warnings

            from partialml.errors import PartialMLWarning

            warnings.warn(
                f"--output {output.name}: text lists hold positives only; the {negatives} observed negatives "
                "are not written (read back, they are unknown); write a .npy file to keep them",
                PartialMLWarning,
                stacklevel=2,
            )
        ids = getattr(part, "ids", None)
        names = [str(i) for i in ids] if ids is not None else [str(i) for i in range(full.shape[0])]
        write_text_lists(output, names, labels)
    kept = int((np.asarray(labels) == 1).sum())
    typer.echo(f"wrote {full.shape[0]} samples ({kept} positives kept) to {output}")
