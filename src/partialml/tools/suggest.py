"""Missing-label suggestions: the unknown training entries a trained run finds most likely positive.

``partialml suggest --run DIR`` ranks every **unknown** (``-1``) entry of the run's training split by
the model's probability ``sigmoid(logit)``, best first, for feature and image runs (the sample names
are then the image paths of the label file). The observed labels are the run's: the
LabelStore of the checkpoint for the rows the model trained on (LL-Cp's corrections included: an entry
that LL-Cp turned positive is no longer unknown) and the partial scheme's labels for the validation rows.

Two ways of scoring:

* in-sample (default): the run's checkpoint scores every row. Rows it trained on are biased: a model
  that memorized "unknown = negative" (AN) scores exactly those entries low (Kim et al., CVPR 2022,
  the memorization effect), so the ranking is optimistic for nothing and pessimistic for them.
* out-of-fold (``folds=K``, K >= 2): the training split is cut into K seeded folds (a ``torch.randperm``
  of the rows from a generator seeded with the run seed, cut into K near-equal parts); for each fold the
  run's config (same loss, options, epochs, head, seed, validation protocol inside the other folds) is
  trained in memory on the other folds, from the same observed labels, and scores the fold. No entry
  is scored by a model that saw it. Feature runs only: for an image run this would be K trainings of
  the image model, and it is refused with one error line (extract features and train a features run).

The probabilities also go out in the layout of cleanlab's multi-label functions
(:func:`cleanlab_inputs`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from partialml.errors import PartialMLError


@dataclass
class TrainingScores:
    """Scores of a run's whole training split.

    Attributes:
        sample_names: ``N`` names, as ``partialml predict`` gives them (ids, or 0-based rows).
        class_names: ``C`` names.
        scores: ``(N, C)`` float32 probabilities.
        observed: ``(N, C)`` int8 observed labels (the run's LabelStore on its training rows).
        full: ``(N, C)`` int8 best labels of the data (for measurements), or ``None``.
        folds: the number of folds (``None`` for in-sample scores).
    """

    sample_names: list[str]
    class_names: list[str]
    scores: np.ndarray
    observed: np.ndarray
    full: np.ndarray | None
    folds: int | None


def _check_folds(folds: int | None) -> None:
    if folds is not None and (isinstance(folds, bool) or int(folds) != folds or folds < 2):
        raise PartialMLError(f"--folds: got {folds!r}; expected an integer >= 2")


def fold_rows(num_rows: int, folds: int, seed: int) -> list[np.ndarray]:
    """``folds`` disjoint sorted row sets covering ``range(num_rows)`` (seeded ``torch.randperm``)."""
    _check_folds(folds)
    if folds > num_rows:
        raise PartialMLError(f"--folds {folds}: more folds than the {num_rows} training rows")
    g = torch.Generator()
    g.manual_seed(int(seed))
    perm = torch.randperm(num_rows, generator=g).numpy()
    return [np.sort(part).astype(np.int64) for part in np.array_split(perm, folds)]


def training_scores(
    run: str | Path,
    *,
    folds: int | None = None,
    checkpoint: str = "best",
    device: str = "auto",
    batch_size: int = 1024,
) -> TrainingScores:
    """Probabilities of every training row of ``run``: in-sample, or out-of-fold with ``folds``.

    Any setting in-sample (image runs: the training images read with the run's test-time transforms,
    sample names their paths; :func:`partialml.engine.inference.prepare_run`). Out-of-fold scores train
    ``folds`` models in memory, which only the ``features`` setting does.

    Raises:
        PartialMLError: ``folds`` on an image run (``end-to-end``, ``linear-init``).
    """
    from partialml.engine.inference import is_image_run, load_run_model, prepare_run
    from partialml.labels import LabelStore

    _check_folds(folds)
    loaded = load_run_model(run, checkpoint=checkpoint, device=device)  # type: ignore[arg-type]
    config = loaded.config
    if folds is not None and is_image_run(loaded):
        raise PartialMLError(
            f"--folds: out-of-fold scores of an image run ({config.setting}) would train the image model "
            f"{folds} times; not supported (use in-sample scores, or `partialml extract-features` and a features "
            "run with --folds)",
            path=loaded.run_dir.path,
        )
    own = prepare_run(loaded)
    prepared = own.prepared
    store = LabelStore.from_state_dict(loaded.state["label_store"])
    if store.num_samples != len(prepared.train_rows) or store.class_names != prepared.class_names:
        raise PartialMLError(
            "the run's label store does not match its data any more (rows or class names differ)",
            path=loaded.run_dir.path,
        )
    observed = prepared.observed.copy()
    observed[prepared.train_rows] = store.to_dense().numpy().astype(np.int8)
    if folds is None:
        scores = own.scores("train", batch_size=None if own.images is not None else batch_size)
    else:
        scores = _out_of_fold(config, prepared, folds, device=device, batch_size=batch_size)
    full = prepared.full if (prepared.full >= 0).all() else None
    return TrainingScores(
        sample_names=own.sample_names,
        class_names=list(prepared.class_names),
        scores=np.asarray(scores, dtype=np.float32),
        observed=observed,
        full=full,
        folds=folds,
    )


def _out_of_fold(config: Any, prepared: Any, folds: int, *, device: str, batch_size: int) -> np.ndarray:
    from partialml.engine.evaluate import predict_scores
    from partialml.engine.trainer import prepare_data
    from partialml.tools.memory import fit_prepared, in_memory_data

    n = int(prepared.features.shape[0])
    features = prepared.features
    x_all = features.numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    fold_config = config.updated({"partial": "given", "partial_seed": None, "device": device})
    out = np.zeros((n, prepared.num_classes), dtype=np.float32)
    for held in fold_rows(n, folds, config.seed):
        mask = np.ones(n, dtype=bool)
        mask[held] = False
        rest = np.nonzero(mask)[0]
        data = in_memory_data(
            x_all[rest],
            prepared.observed[rest],
            full=prepared.full[rest],
            class_names=prepared.class_names,
            name=f"{prepared.name} (fold)",
        )
        fit = fit_prepared(fold_config, prepare_data(fold_config, data))
        dev = next(fit.model.parameters()).device
        out[held] = predict_scores(fit.model, features, held, batch_size=batch_size, device=dev).numpy()
    return out


@dataclass
class Suggestion:
    """One suggested missing label: ``sample`` name, ``class`` name, ``score`` (probability)."""

    sample: str
    class_name: str
    score: float
    row: int
    column: int


def check_ranking_options(*, top: int | None, per_class: int | None) -> None:
    """``top`` and ``per_class`` are ``None`` or integers >= 1 (one line naming the flag otherwise)."""
    for flag, value in (("--top", top), ("--per-class", per_class)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise PartialMLError(f"{flag}: got {value!r}; expected an integer >= 1")


def rank_unknown(
    scores: np.ndarray, observed: np.ndarray, *, top: int | None = None, per_class: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the unknown entries of ``observed`` by decreasing score (ties: row, then class).

    ``per_class`` keeps at most that many entries of each class (its best ones); ``top`` then keeps the
    first ``top`` of the merged ranking.
    """
    check_ranking_options(top=top, per_class=per_class)
    rows, cols = np.nonzero(np.asarray(observed) == -1)  # row-major: (row, class) order
    vals = np.asarray(scores, dtype=np.float64)[rows, cols]
    order = np.argsort(-vals, kind="stable")
    rows, cols = rows[order], cols[order]
    if per_class is not None:
        rank_in_class = np.zeros(len(cols), dtype=np.int64)
        seen: dict[int, int] = {}
        for i, c in enumerate(cols.tolist()):
            rank_in_class[i] = seen.get(c, 0)
            seen[c] = rank_in_class[i] + 1
        keep = rank_in_class < per_class
        rows, cols = rows[keep], cols[keep]
    if top is not None:
        rows, cols = rows[:top], cols[:top]
    return rows, cols


def suggest(
    scored: TrainingScores, *, top: int | None = None, per_class: int | None = None
) -> list[Suggestion]:
    """The ranked suggestions of :func:`rank_unknown` with names."""
    rows, cols = rank_unknown(scored.scores, scored.observed, top=top, per_class=per_class)
    return [
        Suggestion(
            sample=scored.sample_names[r],
            class_name=scored.class_names[c],
            score=float(scored.scores[r, c]),
            row=int(r),
            column=int(c),
        )
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
    ]


def suggestions_csv(suggestions: list[Suggestion]) -> str:
    """CSV text with the columns ``sample,class,score`` (score with 6 significant digits)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sample", "class", "score"])
    for s in suggestions:
        writer.writerow([s.sample, s.class_name, f"{s.score:.6g}"])
    return buf.getvalue()


def precision_at_k(scored: TrainingScores, k: int) -> float:
    """Share of the ``k`` best-ranked unknown entries that are truly positive (needs full labels)."""
    if scored.full is None:
        raise PartialMLError("precision@k needs the data's full labels")
    rows, cols = rank_unknown(scored.scores, scored.observed, top=k)
    return float((scored.full[rows, cols] == 1).mean()) if len(rows) else float("nan")


def random_baseline(scored: TrainingScores) -> float:
    """Expected precision of a random ranking: the share of unknown entries that are truly positive."""
    if scored.full is None:
        raise PartialMLError("the random baseline needs the data's full labels")
    unknown = scored.observed == -1
    return float((scored.full[unknown] == 1).mean()) if unknown.any() else float("nan")


def cleanlab_inputs(scores: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """``(pred_probs, labels)`` for ``cleanlab.filter.find_label_issues(labels, pred_probs, multi_label=True)``.

    ``pred_probs`` is ``(N, C)`` float32 (row ``i`` the probabilities of sample ``i``); ``labels[i]`` the
    sorted list of the class indices observed positive for sample ``i`` (unknown entries count as not
    positive, which is what cleanlab's multi-label format can express).
    """
    obs = np.asarray(observed)
    labels = [np.nonzero(row == 1)[0].tolist() for row in obs]
    return np.ascontiguousarray(scores, dtype=np.float32), labels


def write_cleanlab(path: str | Path, scored: TrainingScores) -> tuple[Path, Path]:
    """Write ``path`` (``.npy`` pred_probs) and ``path`` with ``.labels.json`` (the label lists).

    The JSON holds ``{"labels": [[...], ...], "class_names": [...], "sample_names": [...]}``.
    """
    from partialml.engine.checkpoint import atomic_write_bytes
    from partialml.engine.inference import write_text

    target = Path(path)
    if target.suffix != ".npy":
        raise PartialMLError("--cleanlab: expected a file name ending in .npy", path=target)
    probs, labels = cleanlab_inputs(scored.scores, scored.observed)
    buf = io.BytesIO()
    np.save(buf, probs)
    sidecar = target.with_suffix(".labels.json")
    try:
        atomic_write_bytes(target, buf.getvalue())
    except OSError as exc:
        raise PartialMLError(f"cannot write the file ({exc.strerror})", path=target) from None
    payload = {"labels": labels, "class_names": scored.class_names, "sample_names": scored.sample_names}
    write_text(sidecar, json.dumps(payload) + "\n")
    return target, sidecar


__all__ = [
    "Suggestion",
    "TrainingScores",
    "check_ranking_options",
    "cleanlab_inputs",
    "fold_rows",
    "precision_at_k",
    "random_baseline",
    "rank_unknown",
    "suggest",
    "suggestions_csv",
    "training_scores",
    "write_cleanlab",
]
