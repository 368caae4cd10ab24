"""The training configuration, as data: a typed dataclass filled from YAML, then from CLI flags.

Order of precedence (later wins): the dataclass defaults, a YAML file (``--config FILE.yaml``), the
flags given on the command line. Every value is checked here, before any data is read or any file is
written: an unknown key or a bad value raises :class:`~partialml.errors.PartialMLError` with one line
that names the key (and the YAML file when the value came from one).

The resolved configuration is saved as ``config.yaml`` in the run directory
(:meth:`TrainConfig.to_dict` then :func:`save_config`); :func:`load_config` reads it back.

Provenance of the defaults (see ``docs/reference-methods.md``):

* ``partial="single-positive"``: the single-positive protocol of Cole et al. (CVPR 2021) and Kim et al.
  (LL, CVPR 2022).
* ``loss="an"``: the "assume negative" baseline of Cole et al.
* ``epochs=25``, ``optimizer="adam"``, ``weight_decay=0``, no schedule: Cole's
  ``linear_fixed_features`` recipe (25 epochs of a linear layer on fixed features, Adam, no decay).
* ``lr=1e-3``, ``batch_size=16``: one point of Cole's search grid (batch {8, 16} x lr {1e-2 .. 1e-5});
  the linear-phase lookup of Cole's ``linear_init`` uses lr 1e-3 and batch 16 for ROLE.
* ``val_fraction=0.2``: Cole's split of the official training set (``n_val = round(0.2 * N)``).
* ``val_labels="clean"``: validation against the full labels, the de-facto protocol of Cole/LL/BoostLU.
* ``early_stop_drop=None``: off; LL uses 3 (stop when validation mAP falls 3 points below the best).
* ``head="linear"``: the LinearInit analogue; the MLP's ``hidden_dim=512`` and ``dropout=0.5`` follow the
  "PFC" neck of the Distribution-Balanced loss code (FC to a small width, dropout 0.5).
* ``standardize=False``: the papers train the linear layer on raw features.
* ``momentum=0.9``: the SGD momentum of the Distribution-Balanced loss recipe (used by ``sgd`` only).
* ``nan_policy="stop"``, ``nan_budget=10``: a non-finite loss stops the run (exit 1), as in every
  reference code base; ``skip`` (ours) skips up to ``nan_budget`` such batches (our choice of 10).
* ``empty_class="skip"``: classes with no positive are left out of the mean and counted
  (``"zero"`` reproduces the Cole/LL code, which counts them as AP 0).
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from partialml.errors import PartialMLError

OptimizerName = Literal["adam", "adamw", "sgd"]
HeadName = Literal["linear", "mlp", "cam"]
ValLabels = Literal["clean", "partial"]
DeviceName = Literal["auto", "cpu", "cuda"]
EmptyClass = Literal["skip", "zero"]
Setting = Literal["features", "end-to-end", "linear-init"]
#: Input presets of the end-to-end setting (``partialml.data.transforms.build_transforms``).
TransformPreset = Literal["ll", "robust-loss", "plain"]
AmpMode = Literal["off", "bf16", "fp16"]
OnBadImage = Literal["raise", "skip"]
Recipe = Literal["ll"]
SamplerChoice = Literal["uniform", "class-aware", "db"]
NanPolicy = Literal["stop", "skip"]
LLTopK = Literal["rank", "global"]
UnlistedLabels = Literal["unknown", "negative"]
#: The feature-data readers (``partialml.data.load_feature_data``'s ``format``).
#: and, for the end-to-end setting, the image-label readers (``partialml.data.read_image_labels``).
DataFormat = Literal[
    "auto", "mulan", "npz", "csv", "npy", "cole", "jsonl", "voc", "coco", "cub", "nus", "openimages"
]

#: Options that may differ between a run and its ``--resume``: they do not change the numbers.
RESUMABLE_CHANGES: frozenset[str] = frozenset(
    {"epochs", "device", "num_workers", "output_dir", "overwrite", "resume", "tensorboard"}
)


@dataclass
class TrainConfig:
    """Everything that defines a training run of the ``features`` setting.

    Every field is keyword-only data; see the module docstring for the provenance of each default.

    Attributes:
        data: a feature-data path or a builtin name (``yeast``, ``scene``, ``corel5k``); required to train.
        format: the reader of ``data``: ``auto`` (guessed from the path), ``mulan``, ``npz``, ``csv``,
            ``npy`` (a folder of ``train_features.npy`` ...) or ``cole``.
        partial: the partial-label scheme: ``full``, ``single-positive``, ``fraction:F``, ``fpc:N``,
            ``rps:P`` or ``given`` (the partial labels shipped with the data).
        partial_seed: seed of the partial-label simulation; ``None`` uses each simulator's default
            (1200 for ``single-positive``, Cole et al.'s, so that the protocol's standard labels come
            out; 0 for the others).
        loss: a registered loss name (``partialml losses`` lists them).
        loss_args: keyword options of the loss (``--loss-arg key=value``).
        epochs: number of epochs (>= 1); epochs are 0-indexed inside the trainer.
        lr: base learning rate (> 0).
        batch_size: training batch size (>= 1).
        optimizer: ``adam``, ``adamw`` or ``sgd``.
        weight_decay: weight decay of the head's parameters (>= 0).
        momentum: SGD momentum in ``[0, 1)``.
        head: ``linear`` (one ``nn.Linear``) or ``mlp`` (Linear-ReLU-Dropout-Linear).
        hidden_dim: width of the MLP's hidden layer.
        dropout: dropout probability of the MLP in ``[0, 1)``.
        standardize: standardize features with the training rows' mean and std.
        val_fraction: fraction of the training set held out for validation, in ``[0, 1)``; 0 disables
            validation (the last epoch is then the selected one).
        val_labels: score validation against the ``clean`` (full) labels or the ``partial`` observed ones.
        seed: the run seed: model initialization, the train/validation split and the batch order.
        early_stop_drop: stop when validation mAP falls this many points (0-100 scale) below the best;
            ``None`` disables it.
        head_lr_mult: learning-rate multiplier of the head's parameter group (the loss's own groups,
            such as ROLE's label estimates, set their own multiplier).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        num_workers: DataLoader worker processes feeding batches (0: batches are read in the main process).
        eval_batch_size: batch size of the scoring passes.
        output_dir: the run directory; required to train.
        overwrite: replace the run already in ``output_dir``.
        resume: continue the run in ``output_dir`` from ``checkpoints/last.pt``.
        empty_class: how mAP treats a class with no positive: ``skip`` or ``zero``.
        tensorboard: also write TensorBoard scalars (needs ``partialml[tensorboard]``).
        nan_policy: a NaN or infinite loss ``stop``-s the run (exit status 1), or ``skip`` skips the
            batch (no update) while fewer than ``nan_budget`` batches were skipped, then stops.
        nan_budget: how many bad batches ``skip`` may skip over the whole run (>= 0).
        long_tail: ``None`` or ``pareto[:ALPHA][,max=N][,min=N][,seed=N]``: the DB long-tail cut of the
            training split, applied before the partial-label scheme (:mod:`partialml.labels.long_tail`).
        sampler: ``uniform`` (default: a shuffled pass), ``class-aware`` or ``db`` re-balanced sampling
            (:mod:`partialml.data.samplers`); with ``ltml`` it picks the re-balanced branch's sampler.
        group_scale: scale of the head / medium / tail thresholds (100, 20) of ``group_mAP``; 1 = the
            papers'.
        setting: ``features`` (a head on precomputed features) or ``end-to-end`` (a backbone and a head on
            images; :mod:`partialml.engine.image_setting`, where the options below are documented) or
            ``linear-init`` (a linear head on the frozen backbone's features, then end-to-end fine-tuning
            from it; :mod:`partialml.engine.extract`). The end-to-end options apply to both.
        init_epochs: linear-init: epochs of phase 1 (Cole et al. CVPR 2021's LinearInit: 25).
        image_root: end-to-end: the folder the image paths of ``data`` are relative to.
        model: end-to-end: ``resnet18|34|50|101`` (torchvision) or ``timm:NAME``.
        weights: end-to-end: ``None`` (random init), ``imagenet`` (downloaded) or a local state-dict file.
        width: end-to-end: first-stage width of the torchvision ResNets (64 = torchvision's).
        image_size: end-to-end: input side in pixels (the LL recipe: 448).
        transforms: end-to-end: input preset ``ll``, ``robust-loss`` or ``plain``.
        amp: end-to-end: autocast ``bf16`` / ``fp16`` on CUDA (``off``: float32; ignored on CPU).
        channels_last: end-to-end: channels-last memory format for the model and the batches.
        on_bad_image: end-to-end: an unreadable image ``raise``-s, or is ``skip``-ped and reported.
        boost_alpha: end-to-end, ``head: cam``: BoostLU's boost of positive CAM values (BoostLU: 5).
        test_split: end-to-end: the test split: a split name of the format (default per format), a
            second label file for ``csv`` / ``jsonl``, or ``none``.
        unlisted: end-to-end, ``csv`` / ``jsonl`` label files: a class a line lists in neither of its
            columns is ``unknown`` (``-1``, default) or ``negative`` (``0``: a file of complete positives,
            which the simulated schemes can then reduce).
        ll_topk: under torchrun, the LL top-k over each rank's batch (``rank``, as the original code) or
            over the global batch (``global``, one all-gather per step); no effect in one process.
        recipe: ``ll``: the LL recipe's defaults (Adam, lr 1e-5, head 10x, batch 16, 10 epochs, 448,
            ``ll`` transforms, early stop at 3 points); the YAML file and the flags override it.
    """

    data: str | None = None
    format: DataFormat = "auto"
    partial: str = "single-positive"
    partial_seed: int | None = None
    loss: str = "an"
    loss_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 25
    lr: float = 1e-3
    batch_size: int = 16
    optimizer: OptimizerName = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    head: HeadName = "linear"
    hidden_dim: int = 512
    dropout: float = 0.5
    standardize: bool = False
    val_fraction: float = 0.2
    val_labels: ValLabels = "clean"
    seed: int = 0
    early_stop_drop: float | None = None
    head_lr_mult: float = 1.0
    device: DeviceName = "auto"
    num_workers: int = 0
    eval_batch_size: int = 1024
    output_dir: str | None = None
    overwrite: bool = False
    resume: bool = False
    empty_class: EmptyClass = "skip"
    tensorboard: bool = False
    nan_policy: NanPolicy = "stop"
    nan_budget: int = 10
    long_tail: str | None = None
    sampler: SamplerChoice = "uniform"
    group_scale: float = 1.0
    setting: Setting = "features"
    image_root: str | None = None
    model: str = "resnet50"
    weights: str | None = None
    width: int = 64
    image_size: int = 448
    transforms: TransformPreset = "ll"
    amp: AmpMode = "off"
    channels_last: bool = False
    on_bad_image: OnBadImage = "raise"
    boost_alpha: float = 5.0
    test_split: str | None = None
    unlisted: UnlistedLabels = "unknown"
    recipe: Recipe | None = None
    ll_topk: LLTopK = "rank"
    init_epochs: int = 25

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        """The configuration keys, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str | Path | None = None) -> TrainConfig:
        """Build from a mapping such as a parsed YAML file; dashes in keys are read as underscores."""
        return cls().updated(values, source=source)

    def updated(self, values: Mapping[str, Any], *, source: str | Path | None = None) -> TrainConfig:
        """A copy with ``values`` applied on top (each value type-checked), then :meth:`validate`-d."""
        hints = _field_types()
        current = self.to_dict()
        for raw_key, value in values.items():
            if not isinstance(raw_key, str):
                raise PartialMLError(f"configuration key {raw_key!r} is not a string", path=source)
            key = raw_key.replace("-", "_")
            if key not in hints:
                raise PartialMLError(
                    f"unknown configuration key {raw_key!r}; valid keys: {', '.join(self.field_names())}",
                    path=source,
                )
            current[key] = _coerce(key, value, hints[key], source)
        config = TrainConfig(**current)
        config.validate(source=source)
        return config

    def to_dict(self) -> dict[str, Any]:
        """Plain-data copy (YAML/JSON friendly); ``loss_args`` is copied."""
        out = dataclasses.asdict(self)
        out["loss_args"] = dict(self.loss_args)
        return out

    # -- validation ------------------------------------------------------------------------------------
    def validate(self, *, source: str | Path | None = None) -> None:
        """Check the ranges of the values; one :class:`PartialMLError` line naming the key."""

        def fail(key: str, expected: str) -> None:
            value = getattr(self, key)
            raise PartialMLError(f"{_option(key, source)}: got {value!r}; expected {expected}", path=source)

        if self.epochs < 1:
            fail("epochs", "an integer >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            fail("lr", "a positive number")
        if self.batch_size < 1:
            fail("batch_size", "an integer >= 1")
        if self.eval_batch_size < 1:
            fail("eval_batch_size", "an integer >= 1")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            fail("weight_decay", "a number >= 0")
        if not (0 <= self.momentum < 1):
            fail("momentum", "a number in [0, 1)")
        if self.hidden_dim < 1:
            fail("hidden_dim", "an integer >= 1")
        if not (0 <= self.dropout < 1):
            fail("dropout", "a number in [0, 1)")
        if not (0 <= self.val_fraction < 1):
            fail("val_fraction", "a number in [0, 1)")
        if self.early_stop_drop is not None and not (
            math.isfinite(self.early_stop_drop) and self.early_stop_drop > 0
        ):
            fail("early_stop_drop", "a positive number of mAP points, or null")
        if not (math.isfinite(self.head_lr_mult) and self.head_lr_mult > 0):
            fail("head_lr_mult", "a positive number")
        if self.num_workers < 0:
            fail("num_workers", "an integer >= 0")
        if self.init_epochs < 1:
            fail("init_epochs", "an integer >= 1 (epochs of linear-init's phase 1)")
        if self.seed < 0:
            fail("seed", "an integer >= 0")
        if self.nan_budget < 0:
            fail("nan_budget", "an integer >= 0")
        if self.partial_seed is not None and self.partial_seed < 0:
            fail("partial_seed", "an integer >= 0, or null")
        if self.long_tail is not None:
            from partialml.labels.long_tail import parse_long_tail

            parse_long_tail(self.long_tail)
        if not (math.isfinite(self.group_scale) and self.group_scale > 0):
            fail("group_scale", "a positive number")
        if self.width < 1:
            fail("width", "an integer >= 1")
        if self.image_size < 8:
            fail("image_size", "an integer >= 8 (pixels)")
        if not (math.isfinite(self.boost_alpha) and self.boost_alpha > 0):
            fail("boost_alpha", "a positive number (1 disables the boost)")
        if self.setting in ("end-to-end", "linear-init"):
            from partialml.engine.image_setting import check_image_options

            check_image_options(self, source=source)
            if self.setting == "linear-init" and self.head != "linear":
                fail("head", "linear with --setting linear-init (phase 1 trains a linear head)")
        elif self.head == "cam":
            raise PartialMLError("--head cam needs --setting end-to-end (a feature map)", path=source)
        if self.unlisted != "unknown" and self.setting == "features":
            fail("unlisted", "unknown with --setting features (it applies to csv / jsonl image label files)")
        if self.overwrite and self.resume:
            raise PartialMLError("--overwrite and --resume exclude each other; give one", path=source)
        for key, value in self.loss_args.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise PartialMLError(f"--loss-arg: {key!r} is not a valid option name", path=source)
            del value

    def require_for_training(self) -> None:
        """Check that the options needed to train (``data``, ``output_dir``) are there."""
        if self.setting in ("end-to-end", "linear-init") and not self.data:
            raise PartialMLError("--data is required: an image label file (csv, jsonl) or a dataset folder")
        if not self.data:
            raise PartialMLError("--data is required: a feature-data path or a builtin name (yeast, scene)")
        if not self.output_dir:
            raise PartialMLError("--output-dir is required: the run directory to write")

    def protocol_differences(self, other: TrainConfig) -> list[str]:
        """Keys whose values differ between two configs, ignoring :data:`RESUMABLE_CHANGES`."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in mine if k not in RESUMABLE_CHANGES and mine[k] != theirs[k]]


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _option(key: str, source: str | Path | None) -> str:
    """How an error names an option: the YAML key when the value came from a file (``source``), else
    the command-line flag."""
    return key if source is not None else _flag(key)


def _field_types() -> dict[str, Any]:
    return get_type_hints(TrainConfig)


def _coerce(key: str, value: Any, hint: Any, source: str | Path | None) -> Any:
    """Check ``value`` against the annotation ``hint``; ints are accepted for floats."""
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner, source)

    def fail(expected: str) -> Any:
        raise PartialMLError(f"{_option(key, source)}: got {value!r}; expected {expected}", path=source)

    if origin is Literal:
        if value not in args:
            fail("one of " + ", ".join(str(a) for a in args))
        return value
    if hint is bool:
        return value if isinstance(value, bool) else fail("true or false")
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else fail("an integer")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return fail("a number")
        return float(value)
    if hint is str:
        return value if isinstance(value, str) else fail("a string")
    if origin is dict:
        if not isinstance(value, Mapping):
            return fail("a mapping of option names to values")
        return dict(value)
    raise TypeError(f"no coercion for {key}: {hint!r}")  # pragma: no cover - a bug in TrainConfig


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML configuration file into a mapping (keys not checked yet)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PartialMLError(f"cannot read the configuration file: {exc.strerror}", path=p) from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise PartialMLError("not valid YAML", path=p, line=line) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise PartialMLError("expected a mapping of configuration keys to values", path=p)
    return values


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML file into a checked :class:`TrainConfig`."""
    return TrainConfig.from_mapping(load_config_file(path), source=path)


def resolve_config(
    *, config_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Defaults, then the YAML file, then ``overrides`` (the flags given on the command line).

    With ``resume`` the base is the run's own ``config.yaml`` instead of the defaults, so that only
    what is given again counts; a given value that would change the protocol (anything outside
    :data:`RESUMABLE_CHANGES`, for instance ``loss`` or ``seed``) is refused with the key named.
    """
    file_values = load_config_file(config_file) if config_file is not None else {}
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    recipe = flags.get("recipe", file_values.get("recipe"))
    base = _recipe_base(recipe).updated(file_values, source=config_file)
    config = base.updated(_merge_loss_args(base, flags))
    if not config.resume:
        return config
    if not config.output_dir:
        raise PartialMLError("--resume needs --output-dir, the run directory to continue")
    from partialml.engine.run_dir import RunDir

    run = RunDir(config.output_dir)
    run.check_available(overwrite=config.overwrite, resume=True)
    saved = load_config(run.config)
    base = saved.updated(file_values, source=config_file)
    resumed = base.updated({**_merge_loss_args(base, flags), "resume": True, "overwrite": False})
    changed = saved.protocol_differences(resumed)
    if changed:
        key = changed[0]
        raise PartialMLError(
            f"--resume: {_flag(key)} is {getattr(resumed, key)!r} but the run used "
            f"{getattr(saved, key)!r}; a resumed run keeps its protocol (only "
            f"{', '.join(_flag(k) for k in sorted(RESUMABLE_CHANGES))} may change)"
        )
    return resumed


def _recipe_base(recipe: Any) -> TrainConfig:
    """The defaults with a recipe's values on top (``recipe: ll``); plain defaults without one."""
    if recipe is None:
        return TrainConfig()
    from partialml.engine.image_setting import recipe_values

    return TrainConfig().updated({**recipe_values(recipe), "recipe": recipe})


def _merge_loss_args(base: TrainConfig, flags: dict[str, Any]) -> dict[str, Any]:
    """``--loss-arg`` flags add to (and override key by key) the loss options of the file."""
    if "loss_args" in flags and isinstance(flags["loss_args"], Mapping):
        return {**flags, "loss_args": {**base.loss_args, **flags["loss_args"]}}
    return flags


def dump_config(config: TrainConfig) -> str:
    """The YAML text of a config (keys in declaration order)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False)


__all__ = [
    "RESUMABLE_CHANGES",
    "AmpMode",
    "DataFormat",
    "DeviceName",
    "EmptyClass",
    "HeadName",
    "NanPolicy",
    "OnBadImage",
    "OptimizerName",
    "Recipe",
    "SamplerChoice",
    "Setting",
    "TrainConfig",
    "TransformPreset",
    "UnlistedLabels",
    "ValLabels",
    "dump_config",
    "load_config",
    "load_config_file",
    "resolve_config",
]
