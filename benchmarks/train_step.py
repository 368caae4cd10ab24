"""GPU train-step images per second: AMP + channels_last against float32 (issue #4, "Speed").

Protocol (CUDA only; without a CUDA device :func:`run` returns one ``skipped`` row at once: the CPU input
pipeline is measured by :mod:`benchmarks.input_pipeline`, and a CPU train step is not what the issue asks):

- Model, optimizer, loss: the LL recipe (:data:`partialml.engine.image_setting.RECIPES` ``"ll"``: ResNet-50,
  448 x 448, Adam, lr 1e-5, head 10x, no weight decay, ``ll`` transforms) with **random init** (``weights``
  none: nothing is downloaded), batch 32, loss ``an`` on single-positive int8 labels (20 classes, VOC's count;
  :func:`partialml.labels.single_positive` of generated full labels). ``quick``: ResNet-18, 224 x 224,
  batch 16. Everything is built through the trainer's own code: ``TrainConfig`` ->
  :func:`~partialml.engine.image_setting.build_image_model` (autocast dtype inside the model's forward,
  channels_last on the model), :func:`~partialml.engine.trainer.build_loss`,
  :func:`~partialml.engine.trainer.build_optimizer` with
  :func:`~partialml.engine.image_setting.image_param_groups`, a ``GradScaler`` for fp16 as the
  ``ImageTrainer`` makes it, and the step is :func:`~partialml.engine.trainer.train_one_epoch` over one
  batch (forward, loss, the loss's finiteness check, backward, optimizer step; scaler when fp16) followed
  by ``torch.cuda.synchronize``.
- Input: one batch of generated 500 x 375 JPEGs (:func:`benchmarks.input_pipeline._write_jpegs`) decoded
  once by the training dataset (:func:`~partialml.engine.image_setting.build_image_dataset`, training
  transforms) and moved to the GPU in the variant's memory format (as ``ImageBatches`` does); the timed
  steps reuse it, so the numbers are the GPU step alone, not the input pipeline.
- Variants: ``fp32`` (``amp off``, channels-first: the original recipe) and ``amp`` (``bf16`` autocast +
  channels_last; ``fp16`` + GradScaler where the GPU has no bf16). Both live on the GPU at once; each is
  warmed up after it is built, then both are timed in interleaved rounds
  (:func:`benchmarks.timing.interleaved_ratios`: AMP block, fp32 block, AMP block per round).
  Images/s = batch / median seconds per step over rounds; the speed-up is fp32 seconds / AMP seconds
  (their medians, so it equals the ratio of the two images/s rows); the notes give the per-round range.
  No goal: the issue states none.
- Peak GPU memory of each variant: ``torch.cuda.max_memory_allocated`` during its build and warm-up minus
  the memory allocated before it was built (so the other variant's tensors do not count): weights, Adam
  state, gradients, the batch and the activations of one step.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

NUM_CLASSES = 20  # VOC's


def _skip_row() -> dict[str, Any]:
    return {
        "benchmark": "train_step",
        "metric": "skipped",
        "value": "no CUDA device",
        "unit": "",
        "goal": "",
        "passed": None,
        "notes": "GPU train step (AMP + channels_last vs fp32) needs CUDA",
    }


def _config(*, quick: bool, amp: str, channels_last: bool) -> Any:
    """The LL recipe with random init, loss ``an`` and the variant's ``amp`` / ``channels_last``."""
    from partialml.engine.config import TrainConfig
    from partialml.engine.image_setting import recipe_values

    values: dict[str, Any] = {
        **recipe_values("ll"),
        "weights": "none",
        "loss": "an",
        "batch_size": 32,
        "amp": amp,
        "channels_last": channels_last,
        "device": "cuda",
    }
    if quick:
        values.update(model="resnet18", image_size=224, batch_size=16)
    return TrainConfig().updated(values)


def _decoded_batch(config: Any) -> torch.Tensor:
    """``(B, 3, S, S)`` float32 on the CPU: generated JPEGs through the training dataset's transforms."""
    from benchmarks.input_pipeline import _write_jpegs
    from partialml.engine.image_setting import build_image_dataset

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points to torchcodec
        folder = Path(tmp)
        names = _write_jpegs(folder, config.batch_size)
        dataset = build_image_dataset(names, root=folder, config=config, train=True)
        return torch.stack([dataset[i][0] for i in range(len(names))])


def _labels(n: int, seed: int = 0) -> Any:
    """A LabelStore of single-positive int8 labels (Cole's protocol) from generated full labels."""
    from partialml.labels import LabelStore, single_positive

    rng = np.random.default_rng(seed)
    full = (rng.random((n, NUM_CLASSES)) < 0.15).astype(np.int8)
    full[np.arange(n), rng.integers(0, NUM_CLASSES, n)] = 1  # every image has a positive
    return LabelStore.from_dense(single_positive(full))


@dataclass
class _Variant:
    """One model + loss + optimizer (+ scaler) and its batch on the GPU; :meth:`step` is one train step."""

    config: Any
    model: Any
    loss: Any
    optimizer: torch.optim.Optimizer
    scaler: Any
    batch: list[tuple[torch.Tensor, torch.Tensor]]
    store: Any
    device: torch.device
    peak_bytes: int = 0

    @classmethod
    def build(cls, config: Any, x: torch.Tensor, store: Any, device: torch.device, warmup: int) -> _Variant:
        from partialml.engine.image_setting import build_image_model, image_param_groups
        from partialml.engine.trainer import build_loss, build_optimizer

        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        torch.manual_seed(0)
        model = build_image_model(config, num_classes=NUM_CLASSES, device=device)
        loss = build_loss(config, store).to(device)
        optimizer = build_optimizer(config, model, loss, groups=image_param_groups(config, model))
        scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None  # as ImageTrainer.setup
        fmt = torch.channels_last if config.channels_last else torch.contiguous_format
        positions = torch.arange(x.shape[0])
        batch = [(x.to(device, memory_format=fmt), positions)]
        variant = cls(config, model, loss, optimizer, scaler, batch, store, device)
        for _ in range(warmup):
            variant.step()
        variant.peak_bytes = torch.cuda.max_memory_allocated(device) - before
        return variant

    def step(self) -> None:
        from partialml.engine.trainer import train_one_epoch

        train_one_epoch(
            self.model, self.loss, self.optimizer, self.batch, self.store, epoch=0, scaler=self.scaler
        )
        torch.cuda.synchronize(self.device)


def _row(metric: str, value: Any, unit: str, notes: str) -> dict[str, Any]:
    return {
        "benchmark": "train_step",
        "metric": metric,
        "value": value,
        "unit": unit,
        "goal": "",
        "passed": None,
        "notes": notes,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    if not torch.cuda.is_available():
        return [_skip_row()]
    from benchmarks.timing import interleaved_ratios

    device = torch.device("cuda")
    amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    rounds, min_block_s, warmup = (3, 0.05, 2) if quick else (10, 0.5, 5)
    fp32_config = _config(quick=quick, amp="off", channels_last=False)
    amp_config = _config(quick=quick, amp=amp, channels_last=True)
    x = _decoded_batch(fp32_config)  # the transforms do not depend on amp / channels_last
    store = _labels(x.shape[0])
    fp32 = _Variant.build(fp32_config, x, store, device, warmup)
    fast = _Variant.build(amp_config, x, store, device, warmup)
    stats = interleaved_ratios(fp32.step, fast.step, rounds=rounds, min_block_s=min_block_s, warmup=1)
    batch = int(x.shape[0])
    fp32_ips, amp_ips = batch / stats.candidate_s, batch / stats.baseline_s
    gpu = (
        f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, "
        f"cuDNN {torch.backends.cudnn.version()}, torch {torch.__version__}"
    )
    setup = (
        f"{fp32_config.model} random init, {fp32_config.image_size}x{fp32_config.image_size}, batch {batch}, "
        f"loss an, Adam; {gpu}"
    )
    timing = f"median of {rounds} interleaved rounds" + (
        "; fp16 with GradScaler (no bf16)" if amp == "fp16" else ""
    )
    mib = 2.0**20
    peak_note = "max_memory_allocated over build + warm-up, minus what was allocated before"
    return [
        _row("fp32 train step (channels-first)", fp32_ips, "images/s", f"{setup}; {timing}"),
        _row(f"{amp} AMP + channels_last train step", amp_ips, "images/s", f"{setup}; {timing}"),
        _row(
            f"speed-up of {amp} + channels_last over fp32",
            stats.candidate_s / stats.baseline_s,
            "x",
            f"fp32 s/step / AMP s/step; per-round range {stats.low:.2f}-{stats.high:.2f}",
        ),
        _row("peak GPU memory, fp32", fp32.peak_bytes / mib, "MiB", peak_note),
        _row(f"peak GPU memory, {amp} + channels_last", fast.peak_bytes / mib, "MiB", peak_note),
    ]


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv[1:]):
        print(row)
