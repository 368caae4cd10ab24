"""``partialml demo``: a minimal end-to-end run (AN vs LL-R on the builtin ``yeast``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEMO_LOSSES = ("an", "ll-r")


def demo_command(
    output_dir: Annotated[Path, typer.Option(help="Directory for the demo runs.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 10,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace earlier demo runs.")
    ] = True,
) -> None:
    """Train AN and LL-R on yeast with single-positive labels and print their test mAP."""
    from partialml.engine import TrainConfig, Trainer

    for loss in DEMO_LOSSES:
        config = TrainConfig(
            data="yeast",
            partial="single-positive",
            loss=loss,
            epochs=epochs,
            lr=1e-3,
            batch_size=16,
            standardize=True,
            output_dir=str(output_dir / loss),
            overwrite=overwrite and (output_dir / loss).exists(),
        )
        result = Trainer(config).fit()
        test = result.metrics.get("test") or {}
        score = test.get("mAP")
        shown = "n/a" if score is None else f"{score:.2f}"
        typer.echo(f"{loss:<6} test mAP {shown}  (best epoch {result.best_epoch}; {config.output_dir})")
