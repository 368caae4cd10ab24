"""``partialml analyze``: the LL paper's analyses (memorization, selection, delta-rel, data-size, cam).

Wiring only: flags to a :class:`~partialml.engine.TrainConfig` (the same keys as ``partialml train``,
through :func:`~partialml.engine.resolve_config`), then :mod:`partialml.analysis`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from partialml.cli.common import parse_key_values

analyze_app = typer.Typer(
    name="analyze",
    help="The LL paper's analyses: memorization, selection, delta-rel, data-size, cam (pointing game).",
    no_args_is_help=True,
)

DataOpt = Annotated[
    Optional[str], typer.Option(help="Feature data: a path or a builtin name (yeast, scene).")
]
FormatOpt = Annotated[
    Optional[str], typer.Option(help="Reader of --data: auto, mulan, npz, csv, npy or cole.")
]
PartialOpt = Annotated[
    Optional[str],
    typer.Option(help="Partial labels: full, single-positive, fraction:F, fpc:N, rps:P or given."),
]
PartialSeedOpt = Annotated[Optional[int], typer.Option(help="Seed of the partial-label simulation.")]
LossArgOpt = Annotated[Optional[list[str]], typer.Option(help="Loss option key=value (repeatable).")]
ConfigOpt = Annotated[Optional[Path], typer.Option(help="YAML configuration file; flags override it.")]
EpochsOpt = Annotated[Optional[int], typer.Option(help="Number of epochs.")]
LrOpt = Annotated[Optional[float], typer.Option(help="Learning rate.")]
BatchOpt = Annotated[Optional[int], typer.Option(help="Training batch size.")]
OptimizerOpt = Annotated[Optional[str], typer.Option(help="adam, adamw or sgd.")]
WeightDecayOpt = Annotated[Optional[float], typer.Option(help="Weight decay of the head.")]
HeadOpt = Annotated[Optional[str], typer.Option(help="linear or mlp.")]
HiddenOpt = Annotated[Optional[int], typer.Option(help="Hidden width of the MLP head.")]
StandardizeOpt = Annotated[
    Optional[bool], typer.Option("--standardize/--no-standardize", help="Standardize features.")
]
ValFractionOpt = Annotated[Optional[float], typer.Option(help="Validation fraction of the training set.")]
ValLabelsOpt = Annotated[Optional[str], typer.Option(help="clean (full labels) or partial.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Run seed (init, split, batch order).")]
SeedsOpt = Annotated[str, typer.Option(help="Comma-separated run seeds, e.g. 0,1,2.")]
DeviceOpt = Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")]
OutputOpt = Annotated[Optional[str], typer.Option(help="Folder for the analysis files and its runs/.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace earlier analysis files and runs.")]
NoPlotOpt = Annotated[bool, typer.Option("--no-plot", help="Do not draw the PNG chart.")]


def _train_options() -> dict[str, Any]:
    """``partialml train``'s typer options by parameter name (one definition of each training flag)."""
    from typing import get_type_hints

    from partialml.cli.train import train_command

    hints = get_type_hints(train_command, include_extras=True)
    return {name: hint.__metadata__[0] for name, hint in hints.items() if hasattr(hint, "__metadata__")}


#: ``partialml train``'s options; memorization and selection take its image-setting flags from here.
TRAIN = _train_options()


def _config(loss: str | None, loss_arg: list[str] | None, config: Path | None, **flags: Any) -> Any:
    from partialml.engine import resolve_config

    overrides = {
        **flags,
        "loss": loss,
        "loss_args": parse_key_values(loss_arg) if loss_arg else None,
    }
    cfg = resolve_config(config_file=config, overrides=overrides)
    cfg.require_for_training()
    return cfg


@analyze_app.command("memorization")
def memorization_command(
    data: DataOpt = None,
    format: FormatOpt = None,
    partial: PartialOpt = None,
    partial_seed: PartialSeedOpt = None,
    loss: Annotated[
        str, typer.Option(help="Loss to train with (default AN, the LL paper's setting).")
    ] = "an",
    loss_arg: LossArgOpt = None,
    config: ConfigOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    optimizer: OptimizerOpt = None,
    weight_decay: WeightDecayOpt = None,
    head: HeadOpt = None,
    hidden_dim: HiddenOpt = None,
    standardize: StandardizeOpt = None,
    val_fraction: ValFractionOpt = None,
    val_labels: ValLabelsOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    setting: Annotated[Optional[str], TRAIN["setting"]] = None,
    image_root: Annotated[Optional[str], TRAIN["image_root"]] = None,
    test_split: Annotated[Optional[str], TRAIN["test_split"]] = None,
    model: Annotated[Optional[str], TRAIN["model"]] = None,
    weights: Annotated[Optional[str], TRAIN["weights"]] = None,
    width: Annotated[Optional[int], TRAIN["width"]] = None,
    image_size: Annotated[Optional[int], TRAIN["image_size"]] = None,
    transforms: Annotated[Optional[str], TRAIN["transforms"]] = None,
    max_entries: Annotated[
        int, typer.Option(help="Record at most this many (sample, class) entries (a seeded sample above).")
    ] = 2_000_000,
    sample_seed: Annotated[int, typer.Option(help="Seed of the entry sample.")] = 0,
    output_dir: OutputOpt = None,
    overwrite: OverwriteOpt = False,
    no_plot: NoPlotOpt = False,
) -> None:
    """Per-entry loss history, the LL paper's Table 1 and the loss curves of clean vs false negatives."""
    from partialml.analysis.memorization import run_memorization

    cfg = _config(
        loss, loss_arg, config, data=data, format=format, partial=partial, partial_seed=partial_seed,
        epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, weight_decay=weight_decay,
        head=head, hidden_dim=hidden_dim, standardize=standardize, val_fraction=val_fraction,
        val_labels=val_labels, seed=seed, device=device, output_dir=output_dir, setting=setting,
        image_root=image_root, test_split=test_split, model=model, weights=weights, width=width,
        image_size=image_size, transforms=transforms,
    )  # fmt: skip
    result = run_memorization(
        cfg,
        output_dir=cfg.output_dir,
        max_entries=max_entries,
        sample_seed=sample_seed,
        overwrite=overwrite,
        plot=not no_plot,
    )
    for group, row in result["table1"].items():
        share = row["share_warmup"]
        shown = "n/a" if share is None else f"{100 * share:.1f} %"
        typer.echo(f"{group}: {row['count']} entries, highest loss in the warm-up epoch: {shown}")
    typer.echo(f"wrote {cfg.output_dir}: memorization.json, memorization_curves.csv, memorization.png")


@analyze_app.command("selection")
def selection_command(
    data: DataOpt = None,
    format: FormatOpt = None,
    partial: PartialOpt = None,
    partial_seed: PartialSeedOpt = None,
    loss: Annotated[str, typer.Option(help="ll-r, ll-ct, ll-cp or a comma-separated list of them.")] = "ll-r",
    loss_arg: LossArgOpt = None,
    config: ConfigOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    optimizer: OptimizerOpt = None,
    weight_decay: WeightDecayOpt = None,
    head: HeadOpt = None,
    hidden_dim: HiddenOpt = None,
    standardize: StandardizeOpt = None,
    val_fraction: ValFractionOpt = None,
    val_labels: ValLabelsOpt = None,
    seeds: SeedsOpt = "0",
    device: DeviceOpt = None,
    setting: Annotated[Optional[str], TRAIN["setting"]] = None,
    image_root: Annotated[Optional[str], TRAIN["image_root"]] = None,
    test_split: Annotated[Optional[str], TRAIN["test_split"]] = None,
    model: Annotated[Optional[str], TRAIN["model"]] = None,
    weights: Annotated[Optional[str], TRAIN["weights"]] = None,
    width: Annotated[Optional[int], TRAIN["width"]] = None,
    image_size: Annotated[Optional[int], TRAIN["image_size"]] = None,
    transforms: Annotated[Optional[str], TRAIN["transforms"]] = None,
    output_dir: OutputOpt = None,
    overwrite: OverwriteOpt = False,
    no_plot: NoPlotOpt = False,
) -> None:
    """Precision and recall of the large-loss selection per epoch (one run per loss and seed)."""
    from partialml.analysis.selection import run_selection
    from partialml.analysis.sweeps import parse_int_list

    losses = [part.strip() for part in loss.split(",") if part.strip()]
    seed_list = parse_int_list(seeds, option="--seeds")
    cfg = _config(
        losses[0] if losses else None, loss_arg, config, data=data, format=format, partial=partial,
        partial_seed=partial_seed, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
        weight_decay=weight_decay, head=head, hidden_dim=hidden_dim, standardize=standardize,
        val_fraction=val_fraction, val_labels=val_labels, seed=seed_list[0], device=device,
        output_dir=output_dir, setting=setting, image_root=image_root, test_split=test_split, model=model,
        weights=weights, width=width, image_size=image_size, transforms=transforms,
    )  # fmt: skip
    result = run_selection(
        cfg, losses=losses, seeds=seed_list, output_dir=cfg.output_dir, overwrite=overwrite, plot=not no_plot
    )
    for row in result["summary"]:
        if row["precision_mean"] is not None:
            typer.echo(
                f"{row['loss']} epoch {row['epoch']}: precision {100 * row['precision_mean']:.1f} %, "
                f"recall {100 * (row['recall_mean'] or 0.0):.1f} %"
            )
    typer.echo(f"wrote {cfg.output_dir}: selection.csv, selection.json, selection.png")


@analyze_app.command("delta-rel")
def delta_rel_command(
    data: DataOpt = None,
    format: FormatOpt = None,
    partial: PartialOpt = None,
    partial_seed: PartialSeedOpt = None,
    loss: Annotated[str, typer.Option(help="ll-r, ll-ct or ll-cp.")] = "ll-r",
    loss_arg: LossArgOpt = None,
    values: Annotated[
        str, typer.Option(help="Comma-separated delta_rel fractions (0.002 = 0.2 %).")
    ] = "0,0.001,0.002,0.005,0.01",
    seeds: SeedsOpt = "0,1,2",
    config: ConfigOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    optimizer: OptimizerOpt = None,
    weight_decay: WeightDecayOpt = None,
    head: HeadOpt = None,
    hidden_dim: HiddenOpt = None,
    standardize: StandardizeOpt = None,
    val_fraction: ValFractionOpt = None,
    val_labels: ValLabelsOpt = None,
    device: DeviceOpt = None,
    output_dir: OutputOpt = None,
    overwrite: OverwriteOpt = False,
    no_plot: NoPlotOpt = False,
) -> None:
    """Test and validation mAP against delta_rel (mean +- std over seeds)."""
    from partialml.analysis.sweeps import parse_float_list, parse_int_list, run_delta_rel

    value_list = parse_float_list(values, option="--values", low=0.0, high=1.0)
    seed_list = parse_int_list(seeds, option="--seeds")
    cfg = _config(
        loss, loss_arg, config, data=data, format=format, partial=partial, partial_seed=partial_seed,
        epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, weight_decay=weight_decay,
        head=head, hidden_dim=hidden_dim, standardize=standardize, val_fraction=val_fraction,
        val_labels=val_labels, device=device, output_dir=output_dir,
    )  # fmt: skip
    result = run_delta_rel(
        cfg,
        values=value_list,
        seeds=seed_list,
        output_dir=cfg.output_dir,
        overwrite=overwrite,
        plot=not no_plot,
    )
    _echo_summary(result["summary"], "delta_rel")
    typer.echo(f"wrote {cfg.output_dir}: delta_rel.csv, delta_rel_summary.csv, delta_rel.json, delta_rel.png")


@analyze_app.command("data-size")
def data_size_command(
    data: DataOpt = None,
    format: FormatOpt = None,
    partial: PartialOpt = None,
    partial_seed: PartialSeedOpt = None,
    losses: Annotated[str, typer.Option(help="Comma-separated losses to compare.")] = "an,ll-r",
    loss_arg: LossArgOpt = None,
    fractions: Annotated[
        str, typer.Option(help="Comma-separated shares of the training file in (0, 1].")
    ] = "0.1,0.25,0.5,1.0",
    seeds: SeedsOpt = "0,1,2",
    config: ConfigOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    optimizer: OptimizerOpt = None,
    weight_decay: WeightDecayOpt = None,
    head: HeadOpt = None,
    hidden_dim: HiddenOpt = None,
    standardize: StandardizeOpt = None,
    val_fraction: ValFractionOpt = None,
    val_labels: ValLabelsOpt = None,
    device: DeviceOpt = None,
    output_dir: OutputOpt = None,
    overwrite: OverwriteOpt = False,
    no_plot: NoPlotOpt = False,
) -> None:
    """mAP against the share of training samples used (seeded, nested subsamples), per loss."""
    from partialml.analysis.sweeps import parse_float_list, parse_int_list, run_data_size

    fraction_list = parse_float_list(fractions, option="--fractions", low=0.0, high=1.0, low_open=True)
    seed_list = parse_int_list(seeds, option="--seeds")
    loss_list = [part.strip() for part in losses.split(",") if part.strip()]
    cfg = _config(
        loss_list[0] if loss_list else None, loss_arg, config, data=data, format=format, partial=partial,
        partial_seed=partial_seed, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
        weight_decay=weight_decay, head=head, hidden_dim=hidden_dim, standardize=standardize,
        val_fraction=val_fraction, val_labels=val_labels, device=device, output_dir=output_dir,
    )  # fmt: skip
    result = run_data_size(
        cfg,
        fractions=fraction_list,
        seeds=seed_list,
        losses=loss_list,
        output_dir=cfg.output_dir,
        overwrite=overwrite,
        plot=not no_plot,
    )
    _echo_summary(result["summary"], "fraction")
    typer.echo(f"wrote {cfg.output_dir}: data_size.csv, data_size_summary.csv, data_size.json, data_size.png")


def _echo_summary(summary: list[dict[str, Any]], x: str) -> None:
    def fmt(mean: float | None, std: float | None) -> str:
        return "n/a" if mean is None else f"{mean:.2f} +- {std or 0.0:.2f}"

    for row in summary:
        typer.echo(
            f"{row['loss']} {x}={row[x]:g}: test mAP {fmt(row['test_mAP_mean'], row['test_mAP_std'])}, "
            f"val mAP {fmt(row['val_mAP_mean'], row['val_mAP_std'])} ({row['seeds']} seeds)"
        )


@analyze_app.command("cam")
def cam_command(
    run: Annotated[Path, typer.Option(help="Run directory of an image model (end-to-end or linear-init).")],
    boxes: Annotated[
        Path,
        typer.Option(help="Boxes: a VOC devkit folder (or Annotations/), a COCO instances JSON or a CSV."),
    ],
    box_format: Annotated[str, typer.Option(help="voc, coco or csv (path,class,x0,y0,x1,y1).")],
    output_dir: Annotated[Path, typer.Option(help="Folder for pointing_game.json/.csv and the PNG.")],
    data: Annotated[
        Optional[str],
        typer.Option(help="Image label file or dataset folder (default: the run's test split)."),
    ] = None,
    format: Annotated[str, typer.Option(help="Label format of --data (auto: extension).")] = "auto",
    image_root: Annotated[
        Optional[str], typer.Option(help="Folder the image paths of --data are relative to.")
    ] = None,
    split: Annotated[str, typer.Option(help="train or test (dataset folders).")] = "test",
    tolerance: Annotated[
        float, typer.Option(help="Hit distance to a box, pixels of the model input (original protocol: 15).")
    ] = 15.0,
    examples: Annotated[int, typer.Option(help="Images drawn in cam_examples.png (0: none).")] = 8,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    overwrite: OverwriteOpt = False,
) -> None:
    """Pointing game of the run's class activation maps on a split with object boxes (Zhang et al. 2016)."""
    from partialml.analysis.cam import run_pointing_game
    from partialml.errors import PartialMLError

    if box_format not in ("voc", "coco", "csv"):
        raise PartialMLError(f"--box-format: got {box_format!r}; expected voc, coco or csv")
    if checkpoint not in ("best", "last"):
        raise PartialMLError(f"--checkpoint: got {checkpoint!r}; expected best or last")
    if batch_size < 1:
        raise PartialMLError(f"--batch-size: got {batch_size}; expected an integer >= 1")
    result = run_pointing_game(
        run,
        boxes=boxes,
        box_format=box_format,  # type: ignore[arg-type]
        output_dir=output_dir,
        data=data,
        format=format,
        image_root=image_root,
        split=split,  # type: ignore[arg-type]
        tolerance=tolerance,
        examples=examples,
        checkpoint=checkpoint,  # type: ignore[arg-type]
        device=device,
        batch_size=batch_size,
        overwrite=overwrite,
    )
    typer.echo(
        f"pointing game ({result['pairs']} image x class pairs, tolerance {tolerance:g} px): mean over "
        f"classes {100 * result['mean_class_accuracy']:.1f} %, overall {100 * result['overall_accuracy']:.1f} %"
    )
    for path in result["written"]:
        typer.echo(f"wrote {path}")
