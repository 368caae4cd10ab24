"""A scikit-learn estimator for multi-label classification from incomplete labels.

:class:`PartialLabelClassifier` trains partialml's ``features`` head (linear or MLP) with any registered
loss on an ``(N, D)`` feature matrix and ``(N, C)`` labels in ``{1, 0, -1}`` (``-1`` unknown). Training
runs in memory with the engine's building blocks (:func:`partialml.tools.memory.fit_prepared`: the same
steps as ``partialml train``, no run directory, no file); the partial labels are the given ones.

scikit-learn conventions: the constructor only stores its arguments; ``fit`` validates and sets
``classes_`` (``arange(C)``, the multi-label convention of ``OneVsRestClassifier``), ``n_features_in_``
and ``model_``; ``score`` is the mAP over known entries (a fraction, classes without a known positive
skipped). With the same ``seed`` two fits give the same model, and a fit leaves the global random
states as it found them.

scikit-learn checks: the estimator is multi-label only (``y`` must be 2-d), which its tags say
(``target_tags.multi_output``, ``target_tags.single_output = False``,
``classifier_tags.multi_label``). The common checks that fit on a 1-d ``y`` cannot apply; they are
listed with the reason in :data:`EXPECTED_FAILED_CHECKS`, to give to
``sklearn.utils.estimator_checks.parametrize_with_checks(..., expected_failed_checks=...)`` (the
mechanism of scikit-learn >= 1.6, replacing the ``_xfail_checks`` tag of ``_more_tags``).

Example:
    >>> import numpy as np
    >>> from partialml.sklearn import PartialLabelClassifier
    >>> X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    >>> Y = np.where(X[:, :2] > 0, 1, -1)  # observed positives, the rest unknown
    >>> clf = PartialLabelClassifier(loss="an", epochs=2).fit(X, Y)
    >>> clf.predict_proba(X).shape
    (40, 2)
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from partialml.errors import PartialMLError

ThresholdMode = Literal["default", "tuned"]

#: Common checks that cannot apply to a multi-label-only estimator, with the reason (sklearn 1.9 names).
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_estimators_dtypes": "fits y with values 0..3 (multiclass); labels must be in {1, 0, -1}",
    "check_classifier_data_not_an_array": "fits y with values 0..2 (multiclass); labels must be in {1, 0, -1}",
    "check_fit2d_1feature": "fits y with values 0..2: the label check fails before the 1-feature message",
    "check_classifiers_one_label": "expects a 1-d single-class y to fit or a 'one class' error message",
    "check_classifiers_classes": "1-d string / multiclass targets; multi-label only",
    "check_classifiers_train": "fits a 1-d multiclass y and checks predictions of shape (N,)",
    "check_classifiers_regression_target": "expects scikit-learn's 'Unknown label type' message on a float y",
    "check_decision_proba_consistency": "fits a 1-d y; multi-label only",
    "check_classifier_not_supporting_multiclass": "wants 'Only binary classification is supported.' for a "
    "multiclass y; the error here says what is supported instead: (N, C) labels in {1, 0, -1}",
}


def known_map_score(y_true: Any, y_score: Any) -> float:
    """mAP (a fraction) of ``(N, C)`` scores over the known entries of ``y_true`` (``-1`` left out per
    class; classes without a known positive skipped). For ``sklearn.metrics.make_scorer(...,
    response_method="predict_proba")``."""
    from partialml.metrics import mean_average_precision

    return float(mean_average_precision(np.asarray(y_score), np.asarray(y_true), empty_class="skip"))


class PartialLabelClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label classifier trained from incomplete labels (``1`` positive, ``0`` negative, ``-1`` unknown).

    Args (stored as given; defaults from :class:`~partialml.engine.TrainConfig` unless said):
        loss: a registered loss (``partialml losses``); ``"ll-r"`` (Kim et al., CVPR 2022) by default.
        loss_args: keyword options of the loss, e.g. ``{"delta_rel": 0.002}``.
        head: ``"linear"`` or ``"mlp"`` (``hidden_dim``, ``dropout``).
        epochs, lr, batch_size, optimizer, weight_decay: as in ``partialml train`` (25, 1e-3, 16, adam, 0).
        standardize: standardize the features with the training rows' statistics (default ``True`` here,
            unlike the papers' raw features, since scikit-learn inputs come in any scale).
        val_fraction: seeded validation split for the best epoch (``0.0``: no split, the last epoch).
            Validation scores the observed labels (``val_labels="partial"``; with no observed negative,
            unknowns count as negatives, Cole et al.'s observed validation).
        threshold: ``"default"`` (0.5) or ``"tuned"`` (per-class F1 on the validation split; needs
            ``val_fraction > 0``).
        seed: model initialization, split and batch order.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """

    def __init__(
        self,
        loss: str = "ll-r",
        loss_args: dict[str, Any] | None = None,
        head: Literal["linear", "mlp"] = "linear",
        *,
        epochs: int = 25,
        lr: float = 1e-3,
        batch_size: int = 16,
        optimizer: Literal["adam", "adamw", "sgd"] = "adam",
        weight_decay: float = 0.0,
        hidden_dim: int = 512,
        dropout: float = 0.5,
        standardize: bool = True,
        val_fraction: float = 0.0,
        threshold: ThresholdMode = "default",
        seed: int = 0,
        device: Literal["cpu", "cuda", "auto"] = "cpu",
    ) -> None:
        self.loss = loss
        self.loss_args = loss_args
        self.head = head
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.standardize = standardize
        self.val_fraction = val_fraction
        self.threshold = threshold
        self.seed = seed
        self.device = device

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = False
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.multi_class = False
        return tags

    # -- fitting ---------------------------------------------------------------------------------------
    def _config(self) -> Any:
        from partialml.engine.config import TrainConfig
        from partialml.engine.trainer import check_loss_options

        args = dict(self.loss_args or {})
        check_loss_options(self.loss, args)
        if self.threshold not in ("default", "tuned"):
            raise PartialMLError(f"threshold: got {self.threshold!r}; expected default or tuned")
        if self.threshold == "tuned" and not self.val_fraction > 0:
            raise PartialMLError("threshold='tuned' needs val_fraction > 0 (a validation split)")
        return TrainConfig(data="<memory>", partial="given", val_labels="partial").updated(
            {
                "loss": self.loss,
                "loss_args": args,
                "head": self.head,
                "epochs": self.epochs,
                "lr": self.lr,
                "batch_size": self.batch_size,
                "optimizer": self.optimizer,
                "weight_decay": self.weight_decay,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "standardize": self.standardize,
                "val_fraction": self.val_fraction,
                "seed": self.seed,
                "device": self.device,
            }
        )

    def fit(self, X: Any, y: Any) -> PartialLabelClassifier:
        """Train on ``X`` ``(N, D)`` and ``y`` ``(N, C)`` in ``{1, 0, -1}``; returns ``self``."""
        from partialml.engine.trainer import prepare_data
        from partialml.labels.encoding import validate_labels
        from partialml.tools.memory import fit_prepared, in_memory_data
        from partialml.tools.thresholds import DEFAULT_THRESHOLD, tune_thresholds

        X, y = validate_data(self, X, y, multi_output=True, dtype=np.float32, y_numeric=True, reset=True)
        y_arr = np.asarray(y)
        if y_arr.ndim != 2:
            raise PartialMLError(
                f"y has shape {y_arr.shape}; expected (N, C) labels in {{1, 0, -1}} (multi-label only)"
            )
        labels = validate_labels(y_arr, what="y").astype(np.int8)
        config = self._config()
        num_classes = labels.shape[1]
        names = [str(c) for c in range(num_classes)]
        prepared = prepare_data(config, in_memory_data(X, labels, class_names=names, name="sklearn"))
        fit = fit_prepared(config, prepared)
        self.model_ = fit.model.cpu().eval()
        self.best_epoch_ = fit.best_epoch
        self.history_ = fit.history
        self.classes_ = np.arange(num_classes)
        self.thresholds_ = np.full(num_classes, DEFAULT_THRESHOLD)
        if self.threshold == "tuned":
            self.thresholds_ = tune_thresholds(self._proba(X[prepared.val_rows]), prepared.val_labels)
        return self

    # -- prediction ------------------------------------------------------------------------------------
    @torch.no_grad()
    def _logits(self, X: np.ndarray) -> np.ndarray:
        out = self.model_(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)))
        return out.double().numpy()

    def _proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self._logits(X)))

    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(validate_data(self, X, dtype=np.float32, reset=False))

    def decision_function(self, X: Any) -> np.ndarray:
        """``(N, C)`` logits (float64)."""
        return self._logits(self._check_X(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(N, C)`` probabilities ``sigmoid(logit)`` (float64; each column its own class)."""
        return self._proba(self._check_X(X))

    def predict(self, X: Any) -> np.ndarray:
        """``(N, C)`` 0/1 int: probability ``>=`` the class threshold (``thresholds_``)."""
        return (self.predict_proba(X) >= self.thresholds_).astype(np.int64)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """mAP (fraction in [0, 1]) over the known entries of ``y`` (see :func:`known_map_score`)."""
        if sample_weight is not None:
            raise PartialMLError("score: sample_weight is not supported")
        return known_map_score(y, self.predict_proba(X))


__all__ = ["EXPECTED_FAILED_CHECKS", "PartialLabelClassifier", "known_map_score"]
