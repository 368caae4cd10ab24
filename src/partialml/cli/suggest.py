"""``partialml suggest``: the unknown training labels a run finds most likely positive, as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def suggest_command(
    run: Annotated[Path, typer.Option(help="The run directory (of `partialml train`).")],
    output: Annotated[Path, typer.Option(help="CSV file to write: sample,class,score, best first.")],
    top: Annotated[Optional[int], typer.Option(help="Keep the K best suggestions (default: all).")] = None,
    per_class: Annotated[
        Optional[int], typer.Option(help="At most N suggestions per class (applied before --top).")
    ] = None,
    folds: Annotated[
        Optional[int],
        typer.Option(help="Out-of-fold scores: retrain the run's config on K-1 of K seeded folds (K >= 2)."),
    ] = None,
    cleanlab: Annotated[
        Optional[Path],
        typer.Option(help="Also write the (N, C) probabilities (.npy) and label lists (.labels.json)."),
    ] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
) -> None:
    """Rank the unknown (-1) training entries by the model's probability that they are positive."""
    from partialml.cli.common import refuse_existing
    from partialml.engine.inference import write_text
    from partialml.errors import PartialMLError
    from partialml.tools.suggest import (
        check_ranking_options,
        suggest,
        suggestions_csv,
        training_scores,
        write_cleanlab,
    )

    if checkpoint not in ("best", "last"):
        raise PartialMLError(f"--checkpoint: got {checkpoint!r}; expected best or last")
    if folds is not None and folds < 2:
        raise PartialMLError(f"--folds: got {folds}; expected an integer >= 2")
    if cleanlab is not None and cleanlab.suffix != ".npy":
        raise PartialMLError("--cleanlab: expected a file name ending in .npy", path=cleanlab)
    check_ranking_options(top=top, per_class=per_class)
    refuse_existing(output, overwrite=overwrite)
    if cleanlab is not None:
        refuse_existing(
            cleanlab, cleanlab.with_suffix(".labels.json"), overwrite=overwrite, flag="--cleanlab"
        )
    scored = training_scores(run, folds=folds, checkpoint=checkpoint, device=device)
    rows = suggest(scored, top=top, per_class=per_class)
    write_text(output, suggestions_csv(rows))
    how = f"out-of-fold ({folds} folds)" if folds else "in-sample"
    typer.echo(f"wrote {len(rows)} suggestions ({how} scores) to {output}", err=True)
    if cleanlab is not None:
        probs, labels = write_cleanlab(cleanlab, scored)
        typer.echo(f"wrote {probs} and {labels} for cleanlab", err=True)
