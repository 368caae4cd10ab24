"""The optional native loss kernels (``partialml.losses.native``) against the pure PyTorch paths.

The PyTorch paths are themselves checked against hand-computed values, autograd of the papers' formulas
and the original code's conventions (test_large_loss.py, test_robust.py, test_fused_paths.py); here every
native result must equal them up to float rounding: loss, logit gradient, the LL selection and the LL-Cp
corrections, on random partial labels, non-default options and non-finite logits. Built once per test
session into ``build/native-kernels`` (about a minute on 2 cores); skipped where no C++ toolchain
exists.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from partialml.cli.app import main
from partialml.errors import PartialMLError
from partialml.losses import create_loss, native
from partialml.losses.large_loss import ll_r_loss
from partialml.losses.robust import hill_loss, splc_loss

ROOT = Path(__file__).resolve().parents[2] / "build" / "native-kernels"  # shared with `make bench`
FUSED = ["ll-r", "ll-ct", "ll-cp", "hill", "splc"]


def _toolchain() -> bool:
    from torch.utils.cpp_extension import is_ninja_available

    return shutil.which(os.environ.get("CXX", "c++")) is not None and is_ninja_available()


@pytest.fixture(scope="session")
def built() -> Any:
    """The kernel module, built (or found) under ``ROOT``; the process keeps the PyTorch paths."""
    if not _toolchain():
        pytest.skip("no C++ compiler or ninja: the native kernels cannot be built here")
    previous = native.activate(None)
    native.build(ROOT)
    module = native.kernels()
    native.activate(previous)
    return module


@pytest.fixture
def use_native(built: Any) -> Iterator[Any]:
    previous = native.activate(built)
    yield built
    native.activate(previous)


def _batch(
    b: int, c: int, dtype: torch.dtype, seed: int, scale: float = 3.0
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(b, c, generator=gen, dtype=torch.float64) * scale).to(dtype)
    targets = torch.randint(-1, 2, (b, c), generator=gen).to(torch.int8)
    return logits, targets


def _run(module: Any, name: str, logits: torch.Tensor, targets: torch.Tensor, *, epoch: int, **kwargs: Any):
    """(loss, gradient, selection mask or None, LL-Cp corrections or None) with ``module`` active."""
    previous = native.activate(module)
    try:
        loss_fn = create_loss(name, **kwargs)
        loss_fn.set_epoch(epoch)
        z = logits.clone().requires_grad_(True)
        out = loss_fn(z, targets)
        out.backward()
        return out.detach(), z.grad, getattr(loss_fn, "last_selection", None), loss_fn.pop_corrections()
    finally:
        native.activate(previous)


def _assert_same(native_result: tuple, torch_result: tuple, dtype: torch.dtype) -> None:
    tol = {"rtol": 2e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-14}
    loss_n, grad_n, sel_n, corr_n = native_result
    loss_t, grad_t, sel_t, corr_t = torch_result
    assert loss_n.dtype == loss_t.dtype and loss_n.shape == loss_t.shape == ()
    torch.testing.assert_close(loss_n, loss_t, equal_nan=True, **tol)
    torch.testing.assert_close(grad_n, grad_t, equal_nan=True, **tol)
    if sel_t is not None:
        assert torch.equal(sel_n, sel_t)
    assert (corr_n is None) == (corr_t is None)
    if corr_t is not None:
        assert torch.equal(corr_n, corr_t)


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (16, 20), (64, 80), (100, 600)])
def test_equals_pytorch_path(built: Any, name: str, dtype: torch.dtype, shape: tuple[int, int]) -> None:
    for seed, epoch, reduction in ((0, 0, "mean"), (1, 3, "mean"), (2, 3, "sum"), (3, 30, "mean")):
        logits, targets = _batch(*shape, dtype, seed)
        native_result = _run(built, name, logits, targets, epoch=epoch, reduction=reduction)
        torch_result = _run(None, name, logits, targets, epoch=epoch, reduction=reduction)
        _assert_same(native_result, torch_result, dtype)


@pytest.mark.parametrize("name", ["hill", "splc"])
def test_large_batches_in_parallel_blocks(built: Any, name: str) -> None:
    """Hill and SPLC take the kernels at every size: 256 x 5,000 (blocks in parallel) equals the PyTorch
    path, and 1 and 2 threads give the same bits (block sums added in a fixed order)."""
    logits, targets = _batch(256, 5000, torch.float32, seed=12)
    _assert_same(
        _run(built, name, logits, targets, epoch=3), _run(None, name, logits, targets, epoch=3), torch.float32
    )
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append(_run(built, name, logits, targets, epoch=3))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("hill", {"gamma": 0.0}),
        ("hill", {"gamma": 1.0, "margin": 0.0}),
        ("hill", {"gamma": 2.5, "margin": 0.7, "lamb": 1.0}),
        ("splc", {"tau": 0.0}),
        ("splc", {"tau": 1.0, "gamma": 0.0}),
        ("splc", {"tau": 0.35, "gamma": 3.0, "margin": 0.0}),
        ("splc", {"change_epoch": 5}),
        ("ll-r", {"delta_rel": 0.2}),
        ("ll-ct", {"delta_rel": 0.0}),
    ],
)
def test_options(built: Any, name: str, kwargs: dict[str, Any]) -> None:
    for dtype in (torch.float32, torch.float64):
        logits, targets = _batch(24, 30, dtype, seed=5)
        _assert_same(
            _run(built, name, logits, targets, epoch=3, **kwargs),
            _run(None, name, logits, targets, epoch=3, **kwargs),
            dtype,
        )


@pytest.mark.parametrize("name", FUSED)
def test_non_finite_logits(built: Any, name: str) -> None:
    """NaN and infinite logits on positives, negatives and unknowns: the gradient equals the PyTorch
    path's (NaN where it has NaN; an LL-rejected NaN unknown ranks first and contributes 0 on both paths),
    and the loss is non-finite exactly when it is there (what the trainer's divergence check reads). The
    non-finite values themselves may differ: ATen's BCE, which small LL batches call, gives NaN for an
    infinite logit whose exact loss is 0 or inf (``(1 - y) * x - log sigmoid(x)`` is ``inf - inf``);
    the native kernels give the exact ``-log sigmoid(+-z)``: with infinite logits whose exact loss is 0
    (``-inf`` on a negative, ``+inf`` on a positive) they equal the PyTorch path on ``+-1e4`` there."""
    logits, targets = _batch(8, 9, torch.float32, seed=7)
    targets[0, :6] = torch.tensor([1, 0, -1, -1, 0, 1], dtype=torch.int8)
    inf, nan = float("inf"), float("nan")
    logits[0, :6] = torch.tensor([0.1, -inf, 0.2, -inf, 0.3, inf])
    _assert_same(
        _run(built, name, logits, targets, epoch=3),
        _run(None, name, logits.clamp(-1e4, 1e4), targets, epoch=3),
        torch.float32,
    )
    for row in ([1.5, inf, nan, inf, 2.0, 0.5], [-inf, inf, nan, inf, -inf, inf]):
        logits[0, :6] = torch.tensor(row)
        loss_n, grad_n, sel_n, _ = _run(built, name, logits, targets, epoch=3)
        loss_t, grad_t, sel_t, _ = _run(None, name, logits, targets, epoch=3)
        assert bool(torch.isfinite(loss_n)) == bool(torch.isfinite(loss_t)), row
        if torch.isfinite(loss_t):
            torch.testing.assert_close(loss_n, loss_t, rtol=2e-5, atol=1e-6)
        torch.testing.assert_close(grad_n, grad_t, equal_nan=True, rtol=2e-5, atol=1e-6)
        if sel_t is not None:
            assert torch.equal(sel_n, sel_t)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ll_nan_ranks_above_inf(use_native: Any, dtype: torch.dtype) -> None:
    """As ``torch.topk``: with k = 1, an unknown NaN logit is chosen before an unknown ``+inf`` one
    (LL-R then rejects the NaN and the loss stays finite on both paths)."""
    logits = torch.tensor([[float("inf"), float("nan"), 0.5, -0.5]], dtype=dtype)
    targets = torch.tensor([[-1, -1, 1, 0]], dtype=torch.int8)
    native_result = _run(use_native, "ll-r", logits, targets, epoch=1, delta_rel=0.25)
    assert torch.equal(native_result[2], torch.tensor([[False, True, False, False]]))
    assert not torch.isfinite(native_result[0])  # the kept +inf unknown: softplus(inf)
    _assert_same(native_result, _run(None, "ll-r", logits, targets, epoch=1, delta_rel=0.25), dtype)
    logits[0, 0] = 3.0
    native_result = _run(use_native, "ll-r", logits, targets, epoch=1, delta_rel=0.25)
    assert torch.isfinite(native_result[0])


@pytest.mark.parametrize("function", [hill_loss, splc_loss])
def test_unknown_reduction_is_refused(use_native: Any, function: Any) -> None:
    kwargs = {"epoch": 2} if function is splc_loss else {}
    with pytest.raises(PartialMLError, match="unknown reduction"):
        function(torch.randn(3, 4), torch.ones(3, 4, dtype=torch.int8), reduction="avg", **kwargs)


def test_ll_k_above_unknown_count_chooses_every_unknown_entry(use_native: Any) -> None:
    logits, targets = _batch(10, 10, torch.float32, seed=8)
    z = logits.clone().requires_grad_(True)
    loss_fn = create_loss("ll-r", delta_rel=0.5)
    loss_fn.set_epoch(40)  # k = 20 * B * C
    loss = loss_fn(z, targets)
    loss.backward()
    assert torch.equal(loss_fn.last_selection, targets == -1)
    observed = targets != -1
    assert torch.equal(z.grad[~observed], torch.zeros_like(z.grad[~observed]))
    expected = ll_r_loss(logits[observed].view(1, -1), targets[observed].view(1, -1), epoch=0)
    assert float(loss.detach()) == pytest.approx(
        float(expected) * int(observed.sum()) / targets.numel(), rel=1e-6
    )


def test_given_selection_replaces_the_top_k(built: Any) -> None:
    """A selector's indices (the distributed global top-k) are used as given, on both paths."""
    logits, targets = _batch(12, 15, torch.float64, seed=9)
    unknown = torch.nonzero(targets.reshape(-1) == -1).view(-1)[::3]

    def result(module: Any) -> tuple:
        previous = native.activate(module)
        try:
            loss_fn = create_loss("ll-ct")
            loss_fn.set_epoch(2)
            loss_fn.selector = lambda z, t, k_for: unknown
            z = logits.clone().requires_grad_(True)
            out = loss_fn(z, targets)
            out.backward()
            return out.detach(), z.grad, loss_fn.last_selection, None
        finally:
            native.activate(previous)

    native_result = result(built)
    assert torch.equal(native_result[2].reshape(-1).nonzero().view(-1), unknown.sort().values)
    _assert_same(native_result, result(None), torch.float64)
    with pytest.raises(RuntimeError, match="out of range"):
        built.large_loss(logits, targets, 0, True, torch.tensor([targets.numel()]), 1.0, False)


@pytest.mark.parametrize("name", FUSED)
def test_gradcheck(use_native: Any, name: str) -> None:
    """The native gradient against finite differences (float64), with grad_outputs other than 1."""
    logits, targets = _batch(5, 6, torch.float64, seed=11, scale=1.0)
    loss_fn = create_loss(name, **({"delta_rel": 0.1} if name.startswith("ll") else {}))
    loss_fn.set_epoch(2)
    assert torch.autograd.gradcheck(lambda z: loss_fn(z, targets), (logits.requires_grad_(True),))


def test_second_order_is_refused(use_native: Any) -> None:
    z = torch.randn(4, 5, requires_grad=True)
    loss = create_loss("hill")(z, torch.ones(4, 5, dtype=torch.int8))
    with pytest.raises(RuntimeError, match="first order only"):
        torch.autograd.grad(loss, z, create_graph=True)


class _Spy:
    """Delegates to the kernel module and counts calls."""

    def __init__(self, module: Any) -> None:
        self.module, self.calls = module, 0

    def __getattr__(self, name: str) -> Any:
        kernel = getattr(self.module, name)

        def call(*args: Any) -> Any:
            self.calls += 1
            return kernel(*args)

        return call


@pytest.mark.parametrize("name", FUSED)
def test_dispatch(built: Any, name: str) -> None:
    """Native for float32 / float64 CPU logits under mean / sum (LL: small batches only); PyTorch for
    the rest."""
    spy = _Spy(built)
    previous = native.activate(spy)
    try:

        def calls(logits: torch.Tensor, reduction: str = "mean") -> int:
            before = spy.calls
            loss_fn = create_loss(name, reduction=reduction)
            loss_fn.set_epoch(2)
            loss_fn(logits, torch.full(logits.shape, -1, dtype=torch.int8))
            return spy.calls - before

        assert calls(torch.randn(4, 5)) == 1
        assert calls(torch.randn(4, 5, dtype=torch.float64), "sum") == 1
        assert calls(torch.randn(4, 5, dtype=torch.bfloat16)) == 0
        assert calls(torch.randn(4, 5), "none") == 0
        assert calls(torch.randn(256, native.LL_MAX_ENTRIES // 256)) == (0 if name.startswith("ll") else 1)
    finally:
        native.activate(previous)


def test_lookup_follows_the_folder_and_the_switch(built: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new process finds the built module in PARTIALML_KERNEL_DIR unless PARTIALML_NATIVE=0."""
    previous = native.activate(None)
    try:
        monkeypatch.setenv("PARTIALML_KERNEL_DIR", str(ROOT))
        monkeypatch.setenv("PARTIALML_NATIVE", "1")
        monkeypatch.setattr(native, "_module", native._UNSET)
        found = native.kernels()
        assert found is not None and hasattr(found, "large_loss")
        monkeypatch.setenv("PARTIALML_NATIVE", "0")
        monkeypatch.setattr(native, "_module", native._UNSET)
        assert native.kernels() is None
        monkeypatch.setenv("PARTIALML_NATIVE", "1")
        monkeypatch.setenv("PARTIALML_KERNEL_DIR", str(ROOT / "elsewhere"))
        monkeypatch.setattr(native, "_module", native._UNSET)
        assert native.kernels() is None
    finally:
        native.activate(previous)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_cli_info_and_build(built: Any, capsys: pytest.CaptureFixture[str]) -> None:
    previous = native.activate(None)
    try:
        code, out, _ = _cli(["kernels", "info", "--dir", str(ROOT)], capsys)
        assert code == 0 and "built:   yes" in out and native.build_tag() in out
        code, out, _ = _cli(["kernels", "build", "--dir", str(ROOT)], capsys)
        assert code == 0 and out.startswith("already built: ")
    finally:
        native.activate(previous)


def test_cli_build_failure_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    if shutil.which("ninja") is None:
        pytest.skip("needs ninja to reach the compiler step")
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    previous = native.activate(None)
    try:
        code, _, err = _cli(["kernels", "build", "--dir", str(tmp_path / "kernels")], capsys)
    finally:
        native.activate(previous)
    assert code == 2
    lines = err.strip().splitlines()
    assert (
        lines[-1].startswith("partialml: error: building the native kernels in ")
        and "C++ compiler" in lines[-1]
    )
    assert not list((tmp_path / "kernels").rglob("*.so"))
