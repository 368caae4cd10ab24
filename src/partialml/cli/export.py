"""``partialml export``: a run's model as safetensors weights (or TorchScript / ONNX) plus a JSON sidecar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_command(
    run: Annotated[Path, typer.Option(help="The run directory (of `partialml train`).")],
    output: Annotated[
        Path,
        typer.Option(help="File to write (.safetensors, .pt, .onnx); sidecar: model.json / model.pt.json."),
    ],
    thresholds: Annotated[
        str, typer.Option(help="tuned (per-class F1 on the run's validation split) or default (0.5).")
    ] = "tuned",
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    format: Annotated[
        str, typer.Option(help="safetensors (features runs), torchscript (any run) or onnx (needs onnx).")
    ] = "safetensors",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file and its sidecar.")] = False,
) -> None:
    """Write MODEL.safetensors and MODEL.json (or MODEL.pt / MODEL.onnx and MODEL.pt.json / MODEL.onnx.json);
    load them with `partialml.load(path)`."""
    from partialml.errors import PartialMLError
    from partialml.tools.export import export_run

    if checkpoint not in ("best", "last"):
        raise PartialMLError(f"--checkpoint: got {checkpoint!r}; expected best or last")
    if thresholds not in ("tuned", "default"):
        raise PartialMLError(f"--thresholds: got {thresholds!r}; expected tuned or default")
    weights, sidecar = export_run(
        run,
        output,
        checkpoint=checkpoint,
        thresholds=thresholds,  # type: ignore[arg-type]
        format=format,  # type: ignore[arg-type]
        overwrite=overwrite,
    )
    typer.echo(f"wrote {weights} and {sidecar}", err=True)
