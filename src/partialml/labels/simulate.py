"""Seeded partial-label simulators: full labels ``(N, C)`` in ``{1, 0}`` -> observed ``(N, C)`` int8 in
``{1, 0, -1}``.

Every simulator is a pure function of its inputs and seed, returns a new NumPy int8 array, and keeps
observed positives a subset of the true positives and observed negatives a subset of the true negatives.

| simulator | protocol | paper / code |
|---|---|---|
| :func:`single_positive` | shuffle each row's positives with ``RandomState(seed)``, keep the first ``num_pos`` | Cole et al., CVPR 2021 (``preproc/generate_observed_labels.py``), used by LL (Kim et al., CVPR 2022) |
| :func:`fraction_left` | keep a fraction of the positives, at least one per sample | "X % labels left", Zhang et al. 2021 (robust-loss-mlml; their script is not released) |
| :func:`fix_per_class` | per class ``n`` random positives and ``n`` random negatives | FPC, Ben-Baruch et al. (CSL, ``coco_simulation.py``) |
| :func:`random_per_sample` | drop each annotation with probability ``p`` | RPS, Ben-Baruch et al. (CSL) |

Schemes as text (the CLI's ``--partial``): :func:`parse_scheme` and :func:`apply_scheme`.
See ``docs/protocols.md`` for the exact rules and the check against the real COCO lists.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from partialml.errors import PartialMLError
from partialml.labels.encoding import LABEL_DTYPE, NEGATIVE, POSITIVE, UNKNOWN, LabelsLike, validate_labels

FractionRule = Literal["robust-loss", "calibrated", "per-sample"]
SchemeKind = Literal["full", "single-positive", "fraction", "fpc", "rps", "given"]

#: Cole et al.'s seed for the single-positive labels (``generate_observed_labels.py --seed 1200``).
COLE_SEED = 1200


def _full(full: LabelsLike) -> np.ndarray:
    return validate_labels(full, allow_unknown=False, what="full labels")


def single_positive(
    full: LabelsLike, *, num_pos: int = 1, num_neg: int = 0, seed: int = COLE_SEED
) -> np.ndarray:
    """The Cole protocol (Cole et al., CVPR 2021): a few observed labels per sample, the rest unknown.

    With one ``np.random.RandomState(seed)`` and for each sample in file order: the indices of its
    positives are shuffled and the first ``num_pos`` kept as ``1``; then the indices of its negatives are
    shuffled and the first ``num_neg`` kept as ``0``; everything else is ``-1``. The negatives are
    shuffled even when ``num_neg == 0``, as in Cole's code, so that the same seed gives the same positives
    as their released files. ``num_pos = -1`` (``num_neg = -1``) keeps all of them.

    Rows with no positive stay all ``-1`` (plus ``num_neg`` negatives); Cole's COCO/VOC formatting drops
    such images beforehand. Rows with fewer than ``num_pos`` positives keep all of theirs.

    Args:
        full: ``(N, C)`` full labels in ``{1, 0}``.
        num_pos, num_neg: observed positives / negatives per sample (defaults 1 and 0: Cole's).
        seed: default 1200, Cole's.

    Example:
        >>> single_positive([[1, 1, 0], [0, 1, 0]]).tolist()  # doctest: +SKIP
        [[-1, 1, -1], [-1, 1, -1]]
    """
    arr = _full(full)
    for name, value in (("num_pos", num_pos), ("num_neg", num_neg)):
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise PartialMLError(f"{name} must be an integer >= 0 (or -1 for all), got {value!r}")
    rng = np.random.RandomState(seed)
    out = np.full(arr.shape, UNKNOWN, dtype=LABEL_DTYPE)
    for i in range(arr.shape[0]):
        pos = np.flatnonzero(arr[i] == POSITIVE)
        rng.shuffle(pos)
        out[i, pos if num_pos == -1 else pos[:num_pos]] = POSITIVE
        neg = np.flatnonzero(arr[i] == NEGATIVE)
        rng.shuffle(neg)
        out[i, neg if num_neg == -1 else neg[:num_neg]] = NEGATIVE
    return out


def _stochastic_round(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``floor(x) + Bernoulli(x - floor(x))``: an integer with expectation ``x``."""
    low = np.floor(x)
    return (low + (rng.random(x.shape) < (x - low))).astype(np.int64)


#: The grid of rates tried by the "robust-loss" rule of :func:`fraction_left`: multiples of 1/20.
ROBUST_LOSS_RATE_STEPS = 20


def _robust_loss_keep(n_pos: np.ndarray, target: float) -> np.ndarray:
    """Positives kept per sample under the "robust-loss" rule: ``min(n, 1 + floor(b * n))`` for ``n >= 1``
    (0 for ``n = 0``), with ``b = j / 20`` (``j = 0 .. 20``) the rate whose total is closest to ``target``
    (ties: the smaller rate). Integer arithmetic, so ``b * n`` on a grid point is exact."""
    n = n_pos.astype(np.int64)
    has = n > 0
    steps = ROBUST_LOSS_RATE_STEPS
    values, counts = np.unique(n[has], return_counts=True)
    j = np.arange(steps + 1)[:, None]
    totals = (np.minimum(values, 1 + (j * values) // steps) * counts).sum(axis=1)
    best = int(np.argmin(np.abs(totals - target)))  # first minimum: the smaller rate on ties
    keep = np.zeros_like(n)
    keep[has] = np.minimum(n[has], 1 + (best * n[has]) // steps)
    return keep


def fraction_left(
    full: LabelsLike,
    fraction: float,
    *,
    seed: int = 0,
    rule: FractionRule = "robust-loss",
    unlisted: Literal["unknown", "negative"] = "unknown",
) -> np.ndarray:
    """The "X % labels left" protocol (Zhang et al. 2021): keep a fraction of the positives, at least one
    per sample.

    Sample ``i`` with ``n_i >= 1`` positives keeps ``k_i`` of them, chosen uniformly without replacement
    with ``np.random.default_rng(seed)``; ``P`` is the number of positives in all, ``M`` the number of
    samples with a positive. ``k_i`` by ``rule``:

    * ``"robust-loss"`` (default): ``k_i = min(n_i, 1 + floor(b * n_i))`` with one rate ``b`` from the
      grid ``0, 0.05, ..., 1``, the one whose total ``sum(k_i)`` is closest to ``fraction * P`` (ties:
      the smaller). The generating script of Zhang et al. is not released; this form and this grid are
      inferred from their two COCO lists, which they reproduce exactly in the number of positives kept
      by every image (``b = 0.2`` for ``0.4left``, ``b = 0.5`` for ``0.75left``: 96,251 and 181,422
      positives; see ``docs/protocols.md``). The counts are deterministic (only the choice of positives
      is random); on small data the steps of ``floor`` can leave the share far from ``fraction``.
    * ``"calibrated"``: ``k_i = 1 + R(a * (n_i - 1))`` with stochastic rounding
      ``R(x) = floor(x) + Bernoulli(x - floor(x))`` and ``a = (fraction * P - M) / (P - M)``: one positive
      per sample, each further positive kept at rate ``a``, so that the expected share of all positives
      kept is exactly ``fraction`` (``a = 0`` if ``fraction * P < M``: one positive per sample).
    * ``"per-sample"``: ``k_i = max(1, R(fraction * n_i))``: each sample keeps a ``fraction`` of its own
      positives; the ``min 1`` lifts the overall share above ``fraction`` (46 % for 0.4 on COCO).

    ``fraction = 1`` keeps everything. Samples without a positive keep none.

    Args:
        full: ``(N, C)`` full labels in ``{1, 0}``.
        fraction: in ``(0, 1]``.
        seed: seeds ``np.random.default_rng``.
        rule: see above.
        unlisted: entries not kept become ``-1`` (``"unknown"``, default) or ``0`` (``"negative"``: what
            the robust-loss-mlml loss assumes for unlisted entries).

    Returns:
        ``(N, C)`` int8.
    """
    arr = _full(full)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise PartialMLError(f"fraction must be in (0, 1], got {fraction!r}")
    if rule not in ("robust-loss", "calibrated", "per-sample"):
        raise PartialMLError(f"unknown rule {rule!r}; expected 'robust-loss', 'calibrated' or 'per-sample'")
    if unlisted not in ("unknown", "negative"):
        raise PartialMLError(f"unlisted must be 'unknown' or 'negative', got {unlisted!r}")
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(arr == POSITIVE)  # sorted by row
    n_pos = np.bincount(rows, minlength=arr.shape[0])
    has = n_pos > 0
    keep = np.zeros(arr.shape[0], dtype=np.int64)
    total, samples = int(n_pos.sum()), int(has.sum())
    if rule == "robust-loss":
        keep = _robust_loss_keep(n_pos, fraction * total)
    elif rule == "calibrated":
        a = 1.0 if total == samples else max(0.0, (fraction * total - samples) / (total - samples))
        keep[has] = 1 + _stochastic_round(a * (n_pos[has] - 1), rng)
    else:
        keep[has] = np.maximum(1, _stochastic_round(fraction * n_pos[has], rng))
    keep = np.minimum(keep, n_pos)
    # a uniform random order of each row's positives: sort by (row, random key), rank within the row
    order = np.lexsort((rng.random(rows.size), rows))
    starts = np.concatenate(([0], np.cumsum(n_pos)[:-1]))
    rank = np.arange(rows.size) - starts[rows]  # rows[order] == rows, as rows is sorted
    chosen = order[rank < keep[rows]]
    out = np.full(arr.shape, UNKNOWN if unlisted == "unknown" else NEGATIVE, dtype=LABEL_DTYPE)
    out[rows[chosen], cols[chosen]] = POSITIVE
    return out


def fix_per_class(full: LabelsLike, n: int, *, seed: int = 0) -> np.ndarray:
    """CSL's FPC (fix-per-class; Ben-Baruch et al., ``simulate_coco``): per class keep ``n`` random
    positives and ``n`` random negatives (all of them where fewer exist), the rest ``-1``.

    For each class in order: ``choice(positive rows, min(n, #), replace=False)`` then the same for the
    negatives, with one ``np.random.RandomState(seed)`` (CSL uses the unseeded global NumPy RNG, whose
    calls these are). Samples may end with no positive at all (CSL's ``add_one_label`` is off).
    """
    arr = _full(full)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise PartialMLError(f"fpc count must be an integer >= 0, got {n!r}")
    rng = np.random.RandomState(seed)
    out = np.full(arr.shape, UNKNOWN, dtype=LABEL_DTYPE)
    for c in range(arr.shape[1]):
        for value in (POSITIVE, NEGATIVE):
            rows = np.flatnonzero(arr[:, c] == value)
            out[rng.choice(rows, min(n, rows.size), replace=False), c] = value
    return out


def random_per_sample(full: LabelsLike, p: float, *, seed: int = 0) -> np.ndarray:
    """CSL's RPS (random-per-sample; Ben-Baruch et al.): every annotation, positive or negative, becomes
    ``-1`` with probability ``p``; ``np.random.RandomState(seed).random_sample((N, C)) < p`` is the drop
    mask, as in CSL's ``np.random.random(S.shape) < param``."""
    arr = _full(full)
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise PartialMLError(f"rps drop probability must be in [0, 1], got {p!r}")
    out = arr.copy()
    out[np.random.RandomState(seed).random_sample(arr.shape) < p] = UNKNOWN
    return out


# -- schemes as text ---------------------------------------------------------------------------------------

_VALID_FORMS = (
    "full, single-positive, fraction:F (0 < F <= 1), fpc:N (integer N >= 1), rps:P (0 <= P < 1), given"
)
_NUMBER = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?\Z")


@dataclass(frozen=True)
class PartialScheme:
    """A partial-label scheme: ``kind`` and its parameter (``None`` for full, single-positive, given).

    ``str(scheme)`` gives the text form that :func:`parse_scheme` reads back.
    """

    kind: SchemeKind
    param: float | int | None = None

    def __str__(self) -> str:
        return self.kind if self.param is None else f"{self.kind}:{self.param}"


def parse_scheme(text: str) -> PartialScheme:
    """Parse ``"full"``, ``"single-positive"``, ``"fraction:0.4"``, ``"fpc:1000"``, ``"rps:0.5"`` or
    ``"given"`` (case and surrounding spaces ignored).

    Raises:
        PartialMLError: naming the text and listing the valid forms.
    """
    if not isinstance(text, str):
        raise PartialMLError(
            f"partial-label scheme must be text, got {text!r}; expected one of: {_VALID_FORMS}"
        )
    kind, colon, value = text.strip().lower().partition(":")
    kind, value = kind.strip(), value.strip()
    bad = PartialMLError(f"partial-label scheme {text!r} is not valid; expected one of: {_VALID_FORMS}")
    if kind in ("full", "single-positive", "given"):
        if colon:
            raise bad
        return PartialScheme(kind)  # type: ignore[arg-type]
    if kind not in ("fraction", "fpc", "rps") or not colon or not value:
        raise bad
    if kind == "fpc":
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            raise bad
        return PartialScheme("fpc", int(value))
    if not _NUMBER.match(value):
        raise bad
    number = float(value)
    if (kind == "fraction" and not 0 < number <= 1) or (kind == "rps" and not 0 <= number < 1):
        raise bad
    return PartialScheme(kind, number)  # type: ignore[arg-type]


def apply_scheme(
    scheme: PartialScheme | str,
    full: LabelsLike | None,
    *,
    given: LabelsLike | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Observed labels ``(N, C)`` int8 for ``scheme``.

    Args:
        scheme: a :class:`PartialScheme` or its text form.
        full: ``(N, C)`` full labels in ``{1, 0}``; may be ``None`` only for ``given``.
        given: the labels as read from the file, required by ``given`` (checked, returned as a copy).
        seed: ``None`` uses each simulator's default seed: 1200 for ``single-positive`` (Cole's, so
            that the protocol's standard labels come out), 0 for the others.
    """
    sch = parse_scheme(scheme) if isinstance(scheme, str) else scheme
    if sch.kind == "given":
        if given is None:
            raise PartialMLError("partial-label scheme 'given' needs the labels as read from the file")
        out = validate_labels(given, what="given labels").copy()
        if full is not None and _full(full).shape != out.shape:
            raise PartialMLError(f"given labels have shape {out.shape}, full labels {np.shape(full)}")
        return out
    if full is None:
        raise PartialMLError(f"partial-label scheme '{sch}' needs full labels to simulate from")
    extra: dict[str, Any] = {} if seed is None else {"seed": seed}
    if sch.kind == "full":
        return _full(full).copy()
    if sch.kind == "single-positive":
        return single_positive(full, **extra)
    if sch.kind == "fraction":
        return fraction_left(full, float(_param(sch)), **extra)
    if sch.kind == "fpc":
        return fix_per_class(full, int(_param(sch)), **extra)
    if sch.kind == "rps":
        return random_per_sample(full, float(_param(sch)), **extra)
    raise PartialMLError(f"unknown partial-label scheme {sch.kind!r}; expected one of: {_VALID_FORMS}")


def _param(scheme: PartialScheme) -> float | int:
    if scheme.param is None or (isinstance(scheme.param, float) and not math.isfinite(scheme.param)):
        raise PartialMLError(
            f"partial-label scheme {scheme.kind!r} needs a parameter; expected one of: {_VALID_FORMS}"
        )
    return scheme.param
