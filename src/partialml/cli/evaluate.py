"""``partialml evaluate``: re-score a run's checkpoint and print (or write) the report as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer


def evaluate_command(
    run: Annotated[Path, typer.Option(help="The run directory.")],
    data: Annotated[
        Optional[str],
        typer.Option(
            help="Other data to score (default: the run's): features, or image labels for image runs."
        ),
    ] = None,
    format: Annotated[
        str, typer.Option(help="Image runs: the label format of --data (auto: extension).")
    ] = "auto",
    image_root: Annotated[
        Optional[str], typer.Option(help="Image runs: folder the image paths of --data are relative to.")
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    output: Annotated[Optional[Path], typer.Option(help="Write the JSON report here too.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    plot: Annotated[
        Optional[Path], typer.Option(help="Also draw the test (else validation) AP per class to this PNG.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
) -> None:
    """Re-score a run (validation and test mAP; feature or image runs) and print the report as JSON."""
    from partialml.cli.common import refuse_existing
    from partialml.engine.inference import evaluate_run, write_text
    from partialml.engine.run_dir import to_jsonable

    if checkpoint not in ("best", "last"):
        from partialml.errors import PartialMLError

        raise PartialMLError(f"--checkpoint: got {checkpoint!r}; expected best or last")
    refuse_existing(output, overwrite=overwrite)
    refuse_existing(plot, overwrite=overwrite, flag="--plot")
    report = evaluate_run(
        run,
        data=data,
        checkpoint=checkpoint,  # type: ignore[arg-type]
        device=device,
        format=format,
        image_root=image_root,
    )
    text = json.dumps(to_jsonable(report), indent=2) + "\n"
    if output is not None:
        write_text(output, text)
    typer.echo(text, nl=False)
    if plot is not None:
        from partialml.analysis.plots import per_class_ap_chart

        split = "test" if report.get("test") else "val"
        written = per_class_ap_chart(report[split]["per_class"], plot, title=f"{run.name}, {split}")
        typer.echo(f"wrote {written}", err=True)
