"""Optional native kernels for the fused losses (LL-R / LL-Ct / LL-Cp, Hill, SPLC) on the CPU.

At small batch x classes (16 x 20, 64 x 80) the time of a loss is the fixed cost of each PyTorch call,
not arithmetic: plain BCE is one ATen call, while the pure PyTorch LL, Hill and SPLC paths take 10-20
calls (about 2x BCE's time, BENCHMARKS.md). ``kernels.cpp`` does each of them as one vectorized C++ call
(ATen's ``at::vec``: SLEEF ``exp`` / ``log1p``, the LL selection as one scan with a bounded heap over the
unknown entries), loss and logit gradient together.

They are **optional** and built on the user's machine, never at import or during training:

* ``partialml kernels build`` (or :func:`build`) compiles ``kernels.cpp`` with
  ``torch.utils.cpp_extension`` (a C++ compiler and ninja are needed; about a minute) into
  :func:`kernel_dir`, one folder per source / torch version / CPU capability.
* Afterwards every process finds the built module there and the losses take it for float32 / float64
  CPU logits with ``"mean"`` / ``"sum"`` reduction (LL below :data:`LL_MAX_ENTRIES` entries, Hill and
  SPLC at every size: blocks of 1,024 entries, in parallel on torch's intra-op threads from 32,768 on,
  summed in a fixed order whatever the thread count); everything else (other dtypes and devices,
  ``"none"``, LL on larger batches, where its candidate selection beats one scan of every unknown entry)
  keeps the pure PyTorch path. ``PARTIALML_NATIVE=0`` turns them off.

Results equal the pure path up to float rounding (checked in ``tests/losses/test_native.py``); an LL
selection among exactly tied logits may pick other entries of the tie.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from partialml.errors import PartialMLError, PartialMLWarning

__all__ = [
    "LL_MAX_ENTRIES",
    "SOURCE",
    "activate",
    "build",
    "built_module_path",
    "kernel_dir",
    "kernels",
    "native_call",
    "usable",
]

#: The C++ source of the kernels, shipped with the package.
SOURCE = Path(__file__).with_name("kernels.cpp")
#: ``PARTIALML_NATIVE=0`` disables the kernels even when they are built.
ENV_SWITCH = "PARTIALML_NATIVE"
#: Overrides the folder that holds built kernels (default ``$XDG_CACHE_HOME/partialml/kernels``).
ENV_DIR = "PARTIALML_KERNEL_DIR"
#: LL batches of at least this many entries keep the pure PyTorch path, which meets the speed goal there
#: (its sampled candidate selection scales better than the kernel's scan of every unknown entry).
LL_MAX_ENTRIES = 1 << 16

_UNSET: Any = object()
_module: Any = _UNSET


def build_tag() -> str:
    """12 hex digits naming a build: the source, the torch version, the CPU capability and the Python ABI."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(torch.__version__.encode())
    digest.update(_cpu_capability().encode())
    digest.update(sys.implementation.cache_tag.encode())
    return digest.hexdigest()[:12]


def _cpu_capability() -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover - very old torch
        return "DEFAULT"


def _module_name(directory: Path) -> str:
    """The extension's name: the build tag and the folder it is built in (torch's JIT versioner renames a
    second build of one name from another folder in the same process to ``NAME_v1``, which no later
    process would look for)."""
    folder = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:8]
    return f"partialml_native_{build_tag()}_{folder}"


def kernel_dir(root: str | Path | None = None) -> Path:
    """The folder of this build: ``root`` (or ``$PARTIALML_KERNEL_DIR``, or
    ``$XDG_CACHE_HOME/partialml/kernels``, ``~/.cache/partialml/kernels``) / :func:`build_tag`."""
    if root is None:
        root = os.environ.get(ENV_DIR) or Path(
            os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "partialml", "kernels"
        )
    return Path(root) / build_tag()


def built_module_path(root: str | Path | None = None) -> Path:
    """Where the built extension module of this build lies (it may not exist)."""
    directory = kernel_dir(root)
    return directory / f"{_module_name(directory)}.so"


def _compile_flags() -> list[str]:
    """``-O3``, plus AVX2 / FMA code for ``at::vec`` where torch itself runs AVX2 or AVX-512 kernels."""
    flags = ["-O3"]
    if _cpu_capability() in ("AVX2", "AVX512"):
        flags += ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma", "-mf16c"]
    return flags


def build(root: str | Path | None = None, *, verbose: bool = False) -> Path:
    """Compile ``kernels.cpp`` into :func:`kernel_dir` (nothing to do if it is built) and activate it.

    Returns the module's path. Raises :class:`PartialMLError` in one line when no C++ toolchain is found
    or the build fails (the compiler's output is shown with ``verbose``).
    """
    directory = kernel_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    # torch logs "No CUDA runtime is found" when cpp_extension is imported on a machine without a GPU
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension

        module = cpp_extension.load(
            name=_module_name(directory),
            sources=[str(SOURCE)],
            build_directory=str(directory),
            extra_cflags=_compile_flags(),
            verbose=verbose,
        )
    except (RuntimeError, OSError, ImportError, subprocess.SubprocessError) as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise PartialMLError(
            f"building the native kernels in {directory} failed (a C++ compiler, ninja and the Python "
            f"headers are needed; rerun with --verbose for the compiler output): {last}"
        ) from exc
    activate(module)
    return Path(module.__file__)


def _load(path: Path) -> ModuleType:
    """Import the built extension module at ``path`` (torch is already loaded, so its libraries resolve)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .so path always has a loader
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kernels() -> Any:
    """The built kernel module, or ``None`` (not built, or ``PARTIALML_NATIVE=0``). Looked up once per
    process; a module that fails to import warns once and is not used."""
    global _module
    if _module is _UNSET:
        _module = None
        path = built_module_path()
        if os.environ.get(ENV_SWITCH, "") != "0" and path.is_file():
            try:
                _module = _load(path)
            except ImportError as exc:
                import warnings

                warnings.warn(
                    f"the native kernels in {path} could not be loaded ({exc}); using the PyTorch losses. "
                    "Rebuild them with `partialml kernels build`.",
                    PartialMLWarning,
                    stacklevel=2,
                )
    return _module


def activate(module: Any) -> Any:
    """Make ``module`` (a built kernel module, or ``None`` for the pure PyTorch path) the one the losses
    use in this process; returns the previous one (``None`` if none was looked up yet)."""
    global _module
    previous = None if _module is _UNSET else _module
    _module = module
    return previous


def usable(logits: Tensor, reduction: str, max_entries: int | None = None) -> bool:
    """Whether a loss on ``logits`` under ``reduction`` takes the native kernels (float32 / float64 CPU
    logits, mean / sum, fewer than ``max_entries`` entries if given, kernels built and on)."""
    return (
        reduction in ("mean", "sum")
        and logits.device.type == "cpu"
        and logits.dtype in (torch.float32, torch.float64)
        and (max_entries is None or logits.numel() < max_entries)
        and kernels() is not None
    )


def native_call(
    kernel: Callable[..., list[Tensor]],
    logits: Tensor,
    targets: Tensor,
    reduction: str,
    *args: object,
    sink: list[Tensor] | None = None,
) -> Tensor:
    """The reduced loss from ``kernel(logits, int8 targets, *args, divisor, need_grad)`` through the fused
    autograd shell; the kernel's outputs after ``(loss, grad)`` (LL's ``(B, C)`` bool mask of the chosen
    entries) go to ``sink``."""
    from partialml.losses.fused import NativeFused

    if targets.dtype != torch.int8:
        targets = targets.to(torch.int8)
    divisor = float(max(logits.numel(), 1)) if reduction == "mean" else 1.0
    out: Tensor = NativeFused.apply(logits, (kernel, targets, args, divisor, sink))
    return out
