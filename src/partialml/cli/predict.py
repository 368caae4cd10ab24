"""``partialml predict``: scores (or 0/1 labels) of a run's model on a data split, as CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def predict_command(
    run: Annotated[Path, typer.Option(help="The run directory.")],
    data: Annotated[
        str, typer.Option(help="Feature data (a path or a builtin name); image runs: a label file or folder.")
    ],
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    output: Annotated[Optional[Path], typer.Option(help="CSV file to write (default: stdout).")] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Write 0/1 labels at this threshold.")] = None,
    thresholds: Annotated[
        Optional[str],
        typer.Option(
            help="tuned: 0/1 labels at per-class thresholds maximizing validation F1 (stored "
            "in the run's thresholds.json)."
        ),
    ] = None,
    labels: Annotated[
        bool, typer.Option("--labels", help="Write 0/1 labels (threshold 0.5 by default).")
    ] = False,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    format: Annotated[
        str, typer.Option(help="Image runs: the label format of --data (auto: extension).")
    ] = "auto",
    image_root: Annotated[
        Optional[str], typer.Option(help="Image runs: folder the image paths are relative to.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
) -> None:
    """Write one CSV row per sample: `sample` (id or 0-based row), then one column per class."""
    from partialml.cli.common import refuse_existing
    from partialml.engine.inference import predict_split, predictions_csv, write_text
    from partialml.errors import PartialMLError

    if checkpoint not in ("best", "last"):
        raise PartialMLError(f"--checkpoint: got {checkpoint!r}; expected best or last")
    refuse_existing(output, overwrite=overwrite)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise PartialMLError(f"--threshold: got {threshold}; expected a probability in [0, 1]")
    if thresholds is not None and thresholds != "tuned":
        raise PartialMLError(f"--thresholds: got {thresholds!r}; expected tuned")
    if thresholds is not None and threshold is not None:
        raise PartialMLError("--threshold and --thresholds exclude each other; give one")
    names, classes, scores = predict_split(
        run,
        data=data,
        split=split,  # type: ignore[arg-type]
        checkpoint=checkpoint,  # type: ignore[arg-type]
        device=device,
        format=format,
        image_root=image_root,
    )
    cut: Any = threshold if threshold is not None else (0.5 if labels else None)
    if thresholds == "tuned":
        from partialml.tools.thresholds import run_thresholds

        cut = run_thresholds(run, checkpoint=checkpoint, device=device).thresholds
    text = predictions_csv(names, classes, scores, threshold=cut)
    if output is None:
        sys.stdout.write(text)
        return
    write_text(output, text)
    typer.echo(f"wrote {len(names)} rows x {len(classes)} classes to {output}", err=True)
