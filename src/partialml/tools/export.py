"""Exported models: safetensors weights plus a JSON sidecar, and :func:`load_exported` to use them.

``partialml export --run DIR --output model.safetensors`` writes

* ``model.safetensors``: the model's ``state_dict`` (the standardization statistics are buffers of the
  model, ``standardize.mean`` / ``standardize.std``, so they travel with the weights);
* ``model.json`` (:func:`sidecar_path`: ``.safetensors`` replaced by ``.json``; ``model.pt.json`` for
  ``model.pt``): ``format`` (:data:`EXPORT_FORMAT`), ``kind``
  (``features-head``), ``partialml_version``, ``class_names``, ``in_dim``, ``num_classes``, ``head``
  (``{"type", "hidden_dim", "dropout"}``), ``standardize``, ``thresholds`` (per class) with their
  ``threshold_source`` (``tuned`` on the run's validation split, or ``default`` 0.5), the run's
  ``protocol`` (from ``metrics.json``), ``checkpoint``, ``epoch``, the weights' file name and SHA-256.

``--format torchscript`` (any run, image models included) writes the traced logit module
(``torch.jit.trace`` in eval mode, float32, CPU) instead, with the same sidecar, ``kind`` ``torchscript``
and ``input_shape`` (``[null, D]`` for features, ``[null, 3, S, S]`` for images, which must be
preprocessed as the run's test-time transforms say: ``transforms`` and ``image_size`` in the sidecar).
``--format onnx`` needs the ``onnx`` package (a one-line error names it otherwise) and writes an ONNX
graph; it is loaded with onnxruntime, not with :func:`load_exported`. Loaders of other kinds plug in
through :data:`LOADERS`: a loader takes the sidecar's metadata and the weights path and returns the
``(B, ...) -> (B, C)`` logit module; its ``kind`` string names it in the sidecar.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor, nn

from partialml.errors import PartialMLError, PartialMLWarning, refuse_existing

EXPORT_FORMAT = "partialml-export-1"
FEATURES_KIND = "features-head"
TORCHSCRIPT_KIND = "torchscript"
ONNX_KIND = "onnx"
ThresholdChoice = Literal["tuned", "default"]
ExportFormat = Literal["safetensors", "torchscript", "onnx"]


def sidecar_path(weights: str | Path) -> Path:
    """``model.safetensors`` -> ``model.json``; any other weights file gets ``.json`` appended
    (``model.pt`` -> ``model.pt.json``, ``model.onnx`` -> ``model.onnx.json``), so that exports of one run
    in several formats side by side each keep their own sidecar."""
    p = Path(weights)
    return p.with_suffix(".json") if p.suffix == ".safetensors" else p.with_name(p.name + ".json")


def _find_sidecar(path: Path) -> Path:
    """The sidecar of ``path`` (a weights file or a sidecar); for a TorchScript or ONNX file also the
    ``model.json`` name that partialml 0.x wrote, when that sidecar names this file."""
    if path.suffix == ".json":
        return path
    sidecar = sidecar_path(path)
    legacy = path.with_suffix(".json")
    if not sidecar.is_file() and path.suffix != ".safetensors" and legacy.is_file():
        try:
            if json.loads(legacy.read_text(encoding="utf-8")).get("weights") == path.name:
                return legacy
        except (OSError, ValueError, AttributeError):
            pass
    return sidecar


def _features_loader(meta: dict[str, Any], weights: Path) -> nn.Module:
    from safetensors.torch import load_file

    from partialml.models.heads import build_feature_classifier

    state = load_file(str(weights))
    head = meta["head"]
    std = (state["standardize.mean"], state["standardize.std"]) if meta.get("standardize") else (None, None)
    model = build_feature_classifier(
        head["type"],
        in_dim=int(meta["in_dim"]),
        num_classes=int(meta["num_classes"]),
        hidden_dim=int(head["hidden_dim"]),
        dropout=float(head["dropout"]),
        mean=std[0],
        std=std[1],
    )
    model.load_state_dict(state)
    return model


#: Model kinds the loader knows: ``kind`` (the sidecar's) -> builder of the logit module.
LOADERS: dict[str, Callable[[dict[str, Any], Path], nn.Module]] = {
    FEATURES_KIND: _features_loader,
    TORCHSCRIPT_KIND: lambda meta, weights: cast(nn.Module, torch.jit.load(str(weights), map_location="cpu")),
}


@dataclass
class ExportedModel:
    """A loaded export: ``predict_proba``, ``predict`` (per-class thresholds) and ``class_names``.

    Example:
        >>> model = partialml.load("model.safetensors")  # doctest: +SKIP
        >>> model.predict_proba(x).shape  # (N, C) float32   # doctest: +SKIP
    """

    module: nn.Module
    metadata: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata["class_names"])

    @property
    def thresholds(self) -> np.ndarray:
        """``(C,)`` float64 thresholds (``predict`` is ``predict_proba(x) >= thresholds``)."""
        return np.asarray(self.metadata["thresholds"], dtype=np.float64)

    @property
    def in_dim(self) -> int:
        return int(self.metadata["in_dim"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input: ``(D,)`` features, or ``(3, S, S)`` preprocessed images."""
        shape = self.metadata.get("input_shape")
        return tuple(int(v) for v in shape[1:]) if shape else (self.in_dim,)

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray | Tensor, *, batch_size: int = 4096) -> np.ndarray:
        """``(N, D)`` features (or ``(N, 3, S, S)`` images, see :attr:`input_shape`) -> ``(N, C)`` float32
        probabilities (on the module's device, by batches)."""
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
        expected = self.input_shape
        if tuple(t.shape[1:]) != expected or t.ndim != len(expected) + 1:
            raise PartialMLError(
                f"inputs have shape {tuple(t.shape)}; expected (N, {', '.join(map(str, expected))})"
            )
        param = next(self.module.parameters())
        self.module.eval()
        parts = [
            torch.sigmoid(self.module(t[i : i + batch_size].to(param.device, torch.float32)).float()).cpu()
            for i in range(0, t.shape[0], batch_size)
        ]
        if not parts:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        return torch.cat(parts).numpy()

    def predict(self, x: np.ndarray | Tensor) -> np.ndarray:
        """``(N, C)`` int8 0/1: probability ``>=`` the class's threshold."""
        return (self.predict_proba(x) >= self.thresholds).astype(np.int8)

    def to(self, device: str | torch.device) -> ExportedModel:
        self.module.to(device)
        return self


def export_run(
    run: str | Path,
    output: str | Path,
    *,
    checkpoint: str = "best",
    thresholds: ThresholdChoice = "tuned",
    format: ExportFormat = "safetensors",
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write ``output`` (safetensors) and its ``.json`` sidecar (:func:`sidecar_path`) from ``run``'s
    checkpoint. Existing files are refused unless ``overwrite``.

    ``thresholds="tuned"`` tunes per-class thresholds on the run's validation split, for feature and
    image runs alike (:func:`~partialml.tools.thresholds.run_thresholds`; falls back to 0.5 for every
    class when the run has none); ``"default"`` writes 0.5 everywhere. Returns both paths.
    """
    from safetensors.torch import save

    import partialml
    from partialml.engine.checkpoint import atomic_write_bytes
    from partialml.engine.inference import load_run_model, write_text
    from partialml.tools.thresholds import DEFAULT_THRESHOLD, run_thresholds

    target = Path(output)
    if format not in ("safetensors", "torchscript", "onnx"):
        raise PartialMLError(f"--format: got {format!r}; expected safetensors, torchscript or onnx")
    if format == "onnx":
        import importlib.util

        if importlib.util.find_spec("onnx") is None:
            raise PartialMLError("--format onnx: the onnx package is not installed; pip install onnx")
    if format == "safetensors" and target.suffix != ".safetensors":
        raise PartialMLError("--output: expected a file name ending in .safetensors", path=target)
    if format != "safetensors" and target.suffix in (".json", ".safetensors"):
        raise PartialMLError(f"--output: a {format} file needs another extension (.pt, .onnx)", path=target)
    if thresholds not in ("tuned", "default"):
        raise PartialMLError(f"--thresholds: got {thresholds!r}; expected tuned or default")
    sidecar = sidecar_path(target)
    refuse_existing(target, sidecar, overwrite=overwrite)
    loaded = load_run_model(run, checkpoint=checkpoint, device="cpu")  # type: ignore[arg-type]
    meta = loaded.state["meta"]
    image_run = meta.get("setting", "features") != "features"
    if image_run and format == "safetensors":
        raise PartialMLError(
            f"export: a {meta.get('setting')} run (an image model) exports with --format torchscript or onnx"
        )
    num_classes = int(meta["num_classes"])
    values = np.full(num_classes, DEFAULT_THRESHOLD)
    source = "default"
    if thresholds == "tuned" and int(meta.get("num_val", 0)) > 0:  # any setting (images: val images)
        values = run_thresholds(run, checkpoint=checkpoint, device="cpu").thresholds
        source = "tuned"
    elif thresholds == "tuned":
        warnings.warn(
            "--thresholds tuned: the run has no validation split to tune on; the export uses 0.5 for every "
            "class (threshold_source: default); pass --thresholds default to silence this",
            PartialMLWarning,
            stacklevel=2,
        )
    metrics_path = loaded.run_dir.metrics
    protocol = json.loads(metrics_path.read_text())["protocol"] if metrics_path.is_file() else None
    if format == "safetensors":
        state = {k: v.detach().cpu().contiguous() for k, v in loaded.model.state_dict().items()}
        blob = save(state)
    else:
        blob = _traced_bytes(loaded, meta, format)
    config = loaded.config
    input_shape = (
        [None, 3, int(meta["image_size"]), int(meta["image_size"])]
        if image_run
        else [None, int(meta["in_dim"])]
    )
    payload = {
        "format": EXPORT_FORMAT,
        "kind": {"safetensors": FEATURES_KIND, "torchscript": TORCHSCRIPT_KIND, "onnx": ONNX_KIND}[format],
        "setting": meta.get("setting", "features"),
        "input_shape": input_shape,
        "transforms": config.transforms if image_run else None,
        "image_size": int(meta["image_size"]) if image_run else None,
        "partialml_version": partialml.__version__,
        "weights": target.name,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "class_names": list(meta["class_names"]),
        "in_dim": int(meta["in_dim"]),
        "num_classes": num_classes,
        "head": {
            "type": meta["head"],
            "hidden_dim": int(meta.get("hidden_dim", config.hidden_dim)),
            "dropout": float(meta.get("dropout", config.dropout)),
        },
        "standardize": loaded.model.standardize is not None,
        "thresholds": [float(v) for v in values],
        "threshold_source": source,
        "checkpoint": checkpoint,
        "epoch": int(loaded.state["epoch"]),
        "protocol": protocol,
    }
    try:
        atomic_write_bytes(target, blob)
    except OSError as exc:
        raise PartialMLError(f"cannot write the file ({exc.strerror})", path=target) from None
    write_text(sidecar, json.dumps(payload, indent=2) + "\n")
    return target, sidecar


def _traced_bytes(loaded: Any, meta: dict[str, Any], format: str) -> bytes:
    """The run's logit module traced on the CPU in float32 (TorchScript or ONNX), as bytes."""
    import io

    model = loaded.model.float().cpu().eval()
    if meta.get("setting", "features") != "features":
        size = int(meta["image_size"])
        example = torch.zeros(2, 3, size, size)
    else:
        example = torch.zeros(2, int(meta["in_dim"]))
    buf = io.BytesIO()
    with torch.no_grad():
        if format != "torchscript":
            return _onnx_bytes(model, example)
        with warnings.catch_warnings():  # torch's own deprecation notice, several lines per call
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
            traced = torch.jit.trace(model, example, check_trace=False)
            torch.jit.save(traced, buf)
    warnings.warn(
        f"--format torchscript: torch {torch.__version__.split('+')[0]} marks TorchScript as deprecated "
        "(the file works and loads); --format onnx is the format torch maintains",
        PartialMLWarning,
        stacklevel=2,
    )
    return buf.getvalue()


def _onnx_bytes(model: torch.nn.Module, example: torch.Tensor) -> bytes:
    """``model`` exported by torch.onnx (the dynamo exporter, opset of the installed torch) with a dynamic
    batch axis: input ``input`` ``(N, ...)``, output ``logits`` ``(N, C)``."""
    import tempfile

    batch = torch.export.Dim("batch")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        return path.read_bytes()


def load_exported(path: str | Path, *, device: str | torch.device = "cpu") -> ExportedModel:
    """Load an export from its weights file or its ``.json`` sidecar."""
    sidecar = _find_sidecar(Path(path))
    if not sidecar.is_file():
        raise PartialMLError("no sidecar next to the weights (expected the export's .json)", path=sidecar)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PartialMLError(f"not a readable JSON sidecar ({exc})", path=sidecar) from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise PartialMLError(f"not a partialml export (expected format {EXPORT_FORMAT})", path=sidecar)
    kind = meta.get("kind")
    if kind not in LOADERS:
        raise PartialMLError(f"export kind {kind!r} is unknown; known: {', '.join(LOADERS)}", path=sidecar)
    weights = sidecar.parent / str(meta["weights"])
    if not weights.is_file():
        raise PartialMLError("the export's weights file is missing", path=weights)
    if hashlib.sha256(weights.read_bytes()).hexdigest() != meta.get("weights_sha256"):
        raise PartialMLError("the weights do not match the sidecar's SHA-256 (file changed?)", path=weights)
    module = LOADERS[kind](meta, weights).to(device).eval()
    return ExportedModel(module=module, metadata=meta)


__all__ = [
    "EXPORT_FORMAT",
    "LOADERS",
    "ExportFormat",
    "ExportedModel",
    "export_run",
    "load_exported",
    "sidecar_path",
]
