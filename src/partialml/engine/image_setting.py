"""The ``end-to-end`` setting: a backbone and a head trained on images (the papers' main setting).

Everything that differs from the ``features`` setting is here: the image data, the loaders, the model,
AMP and channels_last, and the optimizer's two groups. The rest (LabelStore, partial-label scheme,
seeded validation split, losses, run directory, atomic checkpoints, resume, early stop, metrics.json) is
the :class:`~partialml.engine.trainer.Trainer`'s, unchanged: :class:`ImageTrainer` subclasses it and
``Trainer(config)`` returns an :class:`ImageTrainer` when ``config.setting == "end-to-end"``.

Data. ``--data`` is a label file (``csv``, ``jsonl``) or a dataset folder (``voc``, ``coco``, ``cub``,
``nus``, ``openimages``, ``cole``), read by :func:`partialml.data.read_image_labels`; image paths are
relative to ``--image-root`` (default: the folder of ``--data``, or ``--data`` itself for a folder). The
test split (:data:`DEFAULT_TEST_SPLITS`, ``--test-split``) is scored with its labels at the best epoch.
The training split goes through the features setting's own :func:`~partialml.engine.trainer.prepare_data`
(partial scheme, long-tail cut, validation split, validation labels), handed a one-column "feature" that
holds each image's row number, so that the rows it keeps map back to the images exactly.

Loaders (:class:`ImageBatches`). Batches are ``(x, positions)``: ``x`` float ``(B, 3, S, S)`` on the
device (channels_last when asked, on CUDA), ``positions`` long ``(B,)`` on the CPU, the LabelStore
indices. The batch order is one ``torch.randperm`` per epoch from the trainer's seeded generator, which
also draws an epoch seed; image ``i`` of the epoch is transformed under ``torch.manual_seed(epoch_seed +
position)`` inside ``torch.random.fork_rng`` (the global RNG is left as it was). The random augmentation of
an image therefore depends on ``(run seed, epoch, sample)`` only, not on the worker that reads it nor on
how many images were read before: a resumed run (at an epoch boundary or inside an epoch) and a run with
another ``--num-workers`` see the same images. DataLoader worker processes (``--num-workers``) with pinned
memory (CUDA) and persistent workers. ``--on-bad-image skip``: images the dataset flags as unreadable
(``ImageDataset.is_bad``) are dropped from their batch (training: from the loss; scoring: they score 0)
and listed in ``metrics.json`` (``skipped_images``, ``bad_images``).

Model. :func:`build_image_model`: :func:`~partialml.models.backbones.build_backbone` then a
:class:`~partialml.models.image_heads.GAPLinearHead` (``--head linear``) or the BoostLU
:class:`~partialml.models.image_heads.CAMHead` (``--head cam --boost-alpha A``). AMP (``--amp bf16|fp16``:
``torch.autocast`` in the model's forward, a ``GradScaler`` for fp16) and channels_last take effect on CUDA
only; on CPU they are ignored and ``metrics.json``'s protocol says what was used.

Optimizer (:func:`image_param_groups`): group ``backbone`` at ``lr``, group ``head`` at
``lr * head_lr_mult`` (LL: 10x; Kim et al. CVPR 2022, ``lr_mult = 10``), plus the loss's own groups
(ROLE's estimates), through the trainer's :func:`~partialml.engine.trainer.build_optimizer`.

Long tail (docs/long-tail.md). ``--long-tail`` is applied by ``prepare_data`` as in the features setting.
``--sampler class-aware|db`` and the dual-branch losses (``--loss ltml|ltml-llr``) take their batch
sources from the features setting's :func:`~partialml.engine.dual_branch.build_training_batches`, here
with :class:`ImageBatches` reading the sampler's draws (``sampler=``), and the dual-branch losses train
:class:`~partialml.models.dual_branch.ImageDualBranchClassifier` (shared stages, per-branch copy of the
last stage and head) with :func:`~partialml.engine.dual_branch.train_dual_branch_epoch`.

Recipe ``--recipe ll`` (:data:`RECIPES`, from reference-methods.md 3.2): ResNet-50 with ImageNet weights,
Adam, no weight decay, backbone lr 1e-5, head 10x, batch 16, 10 epochs, 448 x 448, the ``ll`` transforms
(resize to 448 x 448, horizontal flip, ImageNet mean/std), best epoch on (clean) validation, early stop 3
points below the best. The YAML file and the flags override it.

Later work, kept possible by this layout: DDP wraps ``ImageTrainer.model`` and swaps the batch order of
:class:`ImageBatches` for a per-rank slice of the same seeded permutation (the per-sample seeds make the
augmentation rank-independent); ``extract-features`` is :func:`predict_image_scores` with the head replaced
by pooling; ``linear-init`` builds the model here and loads the features run's ``LinearHead`` weights into
``GAPLinearHead.fc`` (same names and shapes) before the first epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from partialml.engine.loaders import rank_batches
from partialml.errors import PartialMLError

if TYPE_CHECKING:
    from partialml.engine.config import TrainConfig
    from partialml.models.image_heads import ImageClassifier

#: Image-label formats of the end-to-end setting (``--format``).
IMAGE_FORMATS: tuple[str, ...] = ("csv", "jsonl", "voc", "coco", "cub", "nus", "openimages", "cole")

#: The training and test splits read for each format (``None``: the format has no splits).
DEFAULT_SPLITS: dict[str, tuple[str | None, str | None]] = {
    "voc": ("trainval", "test"),
    "coco": ("train2014", "val2014"),
    "cub": ("train", "test"),
    "nus": ("train", "test"),
    "openimages": ("train", "test"),
    "cole": ("train", "val"),  # Cole's "val" is the test set (reference-methods.md 1.1)
    "csv": (None, None),
    "jsonl": (None, None),
}

#: Training options of the recipes (``--recipe``); provenance in the module docstring.
RECIPES: dict[str, dict[str, Any]] = {
    "ll": {
        "setting": "end-to-end",
        "model": "resnet50",
        "weights": "imagenet",
        "optimizer": "adam",
        "weight_decay": 0.0,
        "lr": 1e-5,
        "head_lr_mult": 10.0,
        "batch_size": 16,
        "epochs": 10,
        "image_size": 448,
        "transforms": "ll",
        "val_labels": "clean",
        "early_stop_drop": 3.0,
        "eval_batch_size": 64,
    }
}

#: Most image rows: the row numbers travel as float32 through ``prepare_data`` (exact below 2**24).
MAX_IMAGES = 2**24


def recipe_values(name: str) -> dict[str, Any]:
    """The options of recipe ``name`` (a copy)."""
    if name not in RECIPES:
        raise PartialMLError(f"--recipe: unknown recipe {name!r}; expected one of {', '.join(RECIPES)}")
    return dict(RECIPES[name])


def check_image_options(config: TrainConfig, *, source: str | Path | None = None) -> None:
    """Checks of the end-to-end options that need no file (called by ``TrainConfig.validate``)."""
    if config.head not in ("linear", "cam"):
        raise PartialMLError(
            f"--head: got {config.head!r}; the end-to-end setting takes linear or cam", path=source
        )
    if config.format not in ("auto", *IMAGE_FORMATS):
        raise PartialMLError(
            f"--format: got {config.format!r}; the end-to-end setting reads {', '.join(IMAGE_FORMATS)}",
            path=source,
        )


def image_format(config: TrainConfig) -> str:
    """The image-label format: ``--format``, or guessed from the extension of ``--data`` (csv, jsonl)."""
    if config.format != "auto":
        return str(config.format)
    suffix = Path(str(config.data)).suffix.lower()
    if suffix in (".csv", ".jsonl"):
        return suffix[1:]
    raise PartialMLError(
        f"--format: cannot guess the format of {config.data!r}; give --format ({', '.join(IMAGE_FORMATS)})"
    )


def image_root(config: TrainConfig) -> Path:
    """``--image-root``, else the folder of ``--data`` (a file) or ``--data`` itself (a folder)."""
    if config.image_root:
        root = Path(config.image_root)
        if not root.is_dir():
            raise PartialMLError("--image-root: not a folder; expected the folder of the images", path=root)
        return root
    data = Path(str(config.data))
    return data if data.is_dir() else data.parent


def unlisted_option(config: TrainConfig, fmt: str) -> dict[str, Any]:
    """The reader option of ``--unlisted`` for ``fmt`` (empty for the default ``unknown``); refused in
    one line for a format whose files list every label."""
    if config.unlisted == "unknown":
        return {}
    if fmt not in ("csv", "jsonl"):
        raise PartialMLError(
            f"--unlisted {config.unlisted}: applies to csv / jsonl label files; the {fmt!r} format lists "
            "every label itself",
            path=config.data,
        )
    return {"unlisted": config.unlisted}


def read_image_splits(config: TrainConfig) -> tuple[Any, Any | None]:
    """The training and test :class:`~partialml.data.ImageLabelSet` (test ``None`` when there is none)."""
    from partialml.data import read_image_labels

    fmt = image_format(config)
    train_split, test_split = DEFAULT_SPLITS[fmt]
    options = unlisted_option(config, fmt)
    train = read_image_labels(str(config.data), format=cast(Any, fmt), split=train_split, **options)
    chosen = config.test_split
    if chosen is not None and chosen.lower() == "none":
        return train, None
    if fmt in ("csv", "jsonl"):
        if chosen is None:
            return train, None
        test = read_image_labels(chosen, format=cast(Any, fmt), classes=list(train.class_names), **options)
        return train, test
    try:
        test = read_image_labels(str(config.data), format=cast(Any, fmt), split=chosen or test_split)
    except PartialMLError:
        if chosen is not None:
            raise
        return train, None  # the default test split is absent: train and validate only
    if list(test.class_names) != list(train.class_names):
        raise PartialMLError(
            f"the test split's classes ({len(test.class_names)}) differ from the training split's "
            f"({len(train.class_names)}); expected the same classes in the same order",
            path=test.source,
        )
    return train, test


def _row_column(n: int) -> np.ndarray:
    if n >= MAX_IMAGES:
        raise PartialMLError(f"{n} images in one split; at most {MAX_IMAGES - 1} are supported")
    return np.arange(n, dtype=np.float32)[:, None]


@dataclass
class ImageData:
    """The image lists behind a prepared run: ``train_paths`` are the rows of ``prepared.features``
    (after any long-tail cut); ``test_paths``/``test_labels`` the test split (or ``None``)."""

    root: Path
    class_names: list[str]
    train_paths: list[str]
    test_paths: list[str] | None
    source: str


def prepare_image_data(config: TrainConfig) -> tuple[Any, ImageData]:
    """Read the labels and prepare the run through the features setting's ``prepare_data``.

    Returns ``(prepared, images)``: ``prepared`` is a :class:`~partialml.engine.trainer.PreparedData`
    whose "features" are ``(N, 1)`` image row numbers; ``images`` the paths to read.
    """
    from partialml.engine.trainer import prepare_data

    train, test = read_image_splits(config)
    full = np.asarray(train.labels, dtype=np.int8)
    observed = None if train.observed is None else np.asarray(train.observed, dtype=np.int8)
    data = SimpleNamespace(
        name=Path(str(config.data)).stem or str(config.data),
        class_names=list(train.class_names),
        train=SimpleNamespace(
            x=_row_column(len(train.paths)), labels=full, observed=observed, ids=train.paths
        ),
        test=None
        if test is None
        else SimpleNamespace(x=_row_column(len(test.paths)), labels=np.asarray(test.labels, np.int8)),
    )
    prepared = prepare_data(config, data)
    kept = torch.as_tensor(prepared.features)[:, 0].long().tolist()
    images = ImageData(
        root=image_root(config),
        class_names=list(train.class_names),
        train_paths=[train.paths[i] for i in kept],
        test_paths=None if test is None else list(test.paths),
        source=str(train.source),
    )
    return prepared, images


# -- datasets and loaders -------------------------------------------------------------------------------


def build_image_dataset(
    paths: Sequence[str], *, root: Path, config: TrainConfig, train: bool
) -> Dataset[Any]:
    """``partialml.data.images.ImageDataset`` over ``paths`` with the config's transform preset."""
    try:
        from partialml.data.images import ImageDataset
        from partialml.data.transforms import build_transforms
    except ImportError as exc:  # torchvision missing
        raise PartialMLError(
            f"the end-to-end setting needs torchvision ({exc}); pip install 'partialml[vision]'"
        ) from None
    transform = build_transforms(config.transforms, image_size=config.image_size, train=train)
    return cast(
        "Dataset[Any]",
        ImageDataset(list(paths), root=root, transform=transform, on_bad_image=config.on_bad_image),
    )


class _ItemError(str):
    """The one-line message of a :class:`PartialMLError` raised while reading an item, carried back as
    data (a DataLoader worker re-raises exceptions as a multi-line ``RuntimeError``)."""


class _SeededItems(Dataset[Any]):
    """Item ``(position, row, seed)``: ``dataset[row]`` under ``torch.manual_seed(seed)`` (forked RNG;
    ``seed < 0``: no seeding), returned as ``(image, position)``, or ``None`` for a skipped image, or an
    :class:`_ItemError` (a bad image under ``on_bad_image="raise"``: :class:`ImageBatches` raises it)."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(cast(Any, self.dataset))

    def __getitem__(self, item: tuple[int, int, int]) -> tuple[Tensor, int] | _ItemError | None:
        position, row, seed = item
        try:
            if seed >= 0:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    out = self.dataset[row]
            else:
                out = self.dataset[row]
        except PartialMLError as exc:
            return _ItemError(str(exc))
        is_bad = getattr(self.dataset, "is_bad", None)  # ImageDataset(on_bad_image="skip") flags
        if out is None or (callable(is_bad) and bool(is_bad([row])[0])):
            return None
        return out[0], position


def _collate(items: list[Any]) -> tuple[Tensor | None, Tensor, int] | _ItemError:
    """Stack the images of a batch: ``(x or None, positions, skipped)``; ``None`` items (unreadable
    images under ``on_bad_image="skip"``) are dropped and counted; the first :class:`_ItemError` is
    returned instead of a batch."""
    errors = [it for it in items if isinstance(it, _ItemError)]
    if errors:
        return errors[0]
    kept = [it for it in items if it is not None]
    positions = torch.tensor([p for _, p in kept], dtype=torch.long)
    x = torch.stack([image for image, _ in kept]) if kept else None
    return x, positions, len(items) - len(kept)


class _BatchList(Sampler[list[tuple[int, int, int]]]):
    """A batch sampler whose batches are set before each pass (so persistent workers are reused)."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int, int]]] = []

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class ImageBatches:
    """Iterate over ``(x, positions)`` batches of the images ``dataset[rows[j]]``.

    Args:
        dataset: a map-style dataset, ``dataset[i] -> (image (3, H, W), i)`` (or ``None``: skipped).
        rows: ``(n,)`` rows of ``dataset``; position ``j`` is ``rows[j]`` (the LabelStore's index).
        batch_size: images per batch (the last one may be smaller; nothing is dropped).
        shuffle: a new order each pass from ``generator``, plus per-image seeds (module docstring).
        generator: the trainer's batch-order generator (required with ``shuffle``).
        device: where ``x`` goes (pinned memory and non-blocking copies on CUDA).
        num_workers: DataLoader worker processes (persistent between passes).
        channels_last: put ``x`` in channels-last memory format.
        seed: seeds the DataLoader's own generator (worker base seeds).

    ``num_replicas`` / ``rank`` (attributes, set by the trainer under torchrun): each rank takes its
    ``torch.tensor_split`` slice of every global batch of ``batch_size * num_replicas`` positions of
    the same order (:class:`partialml.engine.loaders.FeatureBatches` does the same).
    ``skipped`` counts the images dropped as unreadable over every pass.

    ``sampler`` (:mod:`partialml.data.samplers`, the long-tail re-balanced and LTML samplers): the
    positions are the sampler's draws of the epoch (``set_epoch`` is forwarded; repetitions allowed)
    instead of a permutation. The sampler stays at one replica: under torchrun every rank draws the
    whole epoch sequence and keeps its :func:`~partialml.engine.loaders.rank_batches` slice of each
    global batch, as :class:`partialml.engine.loaders.SamplerBatches` does for features, so the ranks
    together see exactly one process's batches of the global batch size. The generator still draws the
    epoch seed, and draw ``k`` of the epoch is transformed under seed ``epoch_seed + k``, so a sample
    drawn twice gets two augmentations.
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        rows: np.ndarray | Tensor,
        *,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        channels_last: bool = False,
        seed: int = 0,
        sampler: Any = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if shuffle and generator is None:
            raise ValueError("shuffle needs a torch.Generator")
        self.rows = torch.as_tensor(
            np.asarray(rows.cpu() if isinstance(rows, Tensor) else rows), dtype=torch.long
        )
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.skipped = 0
        self.num_replicas, self.rank = 1, 0
        self.sampler = sampler
        self._batches = _BatchList()
        loader_generator = torch.Generator()
        loader_generator.manual_seed(int(seed))
        self.loader: DataLoader[Any] = DataLoader(
            _SeededItems(dataset),
            batch_sampler=self._batches,
            num_workers=int(num_workers),
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=num_workers > 0,
            generator=loader_generator,
        )

    def __len__(self) -> int:
        step = self.batch_size * self.num_replicas
        total = len(self.sampler) if self.sampler is not None else len(self.rows)
        return (total + step - 1) // step

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the sampler (no-op without one: the order comes from the generator)."""
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    @property
    def num_samples(self) -> int:
        return len(self.rows)

    def _plan(self) -> list[list[tuple[int, int, int]]]:
        n = len(self.rows)
        rows = self.rows.tolist()
        if self.sampler is not None:
            draws = torch.as_tensor(self.sampler.indices(), dtype=torch.long).tolist()
            seed = int(torch.randint(0, 2**62, (1,), generator=self.generator)) if self.shuffle else -1
            return [
                [(draws[k], rows[draws[k]], -1 if seed < 0 else (seed + k) % 2**63) for k in chunk.tolist()]
                for chunk in rank_batches(
                    torch.arange(len(draws)), self.batch_size, self.num_replicas, self.rank
                )
            ]
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator)
            epoch_seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        else:
            order, epoch_seed = torch.arange(n), -1
        return [
            [(p, rows[p], -1 if epoch_seed < 0 else (epoch_seed + p) % 2**63) for p in chunk.tolist()]
            for chunk in rank_batches(order, self.batch_size, self.num_replicas, self.rank)
        ]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        self._batches.batches = self._plan()  # drawn when iteration starts (resume redraws it)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        shape: tuple[int, ...] | None = None
        for batch in self.loader:
            if isinstance(batch, _ItemError):
                raise PartialMLError(str(batch))
            x, positions, skipped = batch
            self.skipped += skipped
            if x is None:
                if self.num_replicas == 1:
                    continue
                # under DDP an empty share of the last global batch still makes a step (matching collectives)
                x = torch.empty((0, *(shape or self._image_shape())))
            shape = tuple(x.shape[1:])
            yield x.to(self.device, non_blocking=True, memory_format=memory_format), positions

    def _image_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of this pass's images, from the first row (an empty share before any batch)."""
        item = self.loader.dataset[(0, int(self.rows[0]), -1)]
        if not isinstance(item, tuple):
            raise PartialMLError(str(item) if item is not None else "the first training image is unreadable")
        return tuple(item[0].shape)


@torch.no_grad()
def predict_image_scores(model: nn.Module, batches: ImageBatches) -> Tensor:
    """Probabilities ``sigmoid(model(x))`` ``(n, C)`` float32 on the CPU, in the order of ``batches.rows``
    (rows of unreadable, skipped images score 0); the model is in eval mode for the pass."""
    was_training = model.training
    model.eval()
    parts: list[Tensor] = []
    positions: list[Tensor] = []
    try:
        for x, pos in batches:
            parts.append(torch.sigmoid(model(x).float()).cpu())
            positions.append(pos)
    finally:
        model.train(was_training)
    if not parts:
        return torch.zeros(0, 0)
    scores = torch.cat(parts)
    out = torch.zeros(batches.num_samples, scores.shape[1])
    out[torch.cat(positions)] = scores
    return out


# -- model and optimizer --------------------------------------------------------------------------------


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``bf16``/``fp16`` on CUDA, ``None`` otherwise (``off`` or CPU)."""
    if device.type != "cuda" or config.amp == "off":
        return None
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


def build_image_model(config: TrainConfig, *, num_classes: int, device: torch.device) -> ImageClassifier:
    """Backbone (``--model --weights --width``) + head (``--head``, ``--boost-alpha``) on ``device``.

    With a dual-branch loss (``--loss ltml|ltml-llr``) the LTML two-branch model instead:
    :class:`~partialml.models.dual_branch.ImageDualBranchClassifier` (shared stages, a per-branch copy
    of the last stage and two heads of the ``--head`` kind).
    """
    from partialml.engine.dual_branch import is_dual_branch
    from partialml.models.backbones import build_backbone
    from partialml.models.dual_branch import ImageDualBranchClassifier
    from partialml.models.image_heads import ImageClassifier, build_image_head

    weights = None if config.weights in (None, "none") else config.weights
    backbone = build_backbone(config.model, weights=weights, width=config.width)

    def new_head() -> nn.Module:
        return build_image_head(
            cast(Any, config.head),
            in_channels=int(cast(Any, backbone).out_channels),
            num_classes=num_classes,
            alpha=config.boost_alpha,
        )

    dtype = amp_dtype(config, device)
    if is_dual_branch(config.loss):
        dual = ImageDualBranchClassifier(backbone, new_head(), new_head(), amp_dtype=dtype, name=config.model)
        model = cast(Any, dual.to(device))
    else:
        model = ImageClassifier(backbone, new_head(), amp_dtype=dtype).to(device)
    if config.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def image_param_groups(config: TrainConfig, model: ImageClassifier) -> list[dict[str, Any]]:
    """``backbone`` at ``lr``, ``head`` at ``lr * head_lr_mult`` (LL: 10x), both with ``weight_decay``."""
    return [
        {
            "params": [p for p in model.backbone.parameters() if p.requires_grad],
            "lr": config.lr,
            "weight_decay": config.weight_decay,
            "name": "backbone",
        },
        {
            "params": [p for p in model.head.parameters() if p.requires_grad],
            "lr": config.lr * config.head_lr_mult,
            "weight_decay": config.weight_decay,
            "name": "head",
        },
    ]


# -- the trainer ----------------------------------------------------------------------------------------

from partialml.engine.trainer import Trainer  # noqa: E402  (the trainer imports this module lazily)


class ImageTrainer(Trainer):
    """:class:`~partialml.engine.trainer.Trainer` with image data and an image model.

    Built by ``Trainer(config)`` when ``config.setting == "end-to-end"``. Attributes after
    :meth:`setup`: those of the trainer, plus ``images`` (:class:`ImageData`), ``grad_scaler`` (fp16 on
    CUDA, else ``None``) and the datasets ``train_dataset`` (training transforms), ``eval_dataset``
    (the training images with test-time transforms, for validation) and ``test_dataset``.
    """

    def setup(self) -> ImageTrainer:
        """Validate, read the labels, build datasets, model and optimizer; no file is written."""
        if self._ready:
            return self
        from partialml.engine.checkpoint import load_checkpoint
        from partialml.engine.logging import check_tensorboard_available
        from partialml.engine.run_dir import RunDir
        from partialml.engine.seeding import make_generator, seed_everything
        from partialml.engine.trainer import (
            build_label_store,
            build_loss,
            build_optimizer,
            check_loss_options,
        )
        from partialml.labels import parse_scheme

        config = self.config
        config.validate()
        config.require_for_training()
        check_loss_options(config.loss, config.loss_args)
        parse_scheme(config.partial)
        from partialml.engine.dual_branch import build_training_batches, is_dual_branch

        if is_dual_branch(config.loss) and config.setting != "end-to-end":
            raise PartialMLError(
                f"--loss {config.loss}: the two-branch LTML model trains in --setting end-to-end or "
                f"features, not {config.setting}"
            )
        if config.tensorboard:
            check_tensorboard_available()
        self.device = self._resolve_device()
        assert config.output_dir is not None
        self.run = RunDir(config.output_dir)
        self.run.check_available(overwrite=config.overwrite, resume=config.resume)
        resume_state = load_checkpoint(self.run.checkpoint("last")) if config.resume else None

        self.prepared, self.images = prepare_image_data(config)
        prepared, images = self.prepared, self.images
        self.store = build_label_store(prepared)
        seed_everything(config.seed)
        self.loss = build_loss(config, self.store).to(self.device)
        self.model = cast(
            Any, build_image_model(config, num_classes=prepared.num_classes, device=self.device)
        )
        self.optimizer = build_optimizer(
            config, self.model, self.loss, groups=image_param_groups(config, cast(Any, self.model))
        )
        self.dual_branch = is_dual_branch(config.loss)
        self.grad_scaler = (
            torch.amp.GradScaler("cuda") if config.amp == "fp16" and self.device.type == "cuda" else None
        )
        self.generator = make_generator(config.seed)
        self.train_dataset = build_image_dataset(
            images.train_paths, root=images.root, config=config, train=True
        )
        self.eval_dataset = build_image_dataset(
            images.train_paths, root=images.root, config=config, train=False
        )
        self.test_dataset = (
            None
            if images.test_paths is None
            else build_image_dataset(images.test_paths, root=images.root, config=config, train=False)
        )
        if config.on_bad_image == "raise":  # before anything is written (docs/reliability.md)
            self._check_images()
        self.features = cast(Any, self.eval_dataset)  # what the trainer's scoring passes read
        prepared.test_features = cast(Any, self.test_dataset)
        self.batches = cast(Any, self._batches(self.train_dataset, prepared.train_rows, shuffle=True))
        sampled = build_training_batches(  # re-balanced sampling, LTML's pair of samplers (features' rules)
            loss_name=config.loss,
            sampler=config.sampler,
            observed=self.store.to_dense().numpy(),
            batch_size=config.batch_size,
            seed=config.seed,
            device=self.device,
            batches_for=lambda chosen: self._batches(
                self.train_dataset, prepared.train_rows, shuffle=True, sampler=chosen
            ),
        )
        if sampled is not None:
            self.batches = sampled
        self._eval_batches: dict[tuple[int, bytes | None], ImageBatches] = {}
        if resume_state is not None:
            self._load_state(resume_state)
        self._setup_distributed()
        self._ready = True
        return self

    def _check_images(self) -> None:
        """Every listed image exists (``os.stat``); also decoded when an earlier run is to be replaced
        (``--overwrite``), so that a bad image never costs the earlier run (exit 2, one line)."""
        from partialml.data.images import check_image_files

        decode = bool(self.config.overwrite and self.run.holds_run())
        for dataset, listed_in in (
            (self.train_dataset, self.images.source),
            (self.test_dataset, self.config.test_split or "the test split"),
        ):
            if dataset is not None and hasattr(dataset, "paths"):
                check_image_files(
                    cast(Any, dataset).paths, root=cast(Any, dataset).root, decode=decode, listed_in=listed_in
                )

    def _batches(
        self, dataset: Dataset[Any], rows: np.ndarray, *, shuffle: bool, sampler: Any = None
    ) -> ImageBatches:
        config = self.config
        cuda = self.device.type == "cuda"
        return ImageBatches(
            dataset,
            rows,
            batch_size=config.batch_size if shuffle else min(config.eval_batch_size, 4 * config.batch_size),
            shuffle=shuffle,
            generator=self.generator if shuffle else None,
            device=self.device,
            num_workers=config.num_workers,
            channels_last=config.channels_last and cuda,
            seed=config.seed,
            sampler=sampler,
        )

    def _scores(self, features: Any, rows: np.ndarray | None) -> Tensor:
        """Scores of ``features`` (one of the datasets) at ``rows`` (all when ``None``)."""
        n = len(features)
        key = (id(features), None if rows is None else np.asarray(rows, dtype=np.int64).tobytes())
        if key not in self._eval_batches:
            chosen = np.arange(n) if rows is None else np.asarray(rows)
            self._eval_batches[key] = self._batches(features, chosen, shuffle=False)
        scores = predict_image_scores(self.model, self._eval_batches[key])
        if scores.numel() == 0:
            return torch.zeros(0 if rows is None else len(rows), self.prepared.num_classes)
        return scores

    def _meta(self) -> dict[str, Any]:
        p, config = self.prepared, self.config
        return {
            "setting": config.setting,
            "in_dim": int(
                getattr(self.model, "out_channels", None) or cast(Any, self.model).backbone.out_channels
            ),
            "num_classes": p.num_classes,
            "class_names": list(p.class_names),
            "num_train": len(p.train_rows),
            "num_val": len(p.val_rows),
            "head": config.head,
            "model": config.model,
            "width": config.width,
            "image_size": config.image_size,
            "boost_alpha": config.boost_alpha,
            "dual_branch": bool(self.dual_branch),
        }

    def _state(self, epoch: int) -> dict[str, Any]:
        state = super()._state(epoch)
        state["grad_scaler"] = None if self.grad_scaler is None else self.grad_scaler.state_dict()
        state["skipped_images"] = self.skipped_images
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        super()._load_state(state)
        if self.grad_scaler is not None and state.get("grad_scaler") is not None:
            self.grad_scaler.load_state_dict(state["grad_scaler"])
        self._skipped_before = int(state.get("skipped_images", 0))

    @property
    def skipped_images(self) -> int:
        """Training images dropped as unreadable so far (``--on-bad-image skip``)."""
        return int(getattr(self, "_skipped_before", 0)) + int(cast(Any, self.batches).skipped)

    def _final_metrics(self) -> dict[str, Any]:
        metrics = super()._final_metrics()
        config = self.config
        metrics["protocol"].update(
            {
                "model": config.model,
                "weights": config.weights,
                "width": config.width,
                "image_size": config.image_size,
                "transforms": config.transforms,
                "recipe": config.recipe,
                "head_lr_mult": config.head_lr_mult,
                "boost_alpha": config.boost_alpha if config.head == "cam" else None,
                "amp": config.amp if amp_dtype(config, self.device) is not None else "off",
                "channels_last": bool(config.channels_last and self.device.type == "cuda"),
                "image_root": str(self.images.root),
                "format": image_format(config),
            }
        )
        metrics["skipped_images"] = self.skipped_images
        bad: list[dict[str, Any]] = []
        for split, dataset in (
            ("train", self.train_dataset),
            ("val", self.eval_dataset),
            ("test", self.test_dataset),
        ):
            for item in getattr(dataset, "bad_images", []) if dataset is not None else []:
                bad.append({"split": split, "path": str(item[1]), "reason": str(item[2])})
        metrics["bad_images"] = bad[:1000]
        if bad:  # --on-bad-image skip: say so (one warning line) besides metrics.json
            import warnings

            from partialml.errors import PartialMLWarning

            first = bad[0]
            warnings.warn(
                PartialMLWarning(
                    f"--on-bad-image skip: {len({b['path'] for b in bad})} unreadable image(s) left out of training and scoring "
                    f"(first: {first['path']}, {first['split']} split: {first['reason']}); "
                    "listed in metrics.json (bad_images)"
                ),
                stacklevel=2,
            )
        return metrics


__all__ = [
    "DEFAULT_SPLITS",
    "IMAGE_FORMATS",
    "RECIPES",
    "ImageBatches",
    "ImageData",
    "ImageTrainer",
    "amp_dtype",
    "build_image_dataset",
    "build_image_model",
    "check_image_options",
    "image_format",
    "image_param_groups",
    "image_root",
    "predict_image_scores",
    "prepare_image_data",
    "read_image_splits",
    "recipe_values",
]
