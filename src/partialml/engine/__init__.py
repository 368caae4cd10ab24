"""partialml.engine: configuration, the training loop, evaluation, checkpoints and the run directory.

Entry points: :class:`TrainConfig` (config as data), :class:`Trainer` / :func:`train` (the ``features``
setting), :func:`load_checkpoint` / :func:`save_checkpoint` (atomic, ``weights_only``-loadable),
:class:`RunDir` (the run directory and its rules).
"""

from partialml.engine.checkpoint import load_checkpoint, save_checkpoint
from partialml.engine.config import TrainConfig, dump_config, load_config, resolve_config
from partialml.engine.loaders import FeatureBatches
from partialml.engine.run_dir import RunDir
from partialml.engine.trainer import RunResult, Trainer, TrainingDivergedError, train, train_one_epoch

__all__ = [
    "FeatureBatches",
    "RunDir",
    "RunResult",
    "TrainConfig",
    "Trainer",
    "TrainingDivergedError",
    "dump_config",
    "load_checkpoint",
    "load_config",
    "resolve_config",
    "save_checkpoint",
    "train",
    "train_one_epoch",
]
