"""``partialml extract-features``: pooled backbone features of images, written as an npy folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def extract_features_command(
    data: Annotated[str, typer.Option(help="Image labels: a csv/jsonl file or a dataset folder.")],
    output: Annotated[Path, typer.Option(help="Folder to write (the npy folder format).")],
    format: Annotated[
        str, typer.Option(help="csv, jsonl, voc, coco, cub, nus, openimages, cole, auto.")
    ] = "auto",
    image_root: Annotated[
        Optional[str], typer.Option(help="Folder the image paths are relative to (default: that of --data).")
    ] = None,
    model: Annotated[str, typer.Option(help="resnet18/34/50/101 or timm:NAME.")] = "resnet50",
    weights: Annotated[
        str, typer.Option(help="A local state-dict file, imagenet (download) or none.")
    ] = "none",
    width: Annotated[int, typer.Option(help="First-stage width of the ResNet (64: torchvision's).")] = 64,
    image_size: Annotated[int, typer.Option(help="Input side in pixels (448: LL's).")] = 448,
    split: Annotated[
        Optional[list[str]], typer.Option(help="train and/or test (repeat; default both, test if present).")
    ] = None,
    test_split: Annotated[
        Optional[str], typer.Option(help="The test split: a name, or a csv/jsonl label file.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
) -> None:
    """Run the backbone (eval mode, plain transforms, global average pooling) over the images and write
    {split}_features.npy, {split}_labels.npy, [{split}_observed.npy], {split}_ids.txt, class_names.txt."""
    from partialml.engine.config import TrainConfig
    from partialml.engine.extract import extract_to_folder
    from partialml.engine.image_setting import read_image_splits

    values: dict[str, Any] = {
        "setting": "end-to-end",
        "data": data,
        "format": format,
        "image_root": image_root,
        "model": model,
        "weights": None if weights.lower() == "none" else weights,
        "width": width,
        "image_size": image_size,
        "transforms": "plain",
        "device": device,
        "num_workers": num_workers,
        "test_split": test_split,
    }
    config = TrainConfig.from_mapping(values)
    splits = list(split) if split else None
    if splits is None:  # default: train, and test where there is one
        _, test = read_image_splits(config)
        splits = ["train"] if test is None else ["train", "test"]
    result = extract_to_folder(config, output, splits=splits, batch_size=batch_size)  # type: ignore[arg-type]
    counts = ", ".join(f"{k} {v}" for k, v in result.rows.items())
    typer.echo(f"wrote {result.dim}-d features ({counts} images) to {result.folder}", err=True)
