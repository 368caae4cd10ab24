"""``partialml train``: flags to a :class:`~partialml.engine.TrainConfig`, then the trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from partialml.cli.common import parse_key_values


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def train_command(
    data: Annotated[
        Optional[str],
        typer.Option(help="Feature data (a path or builtin name), or image labels (end-to-end)."),
    ] = None,
    format: Annotated[
        Optional[str], typer.Option(help="Reader of --data: auto, mulan, npz, csv, npy or cole.")
    ] = None,
    partial: Annotated[
        Optional[str],
        typer.Option(help="Partial labels: full, single-positive, fraction:F, fpc:N, rps:P or given."),
    ] = None,
    partial_seed: Annotated[Optional[int], typer.Option(help="Seed of the partial-label simulation.")] = None,
    loss: Annotated[Optional[str], typer.Option(help="Loss name (see `partialml losses`).")] = None,
    loss_arg: Annotated[
        Optional[list[str]], typer.Option(help="Loss option key=value (repeatable), e.g. delta_rel=0.002.")
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option(help="YAML configuration file; flags override it.")
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Number of epochs.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Training batch size.")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adam, adamw or sgd.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Weight decay of the head.")] = None,
    momentum: Annotated[Optional[float], typer.Option(help="SGD momentum.")] = None,
    head: Annotated[Optional[str], typer.Option(help="linear or mlp.")] = None,
    hidden_dim: Annotated[Optional[int], typer.Option(help="Hidden width of the MLP head.")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Dropout of the MLP head.")] = None,
    standardize: Annotated[
        Optional[bool],
        typer.Option(
            "--standardize/--no-standardize",
            help="Standardize features with the training split's mean and std (default off; the presets of "
            "`partialml bench` turn it on).",
        ),
    ] = None,
    val_fraction: Annotated[
        Optional[float], typer.Option(help="Validation fraction of the training set.")
    ] = None,
    val_labels: Annotated[Optional[str], typer.Option(help="clean (full labels) or partial.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Run seed (init, split, batch order).")] = None,
    early_stop_drop: Annotated[
        Optional[float], typer.Option(help="Stop when val mAP falls this many points below the best (LL: 3).")
    ] = None,
    head_lr_mult: Annotated[
        Optional[float], typer.Option(help="Learning-rate multiplier of the head.")
    ] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="Batch-reading worker processes.")] = None,
    eval_batch_size: Annotated[Optional[int], typer.Option(help="Batch size of scoring passes.")] = None,
    output_dir: Annotated[Optional[str], typer.Option(help="Run directory to write.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run in --output-dir.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --output-dir.")] = False,
    empty_class: Annotated[
        Optional[str], typer.Option(help="mAP policy for classes without positives.")
    ] = None,
    tensorboard: Annotated[
        Optional[bool], typer.Option("--tensorboard/--no-tensorboard", help="Write TensorBoard scalars.")
    ] = None,
    nan_policy: Annotated[
        Optional[str], typer.Option(help="On a NaN/inf loss: stop (exit 1) or skip the batch.")
    ] = None,
    nan_budget: Annotated[
        Optional[int], typer.Option(help="With --nan-policy skip: most batches skipped before stopping.")
    ] = None,
    long_tail: Annotated[
        Optional[str],
        typer.Option(help="Long-tail cut of the training split: pareto[:ALPHA][,max=N,min=N,seed=N]."),
    ] = None,
    sampler: Annotated[
        Optional[str], typer.Option(help="uniform, class-aware or db (re-balanced sampling).")
    ] = None,
    group_scale: Annotated[
        Optional[float], typer.Option(help="Scale of the head/medium/tail thresholds (100, 20).")
    ] = None,
    setting: Annotated[
        Optional[str],
        typer.Option(help="features (a head on features), end-to-end (images) or linear-init (both)."),
    ] = None,
    init_epochs: Annotated[
        Optional[int], typer.Option(help="linear-init: epochs of the linear phase (25, Cole's).")
    ] = None,
    recipe: Annotated[
        Optional[str], typer.Option(help="Preset of a paper's recipe: ll (flags and --config override it).")
    ] = None,
    image_root: Annotated[
        Optional[str], typer.Option(help="end-to-end: folder the image paths are relative to.")
    ] = None,
    model: Annotated[Optional[str], typer.Option(help="end-to-end: resnet18/34/50/101 or timm:NAME.")] = None,
    weights: Annotated[
        Optional[str], typer.Option(help="end-to-end: a local state-dict file, imagenet (download) or none.")
    ] = None,
    width: Annotated[Optional[int], typer.Option(help="end-to-end: first-stage width of the ResNet.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="end-to-end: input side in pixels.")] = None,
    transforms: Annotated[
        Optional[str], typer.Option(help="end-to-end: input preset ll, robust-loss or plain.")
    ] = None,
    amp: Annotated[Optional[str], typer.Option(help="end-to-end: off, bf16 or fp16 (CUDA only).")] = None,
    channels_last: Annotated[
        Optional[bool],
        typer.Option("--channels-last/--no-channels-last", help="end-to-end: channels-last memory (CUDA)."),
    ] = None,
    on_bad_image: Annotated[
        Optional[str], typer.Option(help="end-to-end: an unreadable image: raise or skip.")
    ] = None,
    boost_alpha: Annotated[
        Optional[float], typer.Option(help="end-to-end, --head cam: BoostLU's boost (5; 1 = none).")
    ] = None,
    test_split: Annotated[
        Optional[str],
        typer.Option(help="end-to-end: test split name, a csv/jsonl label file, or none."),
    ] = None,
    unlisted: Annotated[
        Optional[str],
        typer.Option(
            help="end-to-end, csv/jsonl labels: a class a line does not list is unknown or negative "
            "(a file of complete positives, for the simulated schemes); default unknown."
        ),
    ] = None,
    ll_topk: Annotated[
        Optional[str],
        typer.Option(help="torchrun: LL top-k per rank (rank, the original's) or over the global batch."),
    ] = None,
    progress: Annotated[
        Optional[bool],
        typer.Option("--progress/--no-progress", help="Progress bars (default: on a terminal)."),
    ] = None,
) -> None:
    """Train a classifier from incomplete labels (features or end-to-end on images); write a run directory."""
    from partialml.engine import Trainer, resolve_config

    overrides: dict[str, Any] = {
        "data": data,
        "format": format,
        "partial": partial,
        "partial_seed": partial_seed,
        "loss": loss,
        "loss_args": parse_key_values(loss_arg) if loss_arg else None,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "momentum": momentum,
        "head": head,
        "hidden_dim": hidden_dim,
        "dropout": dropout,
        "standardize": standardize,
        "val_fraction": val_fraction,
        "val_labels": val_labels,
        "seed": seed,
        "early_stop_drop": early_stop_drop,
        "head_lr_mult": head_lr_mult,
        "device": device,
        "num_workers": num_workers,
        "eval_batch_size": eval_batch_size,
        "output_dir": output_dir,
        "overwrite": overwrite or None,
        "resume": resume or None,
        "empty_class": empty_class,
        "tensorboard": tensorboard,
        "long_tail": long_tail,
        "sampler": sampler,
        "group_scale": group_scale,
        "nan_policy": nan_policy,
        "nan_budget": nan_budget,
    }
    overrides.update(
        {
            "setting": setting,
            "recipe": recipe,
            "image_root": image_root,
            "model": model,
            "weights": weights,
            "width": width,
            "image_size": image_size,
            "transforms": transforms,
            "amp": amp,
            "channels_last": channels_last,
            "on_bad_image": on_bad_image,
            "boost_alpha": boost_alpha,
            "test_split": test_split,
            "unlisted": unlisted,
            "ll_topk": ll_topk,
            "init_epochs": init_epochs,
        }
    )
    cfg = resolve_config(config_file=config, overrides=overrides)
    result = Trainer(cfg, show_progress=progress).fit()  # dispatches on cfg.setting
    from partialml.engine.distributed import is_main, teardown

    main = is_main()
    teardown()  # leave the torchrun process group (no-op in one process)
    if not main:
        return  # rank 0 reports
    m = result.metrics
    val, test = m.get("val") or {}, m.get("test") or {}
    typer.echo(
        f"best epoch {m['best_epoch']} (0-indexed) of {m['epochs_run']} run"
        f"{' (stopped early)' if m['stopped_early'] else ''}; "
        f"val mAP {_fmt(val.get('mAP'))} ({val.get('labels', cfg.val_labels)} labels); "
        f"test mAP {_fmt(test.get('mAP'))}"
    )
    typer.echo(f"wrote {result.run_dir}: config.yaml, metrics.json, history.csv, log.jsonl, checkpoints/")
