"""``partialml bench``: the method comparison over datasets, partial schemes, losses and seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from partialml.errors import PartialMLError

DEFAULT_LOSSES = "full,an,iu,wan,an-ls,epr,role,ll-r,ll-ct,ll-cp,hill,splc,em,em-apl"


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; ``"0-4"`` -> ``[0, 1, 2, 3, 4]``."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
        except ValueError:
            raise PartialMLError(f"--seeds: got {text!r}; expected integers such as 0,1,2 or 0-4") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise PartialMLError(f"--seeds: got {text!r}; expected distinct integers >= 0 such as 0,1,2")
    return seeds


def parse_losses(text: str) -> list[str]:
    """Comma-separated methods: ``full`` or registered loss names (checked against the registry)."""
    from partialml.engine.compare import FULL
    from partialml.losses import list_losses

    names = [n.strip() for n in text.split(",") if n.strip()]
    valid = set(list_losses())
    unknown = [n for n in names if n != FULL and n not in valid]
    if not names or unknown:
        raise PartialMLError(
            f"--losses: unknown {', '.join(unknown) or '(none given)'}; valid: full, {', '.join(sorted(valid))}"
        )
    return list(dict.fromkeys(names))


def bench_command(
    data: Annotated[
        list[str],
        typer.Option(
            help="Data (repeatable): features (a path or yeast, scene, corel5k) or, with --setting "
            "end-to-end, an image label file or dataset folder."
        ),
    ],
    output: Annotated[Path, typer.Option(help="Results file: one JSON record per run (JSONL).")],
    partial: Annotated[
        Optional[list[str]], typer.Option(help="Partial scheme (repeatable); default single-positive.")
    ] = None,
    losses: Annotated[str, typer.Option(help="Comma-separated methods; 'full' = bce on full labels.")] = (
        DEFAULT_LOSSES
    ),
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0,1,2 (split, init, partial labels).")] = "0,1,2",
    jobs: Annotated[Optional[int], typer.Option(help="Parallel processes (default: the CPU cores).")] = None,
    epochs: Annotated[
        Optional[int], typer.Option(help="Epochs of every run (default: the presets').")
    ] = None,
    lr: Annotated[
        Optional[float], typer.Option(help="Learning rate of every run (default: presets).")
    ] = None,
    head: Annotated[Optional[str], typer.Option(help="linear or mlp (default: presets, linear).")] = None,
    val_labels: Annotated[Optional[str], typer.Option(help="clean (default) or partial.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")] = None,
    output_dir: Annotated[
        Optional[Path], typer.Option(help="Where the run directories go (default: OUTPUT's folder/runs).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip the runs already in --output.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start --output afresh.")] = False,
    keep_checkpoints: Annotated[
        bool, typer.Option("--keep-checkpoints", help="Keep each run's checkpoints.")
    ] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the table as Markdown.")] = False,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size of every run.")] = None,
    setting: Annotated[
        Optional[str], typer.Option(help="features (default) or end-to-end (images; no presets).")
    ] = None,
    data_format: Annotated[
        Optional[str], typer.Option("--format", help="Data format (auto; end-to-end: csv, jsonl, voc, ...).")
    ] = None,
    image_root: Annotated[
        Optional[Path], typer.Option(help="End-to-end: the folder the image paths are relative to.")
    ] = None,
    test_split: Annotated[
        Optional[str], typer.Option(help="End-to-end: the test label file (csv/jsonl) or split name.")
    ] = None,
    unlisted: Annotated[
        Optional[str],
        typer.Option(
            help="End-to-end, csv/jsonl labels: a class a line does not list is unknown or negative."
        ),
    ] = None,
    model: Annotated[Optional[str], typer.Option(help="End-to-end: resnet18|34|50|101 or timm:NAME.")] = None,
    weights: Annotated[
        Optional[str], typer.Option(help="End-to-end: none, imagenet or a state-dict file.")
    ] = None,
    width: Annotated[Optional[int], typer.Option(help="End-to-end: ResNet first-stage width.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="End-to-end: input side in pixels.")] = None,
    transforms: Annotated[
        Optional[str], typer.Option(help="End-to-end: input preset ll, robust-loss or plain.")
    ] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader workers of every run.")] = None,
    on_bad_image: Annotated[Optional[str], typer.Option(help="End-to-end: raise or skip.")] = None,
) -> None:
    """Train every (data, partial, loss, seed) with the presets; print mean +- std over seeds.

    ``--setting end-to-end`` trains image models (``partialml.engine.image_setting``); the per-dataset
    presets are tuned on features, so image runs take the training defaults and the flags instead.
    """
    import dataclasses

    from partialml.engine.compare import format_table, make_specs, run_bench, summarize

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "epochs": epochs,
            "lr": lr,
            "head": head,
            "val_labels": val_labels,
            "device": device,
            "batch_size": batch_size,
            "setting": setting,
            "format": data_format,
            "image_root": None if image_root is None else str(image_root),
            "test_split": test_split,
            "unlisted": unlisted,
            "model": model,
            "weights": weights,
            "width": width,
            "image_size": image_size,
            "transforms": transforms,
            "num_workers": num_workers,
            "on_bad_image": on_bad_image,
        }.items()
        if v is not None
    }
    specs = make_specs(
        data=data,
        partials=partial or ["single-positive"],
        methods=parse_losses(losses),
        seeds=parse_seeds(seeds),
        overrides=overrides,
    )
    if setting is not None and setting != "features":  # feature-tuned presets do not apply to images
        specs = [dataclasses.replace(s, use_presets=False) for s in specs]
    for spec in specs[:1]:  # check the overrides and names once, before any run
        from partialml.engine.compare import build_config
        from partialml.labels import parse_scheme

        build_config(spec, output_dir="unused")
    for p in partial or []:
        parse_scheme(p)
    runs_dir = output_dir if output_dir is not None else output.parent / "runs"
    total = len(specs)

    def report(rec: dict[str, Any]) -> None:
        test = rec["test_mAP"]
        typer.echo(
            f"done {rec['key']}: test mAP {'n/a' if test is None else f'{test:.2f}'} "
            f"(best epoch {rec['best_epoch']}, {rec['seconds']:.1f} s)",
            err=True,
        )

    records = run_bench(
        specs,
        output=output,
        runs_dir=runs_dir,
        jobs=jobs,
        resume=resume,
        overwrite=overwrite,
        keep_checkpoints=keep_checkpoints,
        on_record=report,
    )
    typer.echo(
        f"{len(records)} of {total} runs; mAP on a 0-100 scale, mean +- sample std over seeds; "
        "gap recovered in percent: 100 * (mAP - mAP_AN) / (mAP_full - mAP_AN)"
    )
    typer.echo(format_table(summarize(records), markdown=markdown))
    typer.echo(f"wrote {output} (one JSON record per run) and the run directories under {runs_dir}")
