"""``partialml verify-data`` (find missing or unreadable images) and ``partialml make-mosaics``
(the semi-synthetic Fashion-MNIST mosaics)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated, Optional

import typer


def verify_data_command(
    data: Annotated[str, typer.Option(help="Label file or folder of the image dataset.")],
    image_root: Annotated[Path, typer.Option(help="Folder the listed image paths are relative to.")],
    format: Annotated[
        str, typer.Option(help="Reader of --data: voc, coco, cub, nus, openimages, cole, csv or jsonl.")
    ] = "csv",
    split: Annotated[Optional[str], typer.Option(help="Split to read (default: the format's).")] = None,
    reader_arg: Annotated[
        Optional[list[str]],
        typer.Option(help="Reader option key=value (repeatable), e.g. difficult=negative."),
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option(help="Write the list of bad images to this CSV instead of stdout.")
    ] = None,
    workers: Annotated[Optional[int], typer.Option(help="Decoding threads (default min(8, cores)).")] = None,
) -> None:
    """Decode every image of a dataset and list the missing or unreadable ones (exit 2 if any)."""
    from partialml.cli.common import parse_key_values
    from partialml.data.image_labels import read_image_labels
    from partialml.data.images import find_bad_images
    from partialml.engine.checkpoint import atomic_write_text
    from partialml.errors import PartialMLError

    if not image_root.is_dir():
        raise PartialMLError(
            "--image-root: is not a folder; expected the folder of the images", path=image_root
        )
    if workers is not None and workers < 1:
        raise PartialMLError(f"--workers: got {workers}; expected at least 1")
    options = parse_key_values(reader_arg, option="--reader-arg")
    labels = read_image_labels(data, format=format, split=split, **options)  # type: ignore[arg-type]
    bad = find_bad_images(labels.paths, root=image_root, num_threads=workers)
    n = len(labels.paths)
    if output is not None or bad:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["path", "reason"])
        writer.writerows([b.path, b.reason] for b in bad)
        if output is not None:
            atomic_write_text(output, buf.getvalue())
        else:
            typer.echo(buf.getvalue(), nl=False)
    if bad:
        where = f"listed in {output}" if output is not None else "listed on stdout"
        raise PartialMLError(f"{len(bad)} of {n} images are missing or unreadable ({where})", path=data)
    typer.echo(f"all {n} images of {data} are readable", err=True)


def make_mosaics_command(
    fashion_mnist: Annotated[Path, typer.Option(help="Folder of the Fashion-MNIST IDX files (.gz or not).")],
    output: Annotated[Path, typer.Option(help="Folder to write: CSVs, images, mosaics.json.")],
    train: Annotated[int, typer.Option(help="Number of training mosaics (from the IDX train set).")] = 10_000,
    test: Annotated[int, typer.Option(help="Number of test mosaics (from t10k).")] = 2_000,
    val: Annotated[int, typer.Option(help="Number of validation mosaics (held-out train images).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the mosaics.")] = 0,
    classes: Annotated[str, typer.Option(help="distinct or repeated classes within a mosaic.")] = "distinct",
    image_format: Annotated[
        str, typer.Option(help="png (one file each) or npy (one array per split).")
    ] = "png",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --output.")] = False,
) -> None:
    """Build the semi-synthetic multi-label Fashion-MNIST mosaics (2 x 2 grids of 1 to 4 garments)."""
    from partialml.data.mosaics import write_mosaics
    from partialml.errors import PartialMLError

    if classes not in ("distinct", "repeated"):
        raise PartialMLError(f"--classes: got {classes!r}; expected distinct or repeated")
    if image_format not in ("png", "npy"):
        raise PartialMLError(f"--image-format: got {image_format!r}; expected png or npy")
    meta = write_mosaics(
        fashion_mnist,
        output,
        train=train,
        test=test,
        val=val,
        seed=seed,
        classes=classes,  # type: ignore[arg-type]
        image_format=image_format,  # type: ignore[arg-type]
        overwrite=overwrite,
    )
    splits = meta["splits"]
    assert isinstance(splits, dict)
    counts = ", ".join(f"{name} {info['count']}" for name, info in splits.items())
    typer.echo(f"wrote semi-synthetic Fashion-MNIST mosaics ({counts}) to {output}")
