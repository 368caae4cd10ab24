"""The method-comparison runner: every (data, partial scheme, method, seed) combination, over seeds.

One run is :func:`run_one`: a :class:`~partialml.engine.TrainConfig` built from the method's preset
(:mod:`partialml.engine.presets`) and the bench's overrides, trained by the ordinary
:class:`~partialml.engine.Trainer` (so every number comes from the same code as ``partialml train``),
and reduced to one plain record (:data:`RECORD_KEYS`).

Protocol of each run (what a record states):

* ``seed`` drives the train/validation split (a seeded 20 % of the training set), the head's
  initialization and the batch order (the trainer's run seed).
* the partial labels are simulated with ``partial_seed = PARTIAL_SEED_BASE + seed``: seed 0 gives the
  single-positive labels of Cole et al.'s standard seed 1200, and each seed draws its own labels.
* method ``full`` trains loss ``bce`` on the full labels (scheme ``full``): the upper bound of the
  gap; method ``an`` (assume negative) is its lower bound.
* model selection: the best epoch by validation mAP against the labels of ``val_labels`` (``clean``:
  the full labels, the papers' protocol); the test split is scored once, at that epoch, with its full
  labels. Test data never chooses anything.

:func:`run_bench` runs a list of :class:`RunSpec` (inline for one job; in ``jobs`` spawned worker
processes otherwise, each with ``torch.set_num_threads(threads)``, ``jobs * threads <= cores``) and
appends each finished record as one JSON line to the results file (flushed and fsync-ed), so an
interrupted bench keeps its finished runs and ``resume=True`` skips them (by :meth:`RunSpec.key`).

:func:`summarize` gives, per (dataset, partial, method), the mean and the sample standard deviation
(``ddof=1``; ``None`` for one seed) of test and validation mAP (0-100) over seeds, and the **gap
recovered** in percent: ``100 * (m - m_AN) / (m_full - m_AN)`` with ``m`` the seed-mean test mAP
(0 % = AN, 100 % = full labels; ``None`` when ``full`` or ``an`` is missing or they are equal).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partialml.errors import PartialMLError

#: The partial labels of seed ``s`` are simulated with seed ``PARTIAL_SEED_BASE + s`` (Cole's 1200 for s=0).
PARTIAL_SEED_BASE = 1200
#: The method name of the full-label upper bound (trained with loss ``bce`` on scheme ``full``).
FULL = "full"
#: The keys of one result record.
RECORD_KEYS = (
    "key",
    "dataset",
    "data",
    "partial",
    "partial_seed",
    "method",
    "loss",
    "loss_args",
    "seed",
    "val_mAP",
    "test_mAP",
    "best_epoch",
    "epochs",
    "lr",
    "batch_size",
    "head",
    "val_labels",
    "preset",
    "seconds",
)


def dataset_name(data: str) -> str:
    """The name a dataset is keyed by: a builtin name as given, else the last part of the path."""
    p = Path(data)
    return p.stem if p.suffix else p.name


@dataclass(frozen=True)
class RunSpec:
    """One run of the comparison.

    Attributes:
        data: a feature-data path or a builtin name.
        partial: the partial scheme of the method runs (``full`` is forced for method ``full``).
        method: ``full`` or a registered loss name.
        seed: the run seed (split, init, batch order); the partial labels use
            ``PARTIAL_SEED_BASE + seed``.
        overrides: :class:`TrainConfig` keys applied on top of the preset (``epochs``, ``lr``, ...).
        loss_args: loss options applied on top of the preset's.
        tag: an optional label appended to the method in the key (a grid point of a search).
        use_presets: take lr / epochs / loss options from the presets (else the TrainConfig defaults).
    """

    data: str
    partial: str
    method: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    loss_args: dict[str, Any] = field(default_factory=dict)
    tag: str = ""
    use_presets: bool = True

    @property
    def label(self) -> str:
        """The method as shown in tables: the method name, plus ``[tag]`` when tagged."""
        return f"{self.method}[{self.tag}]" if self.tag else self.method

    def key(self) -> str:
        """``dataset|partial|method[tag]|seed``: what ``--resume`` matches finished runs by."""
        return f"{dataset_name(self.data)}|{self.partial}|{self.label}|{self.seed}"


def make_specs(
    *,
    data: Sequence[str],
    partials: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int],
    overrides: dict[str, Any] | None = None,
) -> list[RunSpec]:
    """The full grid data x partial x method x seed, in that nesting order."""
    return [
        RunSpec(data=d, partial=p, method=m, seed=s, overrides=dict(overrides or {}))
        for d in data
        for p in partials
        for m in methods
        for s in seeds
    ]


def build_config(spec: RunSpec, *, output_dir: str | Path) -> tuple[Any, str]:
    """The :class:`TrainConfig` of a spec and the preset's source (``"presets.yaml:<dataset>"`` ...)."""
    from partialml.engine.config import TrainConfig
    from partialml.engine.presets import preset_for

    is_full = spec.method == FULL
    loss = "bce" if is_full else spec.method
    values: dict[str, Any] = {}
    loss_args: dict[str, Any] = {}
    source = "none"
    if spec.use_presets:
        preset = preset_for(dataset_name(spec.data), spec.method)
        values.update(preset.train)
        loss_args.update(preset.loss_args)
        source = preset.source
    values.update(spec.overrides)
    loss_args.update(spec.loss_args)
    if loss == "em-apl" and "num_epochs" not in loss_args:  # APL's schedule spans the run's epochs
        loss_args["num_epochs"] = int(values.get("epochs", 25))
    values.update(
        {
            "data": spec.data,
            "partial": "full" if is_full else spec.partial,
            "partial_seed": PARTIAL_SEED_BASE + spec.seed,
            "loss": loss,
            "loss_args": loss_args,
            "seed": spec.seed,
            "output_dir": str(output_dir),
            "overwrite": True,
            "resume": False,
        }
    )
    return TrainConfig().updated(values), source


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)


_DATA_CACHE: dict[tuple[str, str], Any] = {}


def _cached_data(data: str, fmt: str) -> Any:
    from partialml.engine.trainer import load_data

    key = (data, fmt)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one dataset at a time per process
        _DATA_CACHE[key] = load_data(data, format=fmt)
    return _DATA_CACHE[key]


def run_one(spec: RunSpec, *, runs_dir: str | Path, keep_checkpoints: bool = False) -> dict[str, Any]:
    """Train one spec and return its record (see the module docstring); data is read once per process.

    The run directory is ``runs_dir/<key>``; its checkpoints are removed afterwards unless
    ``keep_checkpoints`` (``metrics.json``, ``history.csv`` and ``config.yaml`` stay).
    """
    import shutil

    from partialml.engine.trainer import Trainer, effective_partial_seed

    out = run_dir_of(runs_dir, spec)
    config, source = build_config(spec, output_dir=out)
    t0 = time.perf_counter()
    assert config.data is not None
    # feature data is read once per process; the image settings read their label files themselves
    data = _cached_data(config.data, config.format) if config.setting == "features" else None
    result = Trainer(config, show_progress=False, data=data).fit()
    seconds = time.perf_counter() - t0
    if not keep_checkpoints:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    m = result.metrics
    val, test = m.get("val") or {}, m.get("test") or {}
    return {
        "key": spec.key(),
        "dataset": dataset_name(spec.data),
        "data": spec.data,
        "partial": spec.partial,
        "partial_seed": effective_partial_seed(config.partial, config.partial_seed),
        "method": spec.label,
        "loss": config.loss,
        "loss_args": dict(config.loss_args),
        "seed": spec.seed,
        "val_mAP": val.get("mAP"),
        "test_mAP": test.get("mAP"),
        "best_epoch": int(m["best_epoch"]),
        "epochs": config.epochs,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "head": config.head,
        "val_labels": config.val_labels,
        "preset": source,
        "seconds": round(seconds, 3),
        "run_dir": str(out),
    }


#: The record fields a resumed bench must share with the finished runs it keeps (the key names the data,
#: partial scheme, method and seed; these are the settings that change a result under the same key).
RESUME_SETTINGS = ("loss", "loss_args", "epochs", "lr", "batch_size", "head", "val_labels")


def _check_resumed(done: dict[str, dict[str, Any]], specs: Sequence[RunSpec], out: Path) -> None:
    """Refuse to resume when a finished run in ``out`` was made with other settings than its spec asks
    for now (``--epochs``, ``--lr``, ``--loss-arg`` ...): its record would be averaged with new ones."""
    for spec in specs:
        record = done.get(spec.key())
        if record is None:
            continue
        config, _ = build_config(spec, output_dir=".")
        for name in RESUME_SETTINGS:
            if name not in record:  # a record written before the field existed
                continue
            wanted = json.loads(json.dumps(getattr(config, name), default=str))
            if record[name] != wanted:
                raise PartialMLError(
                    f"the finished run {spec.key()} was made with {name}={record[name]!r}, this bench asks "
                    f"for {name}={wanted!r}; give --overwrite to start over, or another --output",
                    path=out,
                )


def run_dir_of(runs_dir: str | Path, spec: RunSpec) -> Path:
    """The run directory of ``spec`` under ``runs_dir`` (its key, made file-name safe)."""
    return Path(runs_dir) / _safe(spec.key().replace("|", "__"))


# -- results file ------------------------------------------------------------------------------------------


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSONL results file; a truncated last line (an interrupted write) is dropped."""
    p = Path(path)
    if not p.is_file():
        return []
    lines = p.read_text(encoding="utf-8").splitlines()
    records: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise PartialMLError(
                "not a JSON record; expected one JSON object per line", path=p, line=i + 1
            ) from None
        if not isinstance(rec, dict) or "key" not in rec:
            raise PartialMLError("expected a JSON object with a 'key'", path=p, line=i + 1)
        records.append(rec)
    return records


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line and flush it to disk (fsync), so a finished run survives an interruption."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _worker_run(spec: RunSpec, runs_dir: str, keep: bool) -> dict[str, Any]:
    return run_one(spec, runs_dir=runs_dir, keep_checkpoints=keep)


def plan_jobs(jobs: int | None, num_runs: int, cores: int | None = None) -> tuple[int, int]:
    """``(jobs, threads)`` with ``jobs * threads <= cores``: jobs default to the cores (at most the runs)."""
    cores = max(1, cores if cores is not None else (os.cpu_count() or 1))
    if jobs is not None and jobs < 1:
        raise PartialMLError(f"--jobs: got {jobs}; expected an integer >= 1")
    j = max(1, min(jobs if jobs is not None else cores, max(num_runs, 1)))
    return j, max(1, cores // j)


def run_bench(
    specs: Sequence[RunSpec],
    *,
    output: str | Path,
    runs_dir: str | Path,
    jobs: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    keep_checkpoints: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every spec not already in ``output`` (with ``resume``) and return all records of the specs.

    Raises:
        PartialMLError: ``output`` exists and neither ``resume`` nor ``overwrite`` is given, or two
            specs share a key.
    """
    out = Path(output)
    if resume and overwrite:
        raise PartialMLError("--resume and --overwrite exclude each other; give one")
    keys = [s.key() for s in specs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise PartialMLError(f"the run {dup!r} is listed twice; give each data/partial/loss/seed once")
    if out.exists() and not (resume or overwrite):
        raise PartialMLError("the results file exists; give --resume to continue it or --overwrite", path=out)
    if overwrite and out.exists():
        out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {r["key"]: r for r in read_records(out)} if resume else {}
    _check_resumed(done, specs, out)
    todo = [s for s in specs if s.key() not in done]
    finished: dict[str, dict[str, Any]] = dict(done)

    def accept(rec: dict[str, Any]) -> None:
        append_record(out, rec)
        finished[rec["key"]] = rec
        if on_record is not None:
            on_record(rec)

    n_jobs, threads = plan_jobs(jobs, len(todo))
    if n_jobs == 1:
        for spec in todo:
            accept(run_one(spec, runs_dir=runs_dir, keep_checkpoints=keep_checkpoints))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # Group by dataset so that each worker mostly reuses its cached data.
        ordered = sorted(todo, key=lambda s: (s.data, s.partial))
        with ProcessPoolExecutor(
            max_workers=n_jobs,
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(threads,),
        ) as pool:
            futures = [pool.submit(_worker_run, s, str(runs_dir), keep_checkpoints) for s in ordered]
            for fut in as_completed(futures):
                accept(fut.result())
    return [finished[k] for k in keys if k in finished]


# -- summary -----------------------------------------------------------------------------------------------


@dataclass
class SummaryRow:
    """Mean and sample std over seeds of one (dataset, partial, method)."""

    dataset: str
    partial: str
    method: str
    n: int
    test_mean: float | None
    test_std: float | None
    val_mean: float | None
    val_std: float | None
    gap_recovered: float | None = None
    seeds: list[int] = field(default_factory=list)


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``ddof=1``; ``None`` for fewer than 2 values)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)


def summarize(records: Sequence[dict[str, Any]]) -> list[SummaryRow]:
    """One :class:`SummaryRow` per (dataset, partial, method), in first-seen order, with the gap column.

    The gap recovered is ``100 * (m - m_an) / (m_full - m_an)`` on seed-mean test mAPs, where ``full``
    is looked up in the same dataset (any partial: it does not depend on the scheme) and ``an`` in the
    same dataset and partial.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault((rec["dataset"], rec["partial"], rec["method"]), []).append(rec)
    rows: list[SummaryRow] = []
    for (ds, partial, method), recs in groups.items():
        tm, ts = mean_std(r.get("test_mAP") for r in recs)
        vm, vs = mean_std(r.get("val_mAP") for r in recs)
        rows.append(
            SummaryRow(ds, partial, method, len(recs), tm, ts, vm, vs, None, [r["seed"] for r in recs])
        )
    full = {r.dataset: r.test_mean for r in rows if r.method == FULL and r.test_mean is not None}
    an = {(r.dataset, r.partial): r.test_mean for r in rows if r.method == "an" and r.test_mean is not None}
    for r in rows:
        lo, hi = an.get((r.dataset, r.partial)), full.get(r.dataset)
        if r.test_mean is not None and lo is not None and hi is not None and hi != lo:
            r.gap_recovered = 100.0 * (r.test_mean - lo) / (hi - lo)
    return rows


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.2f} +- {std:.2f}" if std is not None else f"{mean:.2f}"


def format_table(rows: Sequence[SummaryRow], *, markdown: bool = False) -> str:
    """The summary as text (or a Markdown table): one block per (dataset, partial)."""
    header = ["dataset", "partial", "method", "seeds", "test mAP", "val mAP", "gap recovered %"]
    body = [
        [
            r.dataset,
            r.partial,
            r.method,
            str(r.n),
            _pm(r.test_mean, r.test_std),
            _pm(r.val_mean, r.val_std),
            "n/a" if r.gap_recovered is None else f"{r.gap_recovered:.1f}",
        ]
        for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


__all__ = [
    "FULL",
    "PARTIAL_SEED_BASE",
    "RECORD_KEYS",
    "RunSpec",
    "SummaryRow",
    "append_record",
    "build_config",
    "dataset_name",
    "format_table",
    "make_specs",
    "mean_std",
    "plan_jobs",
    "read_records",
    "run_bench",
    "run_one",
    "summarize",
]
