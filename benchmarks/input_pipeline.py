"""Images per second per core of the image input pipeline, against a plain PIL + torchvision.transforms one.

Protocol: ``n`` generated JPEGs of 500 x 375 (VOC's typical size; smooth colour gradients plus noise, quality
90) on disk, decoded and transformed to a normalized float ``(3, 448, 448)`` tensor, one image after another in
this process on **one thread** (``torch.set_num_threads(1)``; restored afterwards), the DataLoader's view of
one worker. Ours: :class:`partialml.data.images.ImageDataset` with ``build_transforms("ll", image_size=448,
train=True)`` (``torchvision.io`` decode to ``uint8``, v2 resize on ``uint8`` first, flip, to float,
normalize). Baseline: what the Cole/LL code does, ``PIL.Image.open(...).convert("RGB")`` then
``torchvision.transforms`` (v1) ``Resize((448, 448))``, ``RandomHorizontalFlip``, ``ToTensor``,
``Normalize``. Timing: :func:`benchmarks.timing.interleaved_ratios` (rounds of baseline / ours / baseline
passes over all images, so drift within a round cancels); the speed-up is the median over rounds of
baseline time / our time, with its range in the notes. Goal: ours >= 2x the baseline.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.timing import interleaved_ratios
from partialml.data.images import ImageDataset
from partialml.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transforms

WIDTH, HEIGHT, SIZE = 500, 375, 448


def _write_jpegs(folder: Path, n: int, seed: int = 0) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    names = []
    for i in range(n):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        base = np.stack([x / WIDTH * 255 * a, y / HEIGHT * 255 * b, (x + y) / (WIDTH + HEIGHT) * 255 * c], -1)
        noise = rng.normal(0, 12, base.shape)
        image = np.clip(base + noise, 0, 255).astype(np.uint8)
        name = f"{i:04d}.jpg"
        Image.fromarray(image).save(folder / name, "JPEG", quality=90)
        names.append(name)
    return names


def _baseline(folder: Path, names: list[str]) -> Callable[[], None]:
    from PIL import Image
    from torchvision import transforms as T

    t = T.Compose(
        [
            T.Resize((SIZE, SIZE)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        ]
    )

    def run() -> None:
        for name in names:
            with Image.open(folder / name) as im:
                out = t(im.convert("RGB"))
            assert out.shape == (3, SIZE, SIZE)

    return run


def _ours(folder: Path, names: list[str]) -> Callable[[], None]:
    ds = ImageDataset(names, root=folder, transform=build_transforms("ll", image_size=SIZE, train=True))

    def run() -> None:
        for i in range(len(ds)):
            out, _ = ds[i]
            assert out.shape == (3, SIZE, SIZE)

    return run


def run(quick: bool = False) -> list[dict[str, Any]]:
    n, rounds = (24, 3) if quick else (100, 9)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points to torchcodec
            folder = Path(tmp)
            names = _write_jpegs(folder, n)
            ours_fn, base_fn = _ours(folder, names), _baseline(folder, names)
            # one pass per block (a pass is far above the 20 ms block floor); warm-up: page cache, imports
            stats = interleaved_ratios(ours_fn, base_fn, rounds=rounds, min_block_s=0.0, warmup=1)
    finally:
        torch.set_num_threads(threads)
    ours_ips, base_ips = n / stats.candidate_s, n / stats.baseline_s
    ratio = 1.0 / stats.median
    note = f"{n} JPEGs {WIDTH}x{HEIGHT} -> {SIZE}x{SIZE}, 1 thread, median of {rounds} interleaved rounds"
    rows: list[dict[str, Any]] = [
        {
            "benchmark": "input_pipeline",
            "metric": "ours (torchvision.io + v2, uint8 resize first)",
            "value": ours_ips,
            "unit": "images/s/core",
            "goal": "",
            "passed": None,
            "notes": note,
        },
        {
            "benchmark": "input_pipeline",
            "metric": "baseline (PIL + transforms v1)",
            "value": base_ips,
            "unit": "images/s/core",
            "goal": "",
            "passed": None,
            "notes": note,
        },
        {
            "benchmark": "input_pipeline",
            "metric": "speed-up over the baseline",
            "value": ratio,
            "unit": "x",
            "goal": ">= 2x",
            "passed": bool(ratio >= 2.0),
            "notes": f"median of {rounds} rounds of baseline / ours / baseline time, "
            f"range {1.0 / stats.high:.2f}-{1.0 / stats.low:.2f}",
        },
    ]
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
