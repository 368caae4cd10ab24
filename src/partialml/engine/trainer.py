"""The trainer of the ``features`` setting: a linear or MLP head on precomputed features.

Protocol (Cole et al., CVPR 2021; Kim et al., CVPR 2022, adapted to fixed features):

1. Read the feature data; the training split's labels are the full (or best available) labels.
2. Observed training labels from the partial scheme (``--partial``): simulated from the full labels
   with ``partial_seed``, or the labels shipped with the data (``given``); ``full`` trains on the full
   labels (the "full label" upper bound with loss ``bce``).
3. A seeded validation split: a ``torch.randperm`` of the training rows drawn from a generator seeded
   with the **run seed** (``--seed``); the first ``round(val_fraction * N)`` rows are validation, the
   rest train (both sorted). Same seed, same split.
4. A :class:`~partialml.labels.LabelStore` over the training subset (indices ``0 .. n_train - 1``) holds
   the observed labels, the full labels when they have no unknown, and LL-Cp's corrections.
5. Each 0-indexed epoch ``e``: ``loss.set_epoch(e)``; if ``loss.wants_epoch_scores()`` the training
   subset is scored first and ``loss.update_from_scores(scores, observed)`` is called; then for each
   shuffled batch ``(x, positions)``: ``targets = store[positions]``, ``loss(model(x), targets,
   positions)``, a step, and ``mask = loss.pop_corrections()`` written with
   ``store.apply_corrections(positions, mask)`` when not ``None``.
6. Validation mAP after every epoch: against the full labels (``val_labels="clean"``, the papers'
   protocol) or the observed ones (``"partial"``: unknown entries are left out per class; when the
   scheme leaves no observed negative at all, as single-positive does, unknowns count as negatives
   instead, Cole's "observed" validation, since leaving them out would make every AP 1).
   The best epoch (strictly higher mAP; the first wins ties) is saved as ``checkpoints/best.pt``;
   ``early_stop_drop`` stops once mAP falls more than that many points below the best (LL: 3).
7. The test split, when the data has one, is scored with its full labels at the best checkpoint.

Non-finite losses stop the run with :class:`TrainingDivergedError` naming the epoch, the step and the
samples (rows of the training split) of the batch; the checkpoints of the last finished epoch stay. With
``nan_policy="skip"`` up to ``nan_budget`` such batches are skipped (no backward, no step, no correction;
each logged in ``log.jsonl`` and counted in ``metrics.json`` as ``skipped_batches``), and the next one
stops the run.

SIGTERM / SIGINT (:mod:`partialml.engine.signals`): the current step finishes, ``checkpoints/last.pt`` is
written atomically with the position inside the epoch (``in_epoch``: the epoch, the number of steps done,
the batch-order generator's state at the start of the epoch and the epoch's running sums), and
:class:`~partialml.engine.signals.TrainingInterrupted` is raised. ``--resume`` restores every state,
redraws the same permutation of the epoch from the saved generator state, skips the steps already done
and ends bit for bit where an uninterrupted run ends (on CPU).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from partialml.engine.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from partialml.engine.config import TrainConfig, dump_config
from partialml.engine.evaluate import (
    map_percent,
    predict_scores,
    report_test_split,
    split_report,
    training_positives,
    validation_labels_kind,
)
from partialml.engine.loaders import FeatureBatches, FeatureMatrix, as_feature_matrix
from partialml.engine.logging import ScalarWriter, check_tensorboard_available, progress
from partialml.engine.run_dir import RunDir
from partialml.engine.seeding import capture_rng_state, make_generator, restore_rng_state, seed_everything
from partialml.engine.signals import StopRequest, TrainingInterrupted
from partialml.errors import PartialMLError
from partialml.labels.encoding import row_blocks
from partialml.models.heads import FeatureClassifier, build_feature_classifier, feature_statistics

#: ``(epoch, step, positions, logits, targets, loss_fn) -> None``, see :func:`train_one_epoch`.
StepCallback = Callable[[int, int, Tensor, Tensor, Tensor, Any], None]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch, the step and the samples."""


# -- preparation (no file is written) ------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cuda`` without a CUDA device is an error, and so is
    any name other than ``auto``, ``cpu`` and ``cuda`` (one line, naming ``--device``)."""
    if name not in ("auto", "cpu", "cuda"):
        raise PartialMLError(f"--device: got {name!r}; expected auto, cpu or cuda")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PartialMLError("--device cuda: no CUDA device is available; use --device cpu or auto")
    return torch.device(name)


def check_loss_options(name: str, loss_args: dict[str, Any]) -> None:
    """Fail early on an unknown loss or loss option (before any data is read)."""
    from partialml.losses import loss_entry, loss_options

    loss_entry(name)
    options = loss_options(name)
    unknown = sorted(set(loss_args) - set(options))
    if unknown:
        valid = ", ".join(sorted(options)) or "none"
        raise PartialMLError(
            f"--loss-arg: loss {name!r} has no option {', '.join(unknown)}; valid options: {valid}"
        )


def split_train_val(num_samples: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(train, val)`` of a seeded split: ``round(val_fraction * N)`` validation rows.

    The permutation is ``torch.randperm(N)`` from a CPU generator seeded with ``seed`` (the run seed);
    both parts are returned sorted (int64).
    """
    g = torch.Generator()
    g.manual_seed(int(seed))
    perm = torch.randperm(num_samples, generator=g).numpy()
    n_val = round(val_fraction * num_samples)
    if val_fraction > 0 and num_samples - n_val < 1:
        raise PartialMLError(f"--val-fraction {val_fraction} leaves no training sample of {num_samples}")
    train, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])  # already int64: no further copy
    return train.astype(np.int64, copy=False), val.astype(np.int64, copy=False)


def check_finite_features(x: Any, *, source: str, chunk_rows: int = 16384) -> None:
    """Raise one line naming the first row with a NaN or infinite feature (reads by chunks)."""
    n = int(x.shape[0])
    for start in range(0, n, chunk_rows):
        block = x[start : start + chunk_rows]
        arr = block.numpy() if isinstance(block, Tensor) else np.asarray(block)
        finite = np.isfinite(arr)
        if not finite.all():
            row, col = (int(i) for i in np.argwhere(~finite)[0])
            raise PartialMLError(
                f"features row {start + row}, column {col} is {arr[row, col]!r}; expected finite numbers",
                path=source,
            )


@dataclass
class PreparedData:
    """Everything data-derived that a run needs (arrays indexed by rows of the training split).

    Attributes:
        name: the dataset's name.
        source: the data path as given.
        class_names: ``C`` names.
        features: training-split features ``(N, D)``.
        full: ``(N, C)`` full (or best available) labels of the training split.
        observed: ``(N, C)`` observed labels after the partial scheme.
        train_rows / val_rows: the split.
        val_labels: ``(n_val, C)`` labels validation is scored against.
        val_unknown_as: ``"ignored"`` or ``"negative"``: how unknown validation entries are treated.
        test_features / test_labels: the test split, when there is one.
        data: the reader's object (for ids and the test split).
        source_rows: ``(N,)`` rows of the reader's training split that these arrays hold (the long-tail
            cut keeps a subset); ``None`` when they hold all of them, in order.
    """

    name: str
    source: str
    class_names: list[str]
    features: FeatureMatrix
    full: np.ndarray
    observed: np.ndarray
    train_rows: np.ndarray
    val_rows: np.ndarray
    val_labels: np.ndarray
    val_unknown_as: str
    test_features: FeatureMatrix | None
    test_labels: np.ndarray | None
    data: Any = field(repr=False, default=None)
    source_rows: np.ndarray | None = None

    @property
    def in_dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_data(data: str, *, format: str = "auto") -> Any:
    """Read feature data from a path or a builtin name (``partialml.data``)."""
    from partialml.data import load_feature_data, resolve_data_path

    # TrainConfig checks ``format``; the reader checks it again and raises one line if unknown.
    return load_feature_data(resolve_data_path(data), format=cast(Any, format))


def _has_value(labels: np.ndarray, value: int, *, block_entries: int = 1 << 20) -> bool:
    """Whether the ``(N, C)`` label matrix holds ``value`` anywhere; scanned by row blocks so that no
    ``(N, C)`` boolean temporary is made (``min``/``max`` answer ``-1`` and ``1`` with no temporary)."""
    if labels.size == 0:
        return False
    if value == int(labels.min()) or value == int(labels.max()):
        return True
    return any(
        (labels[s] == value).any() for s in row_blocks(labels.shape[0], labels.shape[1], block_entries)
    )


def _first_unknown(labels: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of the first ``-1`` of a label matrix that holds one, scanned by row blocks."""
    for s in row_blocks(labels.shape[0], labels.shape[1]):
        hits = np.argwhere(labels[s] < 0)
        if len(hits):
            return int(hits[0, 0]) + s.start, int(hits[0, 1])
    raise ValueError("no -1 in the labels")


def observed_labels(
    config: TrainConfig,
    full: np.ndarray,
    given: np.ndarray | None,
    *,
    name_entry: Callable[[int, int], str] | None = None,
) -> np.ndarray:
    """The observed training labels of the config's partial scheme (``(N, C)`` int8)."""
    return scheme_labels(
        config.partial, full, given, seed=config.partial_seed, source=config.data, name_entry=name_entry
    )


def scheme_labels(
    partial: str,
    full: np.ndarray,
    given: np.ndarray | None,
    *,
    seed: int | None,
    source: Any,
    name_entry: Callable[[int, int], str] | None = None,
) -> np.ndarray:
    """The observed labels ``(N, C)`` int8 of scheme ``partial`` for a file's labels ``full`` and its
    separately annotated partial labels ``given`` (``None`` when it has none).

    ``given`` takes the file's partial labels, else ``full`` when it holds unknowns (a file with only one
    label matrix, partial as annotated); the simulated schemes need ``full`` without unknowns. Each refusal is
    one line naming ``source`` and the other choice; ``name_entry(row, col)`` names the first unknown entry
    (default ``"label [row, col]"``).
    """
    from partialml.labels import apply_scheme, parse_scheme

    scheme = parse_scheme(partial)
    has_unknown = _has_value(full, -1)
    if scheme.kind == "given" and given is None:
        if not has_unknown:
            raise PartialMLError(
                f"--partial given: the data {source!r} has no partial labels of its own (every label "
                "is 1 or 0); choose a simulated scheme (single-positive, fraction:F, fpc:N, rps:P) or full"
            )
        given = full  # labels with unknowns and no separate annotation: they are the partial labels
    elif scheme.kind != "given" and has_unknown:
        row, col = _first_unknown(full)
        entry = name_entry(row, col) if name_entry is not None else f"label [{row}, {col}]"
        raise PartialMLError(
            f"{entry} is -1 (unknown); expected full labels (1 or 0 everywhere) for "
            f"--partial {partial}, or --partial given to take the file's labels as they are",
            path=source,
        )
    full_for_scheme = None if (scheme.kind == "given" and has_unknown) else full
    return np.asarray(apply_scheme(scheme, full_for_scheme, given=given, seed=seed), dtype=np.int8)


def prepare_data(config: TrainConfig, data: Any | None = None) -> PreparedData:
    """Read the data, simulate the partial labels and split: everything before training, no writes."""
    if data is None:
        assert config.data is not None
        data = load_data(config.data, format=config.format)
    train = data.train
    class_names = [str(c) for c in data.class_names]
    full = np.asarray(train.labels, dtype=np.int8)
    if full.ndim != 2 or full.shape[1] != len(class_names):
        raise PartialMLError(f"training labels have shape {full.shape}; expected (N, {len(class_names)})")
    check_finite_features(train.x, source=f"{config.data} (train features)")
    given = None if getattr(train, "observed", None) is None else np.asarray(train.observed, dtype=np.int8)
    train_x = train.x
    keep = None
    if config.long_tail:  # the long-tail cut of the training split, before the partial-label scheme
        from partialml.labels.long_tail import long_tail_rows

        keep = long_tail_rows(config.long_tail, full)
        full, train_x = full[keep], train_x[keep]
        given = None if given is None else given[keep]
    ids = getattr(train, "ids", None)

    def name_entry(row: int, col: int) -> str:
        source_row = row if keep is None else int(keep[row])
        sample = f"sample {ids[source_row]!r}" if ids is not None else f"row {source_row}"
        return f"the label of {sample} for class {class_names[col]!r}"

    observed = observed_labels(config, full, given, name_entry=name_entry)
    train_rows, val_rows = split_train_val(full.shape[0], config.val_fraction, config.seed)
    if config.val_labels == "clean":
        val_labels, unknown_as = full[val_rows], "ignored"
    else:
        val_labels = observed[val_rows].copy()
        unknown_as = "ignored"
        if not _has_value(observed, 0):  # no observed negative anywhere (single-positive, fraction:F)
            val_labels[val_labels < 0] = 0
            unknown_as = "negative"
    test = getattr(data, "test", None)
    test_features = test_labels = None
    if test is not None:
        check_finite_features(test.x, source=f"{config.data} (test features)")
        test_features = as_feature_matrix(test.x)
        test_labels = np.asarray(test.labels, dtype=np.int8)
    return PreparedData(
        name=str(getattr(data, "name", config.data)),
        source=str(config.data),
        class_names=class_names,
        features=as_feature_matrix(train_x),
        full=full,
        observed=observed,
        train_rows=train_rows,
        val_rows=val_rows,
        val_labels=val_labels,
        val_unknown_as=unknown_as,
        test_features=test_features,
        test_labels=test_labels,
        data=data,
        source_rows=keep,
    )


def warn_classes_without_positive(prepared: PreparedData) -> None:
    """Warn (:class:`~partialml.errors.PartialMLWarning`, not an error) about classes that have no
    observed positive among the training rows: legal in long-tailed data and under single-positive
    simulation, but such a class only ever gets negative or no gradient."""
    import warnings

    from partialml.errors import PartialMLWarning

    rows, observed = prepared.train_rows, prepared.observed
    has_positive = np.zeros(observed.shape[1], dtype=bool)
    for s in row_blocks(len(rows), observed.shape[1]):  # no (N, C) copy of the labels
        has_positive |= (observed[rows[s]] == 1).any(axis=0)
    empty = [name for name, ok in zip(prepared.class_names, has_positive, strict=True) if not ok]
    if empty:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        warnings.warn(
            f"{len(empty)} of {len(has_positive)} classes have no observed positive in the training rows "
            f"({shown}); they are trained on negatives/unknowns only",
            PartialMLWarning,
            stacklevel=2,
        )


def build_label_store(prepared: PreparedData) -> Any:
    """A LabelStore over the training subset; full labels included when they have no unknown.

    The training-row subsets are fresh ``(n_train, C)`` int8 arrays made here, so the store keeps them
    without a second copy (``copy=False``).
    """
    from partialml.labels import LabelStore

    rows = prepared.train_rows
    full = prepared.full[rows]
    return LabelStore.from_dense(
        prepared.observed[rows],
        full=None if full.size and int(full.min()) < 0 else full,
        class_names=prepared.class_names,
        copy=False,
    )


def build_loss(config: TrainConfig, store: Any) -> Any:
    """``create_loss(config.loss, **loss_args)``, with the observed labels for losses that need them."""
    from partialml.losses import create_loss, loss_entry, loss_options

    entry = loss_entry(config.loss)
    kwargs = dict(config.loss_args)
    if "class_counts" in loss_options(config.loss):  # DB, LTML, focal: counts clipped to [1, N - 1]
        from partialml.labels.long_tail import loss_class_counts

        counts, n, _ = loss_class_counts(store.to_dense().numpy())
        kwargs.setdefault("class_counts", torch.from_numpy(counts).double())
        if "num_samples" in loss_options(config.loss):
            kwargs.setdefault("num_samples", n)
        return create_loss(config.loss, labels=store.to_dense(), **kwargs)
    if entry.cls.requires_labels:
        return create_loss(config.loss, labels=store.to_dense(), **kwargs)
    return create_loss(config.loss, **kwargs)


def build_optimizer(
    config: TrainConfig, model: nn.Module, loss: Any, *, groups: list[dict[str, Any]] | None = None
) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over the head's group (``lr * head_lr_mult``) plus the loss's own groups.

    The loss's groups (``loss.param_groups(lr)``, for instance ROLE's label estimates at 10x) keep the
    learning rate they give and get no weight decay unless they set one. Each group has a ``name``.
    ``groups`` replaces the single head group with the model's own (the end-to-end setting: backbone
    and head, :func:`partialml.engine.image_setting.image_param_groups`).
    """
    groups = (
        list(groups)
        if groups is not None
        else [
            {
                "params": [p for p in model.parameters() if p.requires_grad],
                "lr": config.lr * config.head_lr_mult,
                "weight_decay": config.weight_decay,
                "name": "head",
            }
        ]
    )
    param_groups = getattr(loss, "param_groups", None)
    for i, group in enumerate(param_groups(config.lr) if callable(param_groups) else []):
        g = dict(group)
        g["params"] = list(g["params"])
        g.setdefault("weight_decay", 0.0)
        g.setdefault("name", f"loss.{i}")
        groups.append(g)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)


# -- one epoch ---------------------------------------------------------------------------------------------


@dataclass
class EpochStats:
    """Sums over one epoch: ``loss_sum`` (batch loss x batch size), ``num_samples``, ``corrections``.

    ``steps`` counts the steps done (skipped batches included: it is the index of the next step);
    ``skipped`` the batches skipped for a non-finite loss; ``interrupted`` is set when ``should_stop``
    ended the epoch early, at a step boundary.
    """

    loss_sum: float = 0.0
    num_samples: int = 0
    corrections: int = 0
    steps: int = 0
    skipped: int = 0
    interrupted: bool = False

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.num_samples, 1)


def train_one_epoch(
    model: nn.Module,
    loss_fn: Any,
    optimizer: torch.optim.Optimizer,
    batches: Any,
    store: Any,
    *,
    epoch: int,
    rows: np.ndarray | None = None,
    wrap: Callable[[Any], Any] | None = None,
    step_callback: StepCallback | None = None,
    start_step: int = 0,
    stats: EpochStats | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_bad_loss: Callable[[str, int, list[int]], bool] | None = None,
    scaler: Any | None = None,
    sync: Any | None = None,
) -> EpochStats:
    """One pass over ``batches`` of ``(x, positions)``: forward, loss, backward, step, corrections.

    ``rows[positions]`` name the samples in error messages (rows of the training split).
    ``step_callback(epoch, step, positions, logits, targets, loss_fn)``, when given, is called after
    the loss of each step is computed and checked, before the update (``logits`` detached, ``(B, C)``;
    ``targets`` the store's ``(B, C)`` labels of the step); it must not change them (analyses).

    Resuming inside an epoch: ``start_step`` batches of the (identically redrawn) order are skipped
    and the sums continue from ``stats``. After every step ``should_stop()`` is asked; ``True`` ends the
    epoch there with ``stats.interrupted`` set. A non-finite loss calls ``on_bad_loss(message, step,
    samples)``; when it returns ``True`` the batch is skipped (no backward, no step, its corrections
    dropped), otherwise (or without it) :class:`TrainingDivergedError` is raised. ``scaler``, a
    ``torch.amp.GradScaler`` (fp16 autocast on CUDA), scales the backward pass and unscales the step.

    ``sync``, a :class:`partialml.engine.distributed.StepSync` (DDP, ``model`` wrapped in
    ``DistributedDataParallel``): the loss is weighted by ``n_rank * W / n_global`` for the backward
    pass, the loss's own parameters' gradients are averaged over ranks, a non-finite loss on any rank
    counts on every rank, and every rank's corrections are written on every rank's store. ``stats``
    then hold this rank's sums (``corrections``: all ranks'). A rank with an empty share of the last
    batch still runs the step (zero loss) so that the collectives match.

    Raises:
        TrainingDivergedError: the loss is NaN or infinite (and not skipped).
    """
    model.train()
    stats = EpochStats() if stats is None else stats
    source = batches if start_step == 0 else itertools.islice(batches, start_step, None)
    iterator = source if wrap is None else wrap(source)
    for step, (x, positions) in enumerate(iterator, start=start_step):
        targets = store[positions].to(x.device, non_blocking=True)
        logits = model(x)
        value = loss_fn(logits, targets, positions.to(x.device))
        n = int(positions.shape[0])
        if sync is not None and n == 0:
            value = logits.sum() * 0.0  # the empty share of a last batch (the loss of nothing is NaN)
        scalar = float(value.detach())
        bad = not math.isfinite(scalar)
        if sync is not None:
            bad = sync.any_true(bad)
        if bad:
            shown = positions if rows is None else torch.as_tensor(rows)[positions]
            samples = [int(i) for i in shown]
            listed = ", ".join(str(i) for i in samples[:20])
            more = f" and {len(samples) - 20} more" if len(samples) > 20 else ""
            message = (
                f"the loss is {scalar} at epoch {epoch}, step {step} (0-indexed); "
                f"samples (training-file rows) of the batch: {listed}{more}"
            )
            loss_fn.pop_corrections()  # a skipped batch writes no correction
            if on_bad_loss is None or not on_bad_loss(message, step, samples):
                raise TrainingDivergedError(message)
            stats.skipped += 1
            stats.steps += 1
            if should_stop is not None and should_stop():
                stats.interrupted = True
                break
            continue
        if step_callback is not None:
            step_callback(epoch, step, positions, logits.detach(), targets, loss_fn)
        optimizer.zero_grad(set_to_none=True)
        if sync is not None:
            value = value * sync.loss_weight(n)
        if scaler is None:
            value.backward()
            if sync is not None:
                sync.average_gradients(loss_fn.parameters())
            optimizer.step()
        else:
            scaler.scale(value).backward()
            if sync is not None:
                sync.average_gradients(loss_fn.parameters())
            scaler.step(optimizer)
            scaler.update()
        mask = loss_fn.pop_corrections()
        if sync is not None:
            gathered = sync.gather_corrections(positions, None if mask is None else mask.detach().cpu())
            if gathered is not None:
                stats.corrections += int(store.apply_corrections(*gathered))
        elif mask is not None:
            stats.corrections += int(store.apply_corrections(positions, mask.detach().cpu()))
        stats.loss_sum += scalar * n
        stats.num_samples += n
        stats.steps += 1
        if should_stop is not None and should_stop():
            stats.interrupted = True
            break
    return stats


# -- the trainer -------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What :meth:`Trainer.fit` returns: the run directory, the final metrics and the history."""

    run_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]]

    @property
    def best_epoch(self) -> int:
        return int(self.metrics["best_epoch"])


class Trainer:
    """Train a head on features as :class:`~partialml.engine.config.TrainConfig` says.

    :meth:`setup` reads and checks everything (data, labels, loss, run directory, a checkpoint to
    resume) and writes nothing; :meth:`fit` trains, writing the run directory. After :meth:`setup` the
    parts are attributes: ``model``, ``loss``, ``optimizer``, ``store``, ``prepared``, ``device``.
    ``data`` is an already-read feature dataset used instead of reading ``config.data``;
    ``step_callback`` is passed to :func:`train_one_epoch` (read-only per-step access, for analyses).

    Example:
        >>> result = Trainer(TrainConfig(data="yeast", output_dir="runs/x", epochs=2)).fit()  # doctest: +SKIP

    With ``config.setting == "end-to-end"``, ``Trainer(config)`` builds the image trainer
    (:class:`partialml.engine.image_setting.ImageTrainer`, a subclass).
    """

    def __new__(cls, config: TrainConfig, **kwargs: Any) -> Trainer:
        setting = getattr(config, "setting", "features")
        if cls is Trainer and setting == "end-to-end":
            from partialml.engine.image_setting import ImageTrainer

            return super().__new__(ImageTrainer)
        if cls is Trainer and setting == "linear-init":
            from partialml.engine.extract import LinearInitTrainer

            return super().__new__(LinearInitTrainer)
        return super().__new__(cls)

    def __init__(
        self,
        config: TrainConfig,
        *,
        show_progress: bool | None = None,
        data: Any = None,
        step_callback: StepCallback | None = None,
        handle_signals: bool = True,
    ) -> None:
        self.config = config
        self.handle_signals = handle_signals
        self._stop: StopRequest | None = None
        self._in_epoch: dict[str, Any] | None = None
        self.skipped_batches = 0
        self.step_callback = step_callback
        self.show_progress = show_progress
        self._data = data
        self._ready = False
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.best_map = -math.inf
        self.start_epoch = 0
        self.stopped_early = False

    # -- setup ---------------------------------------------------------------------------------------------
    def setup(self) -> Trainer:
        """Validate, read the data and build the parts; no file is written."""
        if self._ready:
            return self
        config = self.config
        config.validate()
        config.require_for_training()
        check_loss_options(config.loss, config.loss_args)
        from partialml.labels import parse_scheme

        parse_scheme(config.partial)
        if config.tensorboard:
            check_tensorboard_available()
        self.device = self._resolve_device()
        assert config.output_dir is not None
        self.run = RunDir(config.output_dir)
        self.run.check_available(overwrite=config.overwrite, resume=config.resume)
        resume_state = load_checkpoint(self.run.checkpoint("last")) if config.resume else None

        self.prepared = prepared = prepare_data(config, self._data)
        self.store = build_label_store(prepared)
        warn_classes_without_positive(prepared)
        seed_everything(config.seed)  # before the loss: some losses draw their initial state (ROLE)
        self.loss = build_loss(config, self.store).to(self.device)
        mean = std = None
        if config.standardize:
            mean, std = feature_statistics(prepared.features, prepared.train_rows)
        self.model: FeatureClassifier = build_feature_classifier(
            cast(Any, config.head),
            in_dim=prepared.in_dim,
            num_classes=prepared.num_classes,
            hidden_dim=config.hidden_dim,
            dropout=config.dropout,
            mean=mean,
            std=std,
        ).to(self.device)
        from partialml.engine.dual_branch import build_training_batches, is_dual_branch

        self.dual_branch = is_dual_branch(config.loss)
        if self.dual_branch:  # LTML: shared MLP trunk, two linear heads (partialml.models.dual_branch)
            from partialml.models.dual_branch import build_dual_branch_classifier

            dual = build_dual_branch_classifier(
                in_dim=prepared.in_dim,
                num_classes=prepared.num_classes,
                hidden_dim=config.hidden_dim,
                dropout=config.dropout,
                mean=mean,
                std=std,
            )
            self.model = cast(Any, dual.to(self.device))
        self.optimizer = build_optimizer(config, self.model, self.loss)
        self.generator = make_generator(config.seed)
        # Batches read by worker processes must come from CPU memory; otherwise small in-memory
        # features move to the GPU once so that each step gathers its rows there.
        self.features = (
            prepared.features
            if config.num_workers > 0
            else _to_device_if_small(prepared.features, self.device)
        )
        self.batches = FeatureBatches(
            self.features,
            prepared.train_rows,
            batch_size=config.batch_size,
            shuffle=True,
            generator=self.generator,
            device=self.device,
            num_workers=config.num_workers,
        )
        sampled = build_training_batches(
            loss_name=config.loss,
            sampler=config.sampler,
            observed=self.store.to_dense().numpy(),
            features=self.features,
            rows=prepared.train_rows,
            batch_size=config.batch_size,
            seed=config.seed,
            device=self.device,
        )
        if sampled is not None:  # re-balanced sampling or the LTML pair of samplers
            self.batches = cast(Any, sampled)
        if resume_state is not None:
            self._load_state(resume_state)
        self._setup_distributed()
        self._ready = True
        return self

    # -- distributed (partialml.engine.distributed; a no-op in a single process) ---------------------------
    def _resolve_device(self) -> torch.device:
        """Join the torchrun process group when there is one; this rank's device."""
        from partialml.engine.distributed import init_distributed

        self.dist = init_distributed(self.config.device)
        return self.dist.device if self.dist.enabled else resolve_device(self.config.device)

    def _setup_distributed(self) -> None:
        """Under DDP: wrap the model, shard the batches, sync the loss; non-main ranks write nothing."""
        from partialml.engine.distributed import GlobalTopK, StepSync

        config = self.config
        self.train_model: nn.Module = self.model
        self.sync: StepSync | None = None
        if config.ll_topk == "global" and not hasattr(self.loss, "selector"):
            raise PartialMLError(f"--ll-topk global: loss {config.loss!r} is not ll-r, ll-ct or ll-cp")
        if not getattr(self, "dist", None) or not self.dist.enabled:
            return
        d = self.dist
        if getattr(self, "dual_branch", False):
            raise PartialMLError(
                f"torchrun with {d.world_size} processes: --loss {config.loss} (dual-branch) is not supported "
                "under DDP yet; use a single-branch loss (ll-r, ...) or train in one process"
            )
        if not hasattr(self.batches, "num_replicas"):
            raise PartialMLError(
                f"torchrun with {d.world_size} processes: this run's batches ({type(self.batches).__name__}) "
                "cannot be split between processes; train in one process"
            )
        if getattr(config, "on_bad_image", "raise") == "skip":
            raise PartialMLError("--on-bad-image skip is not supported under torchrun yet (ranks' batches)")
        self.batches.num_replicas, self.batches.rank = d.world_size, d.rank
        from torch.nn.parallel import DistributedDataParallel

        self.train_model = DistributedDataParallel(
            self.model, device_ids=[d.device.index] if d.device.type == "cuda" else None
        )
        self.sync = StepSync()
        if config.ll_topk == "global":
            self.loss.selector = GlobalTopK()
        if not d.is_main:
            from partialml.engine.distributed import SilentRunDir

            self.run = SilentRunDir(self.run.path)
            self.show_progress = False

    def _save(self, which: str, state: dict[str, Any]) -> None:
        """``save_checkpoint`` on rank 0 only."""
        from partialml.engine.distributed import is_main

        if is_main():
            save_checkpoint(self.run.checkpoint(which), state)

    def _dist_scores(self, features: FeatureMatrix, rows: np.ndarray | None) -> Tensor:
        """:meth:`_scores` with each rank scoring a disjoint slice of ``rows``, gathered on every rank
        in the order of ``rows`` (no duplicate); plain :meth:`_scores` in a single process."""
        from partialml.engine.distributed import gather_cat, shard

        d = getattr(self, "dist", None)
        if d is None or not d.enabled:
            return self._scores(features, rows)
        all_rows = torch.arange(len(features)) if rows is None else torch.as_tensor(np.asarray(rows))
        mine = shard(all_rows, num_replicas=d.world_size, rank=d.rank).numpy()
        return gather_cat(self._scores(features, mine).to(torch.float32).cpu())

    def _meta(self) -> dict[str, Any]:
        p = self.prepared
        return {
            "setting": self.config.setting,
            "in_dim": p.in_dim,
            "num_classes": p.num_classes,
            "class_names": list(p.class_names),
            "num_train": len(p.train_rows),
            "num_val": len(p.val_rows),
            "head": self.config.head,
            "hidden_dim": self.config.hidden_dim,
            "dropout": self.config.dropout,
            "standardize": self.config.standardize,
            "model": "dual-branch" if getattr(self, "dual_branch", False) else "single",
        }

    def _state(self, epoch: int) -> dict[str, Any]:
        std_mod = self.model.standardize
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "loss": self.loss.state_dict(),
            "loss_epoch": int(getattr(self.loss, "epoch", epoch)),
            "label_store": self.store.state_dict(),
            "standardization": None
            if std_mod is None
            else {"mean": std_mod.mean.detach().cpu(), "std": std_mod.std.detach().cpu()},
            "best": {
                "epoch": self.best_epoch,
                "val_mAP": self.best_map if math.isfinite(self.best_map) else None,
            },
            "history": [dict(row) for row in self.history],
            "stopped_early": self.stopped_early,
            "skipped_batches": self.skipped_batches,
            "in_epoch": None,
            "rng": capture_rng_state(self.generator),
            "meta": self._meta(),
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        meta = state.get("meta", {})
        mine = self._meta()
        for key in ("in_dim", "num_classes", "class_names", "num_train", "head"):
            if meta.get(key) != mine[key]:
                raise PartialMLError(
                    f"--resume: the checkpoint's {key} ({meta.get(key)!r}) does not match this run's "
                    f"({mine[key]!r})",
                    path=self.run.checkpoint("last"),
                )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.loss.load_state_dict(state["loss"])
        self.store.load_state_dict(state["label_store"])
        restore_rng_state(state["rng"], self.generator)
        self.history = [dict(row) for row in state["history"]]
        best = state["best"]
        self.best_epoch = best["epoch"]
        self.best_map = -math.inf if best["val_mAP"] is None else float(best["val_mAP"])
        self.start_epoch = int(state["epoch"]) + 1
        self.stopped_early = bool(state.get("stopped_early", False))
        self.skipped_batches = int(state.get("skipped_batches", 0))
        self._in_epoch = state.get("in_epoch")
        begun = self.start_epoch + (1 if self._in_epoch is not None else 0)  # epochs finished or begun
        if self.config.epochs < begun:
            raise PartialMLError(
                f"--resume: --epochs {self.config.epochs} is fewer than the {begun} epochs this run has "
                f"already {'begun' if self._in_epoch is not None else 'trained'}; give --epochs {begun} or more",
                path=self.run.checkpoint("last"),
            )

    # -- passes --------------------------------------------------------------------------------------------
    def _scores(self, features: FeatureMatrix, rows: np.ndarray | None) -> Tensor:
        return predict_scores(
            self.model,
            features,
            rows,
            batch_size=self.config.eval_batch_size,
            device=self.device,
            num_workers=self.config.num_workers,
        )

    def _validate(self) -> float | None:
        if len(self.prepared.val_rows) == 0:
            return None
        from partialml.engine.distributed import broadcast_object, is_main

        scores = self._dist_scores(self.features, self.prepared.val_rows)
        value = None
        if is_main():  # rank 0 computes the metric; every rank gets it (same early stop and best epoch)
            value = map_percent(scores, self.prepared.val_labels, empty_class=self.config.empty_class)
        value = broadcast_object(value)
        return value if math.isfinite(value) else None

    def _epoch_scores_hook(self) -> None:
        wants = getattr(self.loss, "wants_epoch_scores", None)
        if callable(wants) and wants():
            scores = self._dist_scores(self.features, self.prepared.train_rows).to(self.device)
            self.loss.update_from_scores(scores, self.store.to_dense().to(self.device))

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self) -> RunResult:
        """Train (or continue) and write the run directory; returns the final metrics."""
        self.setup()
        config, run = self.config, self.run
        if config.overwrite:
            run.clear_previous_run()
        run.create()
        saved = config.updated({"overwrite": False, "resume": False})
        run.write_text("config.yaml", dump_config(saved))
        run.append_log({"event": "resume" if config.resume else "start", "epoch": self.start_epoch})
        from partialml.engine.distributed import barrier, is_main

        writer = ScalarWriter(run.tensorboard, enabled=config.tensorboard and is_main())
        stop = StopRequest() if self.handle_signals else StopRequest(())
        try:
            with stop:
                self._stop = stop
                for epoch in range(self.start_epoch, config.epochs):
                    if self.stopped_early:
                        break
                    self._check_stop(f"before epoch {epoch}")
                    self._run_epoch(epoch, writer)
                self._check_stop("after the last epoch")
        finally:
            self._stop = None
            writer.close()
        barrier()  # rank 0's checkpoints are written before every rank reads best.pt
        metrics = self._final_metrics()
        run.write_json("metrics.json", metrics)
        run.append_log({"event": "end", "best_epoch": metrics["best_epoch"]})
        return RunResult(run_dir=run.path, metrics=metrics, history=list(self.history))

    def _check_stop(self, where: str) -> None:
        """Raise :class:`TrainingInterrupted` when a signal is pending (the last checkpoint stays)."""
        if self._stop is None or self._stop.signum is None:
            return
        last = self.run.checkpoint("last")
        self.run.append_log({"event": "interrupted", "signal": int(self._stop.signum), "where": where})
        raise TrainingInterrupted(
            self._stop.signum, checkpoint=str(last) if last.is_file() else None, where=where
        )

    def _on_bad_loss(self, message: str, epoch: int, step: int, samples: list[int]) -> bool:
        """``nan_policy="skip"``: skip while the budget lasts (logged); ``False`` stops the run."""
        config = self.config
        if config.nan_policy != "skip":
            return False
        if self.skipped_batches >= config.nan_budget:
            raise TrainingDivergedError(
                f"{message}; the --nan-budget of {config.nan_budget} skipped batches is spent"
            )
        self.skipped_batches += 1
        self.run.append_log(
            {"event": "skipped_batch", "epoch": epoch, "step": step, "samples": samples[:100]}
        )
        return True

    def _run_epoch(self, epoch: int, writer: ScalarWriter) -> None:
        config = self.config
        t0 = time.perf_counter()
        resume, self._in_epoch = self._in_epoch, None
        if resume is not None and int(resume["epoch"]) == epoch:
            # Inside-epoch resume: the loss state (and any epoch-start scoring) is in the checkpoint.
            self.loss.set_epoch(epoch)
            shuffle_start = resume["shuffle_start"]
            self.generator.set_state(shuffle_start)
            start_step = int(resume["step"])
            main = getattr(self, "sync", None) is None or self.dist.is_main  # DDP: the saved sums are global
            stats = EpochStats(
                loss_sum=float(resume["loss_sum"]) if main else 0.0,
                num_samples=int(resume["num_samples"]) if main else 0,
                corrections=int(resume["corrections"]),
                steps=start_step,
                skipped=int(resume["skipped"]),
            )
            t0 -= float(resume["seconds"])
        else:
            self.loss.set_epoch(epoch)
            self._epoch_scores_hook()
            shuffle_start = self.generator.get_state().clone()
            start_step, stats = 0, EpochStats()
        stop = self._stop
        set_epoch = getattr(self.batches, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)  # samplers draw from (seed, epoch)
        from partialml.engine.dual_branch import train_dual_branch_epoch

        epoch_fn: Any = train_dual_branch_epoch if self.dual_branch else train_one_epoch
        sync = getattr(self, "sync", None)
        extra: dict[str, Any] = {} if sync is None else {"sync": sync}
        should_stop = None if stop is None else (lambda: stop.signum is not None)
        if sync is not None and should_stop is not None:
            local_stop = should_stop
            should_stop = lambda: sync.any_true(local_stop())  # noqa: E731  (every rank stops together)
        stats = epoch_fn(
            getattr(self, "train_model", self.model),
            self.loss,
            self.optimizer,
            self.batches,
            self.store,
            epoch=epoch,
            rows=self.prepared.train_rows,
            step_callback=self.step_callback,
            wrap=lambda it: progress(
                it, total=len(self.batches), desc=f"epoch {epoch}", enabled=self.show_progress
            ),
            start_step=start_step,
            stats=stats,
            should_stop=should_stop,
            on_bad_loss=lambda message, step, samples: self._on_bad_loss(message, epoch, step, samples),
            scaler=getattr(self, "grad_scaler", None),
            **extra,
        )
        if sync is not None:  # every rank's share: the sums of one process with the global batch
            from partialml.engine.distributed import all_reduce_sum

            stats.loss_sum, total = all_reduce_sum([stats.loss_sum, stats.num_samples])
            stats.num_samples = int(total)
        if stats.interrupted and stats.steps < len(self.batches):
            self._save_in_epoch(epoch, stats, shuffle_start, time.perf_counter() - t0)
            self._check_stop(f"at epoch {epoch}, step {stats.steps} (0-indexed)")
        val_map = self._validate()
        improved = False
        if val_map is not None and val_map > self.best_map:
            self.best_map, self.best_epoch, improved = val_map, epoch, True
        elif val_map is None and len(self.prepared.val_rows) == 0:
            self.best_epoch, improved = epoch, True  # no validation: the last epoch is selected
        if (
            config.early_stop_drop is not None
            and val_map is not None
            and val_map < self.best_map - config.early_stop_drop
        ):
            self.stopped_early = True
        row = {
            "epoch": epoch,
            "train_loss": stats.mean_loss,
            "val_mAP": val_map,
            "seconds": time.perf_counter() - t0,
            "corrections": int(self.store.num_corrections),
            "lr": float(self.optimizer.param_groups[0]["lr"]),
        }
        self.history.append(row)
        state = self._state(epoch)
        if improved:
            self._save("best", state)
        self._save("last", state)
        self.run.write_history(self.history)
        self.run.append_log(
            {"event": "epoch", **row, "best_epoch": self.best_epoch, "stopped_early": self.stopped_early}
        )
        writer.add_scalars(
            {"train/loss": row["train_loss"], "val/mAP": val_map, "train/corrections": row["corrections"]},
            epoch,
        )

    def _save_in_epoch(self, epoch: int, stats: EpochStats, shuffle_start: Tensor, seconds: float) -> None:
        """Write ``last.pt`` at a step boundary inside ``epoch`` (``best.pt`` is left alone)."""
        state = self._state(epoch - 1)
        state["in_epoch"] = {
            "epoch": epoch,
            "step": stats.steps,
            "shuffle_start": shuffle_start,
            "loss_sum": stats.loss_sum,
            "num_samples": stats.num_samples,
            "corrections": stats.corrections,
            "skipped": stats.skipped,
            "seconds": seconds,
        }
        self._save("last", state)
        self.run.append_log({"event": "checkpoint", "epoch": epoch, "step": stats.steps, "in_epoch": True})

    def _final_metrics(self) -> dict[str, Any]:
        config, prepared = self.config, self.prepared
        best_path = self.run.checkpoint("best")
        source = best_path if best_path.is_file() else self.run.checkpoint("last")
        state = load_checkpoint(source, map_location=self.device)
        best_epoch = int(state["epoch"])
        model = self.model
        current = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(state["model"])
        del state  # the checkpoint also holds the label store: free it before scoring
        try:
            val = None
            if len(prepared.val_rows):
                scores = self._dist_scores(self.features, prepared.val_rows)
                val = split_report(
                    scores,
                    prepared.val_labels,
                    class_names=prepared.class_names,
                    empty_class=config.empty_class,
                )
                val["labels"] = validation_labels_kind(config.val_labels, config.partial)
                val["unknown_as"] = prepared.val_unknown_as
            test = None
            if prepared.test_features is not None and prepared.test_labels is not None:
                scores = self._dist_scores(prepared.test_features, None)
                test = report_test_split(
                    scores,
                    prepared.test_labels,
                    class_names=prepared.class_names,
                    empty_class=config.empty_class,
                    train_positives=training_positives(self.store),
                    group_scale=config.group_scale,
                )
        finally:
            model.load_state_dict(current)
        return {
            "best_epoch": best_epoch,
            "epochs_run": len(self.history),
            "stopped_early": self.stopped_early,
            "checkpoint": source.name,
            "protocol": protocol(config, prepared),
            "val": val,
            "test": test,
            "corrections": int(self.store.num_corrections),
            "skipped_batches": self.skipped_batches,
        }


def effective_partial_seed(partial: str, partial_seed: int | None) -> int | None:
    """The seed the simulator actually used: the given one, else the simulator's default (1200, Cole's,
    for ``single-positive``; 0 for ``fraction``, ``fpc`` and ``rps``); ``None`` for ``full`` and ``given``
    (nothing is drawn)."""
    from partialml.labels import COLE_SEED, parse_scheme

    kind = parse_scheme(partial).kind
    if kind in ("full", "given"):
        return None
    if partial_seed is not None:
        return int(partial_seed)
    return int(COLE_SEED) if kind == "single-positive" else 0


def protocol(config: TrainConfig, prepared: PreparedData) -> dict[str, Any]:
    """The facts that define a result: data, partial scheme and seeds, validation labels, loss, setting."""
    return {
        "setting": config.setting,
        "data": config.data,
        "data_name": prepared.name,
        "partial": config.partial,
        "partial_seed": config.partial_seed,
        "partial_seed_used": effective_partial_seed(config.partial, config.partial_seed),
        "seed": config.seed,
        "val_fraction": config.val_fraction,
        "val_labels": config.val_labels,
        "val_unknown_as": prepared.val_unknown_as,
        "loss": config.loss,
        "loss_args": dict(config.loss_args),
        "head": config.head,
        "epochs": config.epochs,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "optimizer": config.optimizer,
        "empty_class": config.empty_class,
        "num_train": len(prepared.train_rows),
        "num_val": len(prepared.val_rows),
        "num_test": None if prepared.test_labels is None else len(prepared.test_labels),
        "num_classes": prepared.num_classes,
        "long_tail": config.long_tail,
        "sampler": config.sampler,
        "group_scale": config.group_scale,
        "world_size": _world_size(),
        "global_batch_size": config.batch_size * _world_size(),
        "ll_topk": config.ll_topk,
    }


def _world_size() -> int:
    from partialml.engine.distributed import world_size

    return world_size()


def _to_device_if_small(
    features: FeatureMatrix, device: torch.device, limit_bytes: int = 4 << 30
) -> FeatureMatrix:
    """In-memory features go to the GPU once when they fit under ``limit_bytes``; memmaps stay."""
    small = isinstance(features, Tensor) and features.numel() * features.element_size() <= limit_bytes
    if device.type != "cpu" and small:
        assert isinstance(features, Tensor)
        return features.to(device)
    return features


def train(config: TrainConfig, *, show_progress: bool | None = None) -> RunResult:
    """Train as ``config`` says and write the run directory (see :class:`Trainer`)."""
    return Trainer(config, show_progress=show_progress).fit()


__all__ = [
    "EpochStats",
    "PreparedData",
    "RunResult",
    "StepCallback",
    "Trainer",
    "TrainingDivergedError",
    "build_label_store",
    "build_loss",
    "build_optimizer",
    "check_finite_features",
    "check_loss_options",
    "effective_partial_seed",
    "load_data",
    "prepare_data",
    "protocol",
    "resolve_device",
    "split_train_val",
    "train",
    "train_one_epoch",
]
