"""The autograd shell of the fused losses (LL-R/Ct/Cp, Hill, SPLC): loss and logit gradient in one
forward pass, a backward that only scales the saved gradient.

A fused loss computes its closed-form derivative while the forward's intermediates are at hand, so the
backward is one product (or none): fewer passes over the batch and fewer batch-sized allocations than
autograd's graph of the same formula. First order only: a backward with ``create_graph=True`` raises
instead of returning a gradient whose own derivative would silently be zero.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from partialml.losses.base import Reduction, reduce_loss

__all__ = ["FusedElementwise", "NativeFused", "accumulation_dtype", "reduce_fused"]


def reduce_fused(fn: type[FusedElementwise], logits: Tensor, reduction: Reduction, *args: object) -> Tensor:
    """Apply the fused loss ``fn`` with ``reduction`` (``"mean"`` divides by ``B * C``)."""
    if reduction not in ("mean", "sum", "none"):
        reduce_loss(logits, reduction)  # raises the standard error
    divisor = float(max(logits.numel(), 1)) if reduction == "mean" else 1.0
    out: Tensor = fn.apply(logits, reduction, divisor, *args)
    return out


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a fused loss sums in: float32 for float16 / bfloat16 (a float16 sum of 65,536 losses of
    about 1 overflows), the logits' own dtype otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class FusedElementwise(torch.autograd.Function):
    """Shared forward/backward of the fused elementwise losses.

    Subclasses implement :meth:`compute`, which returns the loss (the per-entry ``(B, C)`` matrix in the
    logits' dtype, or, when ``summed``, its sum as a 0-dim tensor in :func:`accumulation_dtype`) and, when
    ``need_grad``, its derivative in the logits, ``(B, C)``, in a tensor nobody else holds. The forward
    divides that gradient by ``divisor`` in place; the backward multiplies it by ``grad_output``, except the
    first time when ``grad_output`` is exactly 1 on the CPU (a plain ``loss.backward()``): the saved
    gradient itself is handed out (no pass, no allocation). Later calls (``retain_graph=True``) return a
    fresh product, so two results never share memory; changing the handed-out gradient in place before
    such a later call makes that call raise autograd's "modified by an inplace operation" error.
    """

    @staticmethod
    def compute(logits: Tensor, need_grad: bool, summed: bool, *args: object) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    @classmethod
    def forward(
        cls,
        ctx: torch.autograd.function.FunctionCtx,
        logits: Tensor,
        reduction: str,
        divisor: float,
        *args: object,
    ) -> Tensor:
        need_grad = bool(ctx.needs_input_grad[0])  # type: ignore[attr-defined]
        loss, grad = cls.compute(logits, need_grad, reduction != "none", *args)
        if grad is not None:
            if divisor != 1.0:
                grad.div_(divisor)
            ctx.save_for_backward(grad)
        ctx.num_args = len(args)  # type: ignore[attr-defined]
        ctx.handed_out = False  # type: ignore[attr-defined]
        if reduction == "none":
            return loss
        total = loss.sum(dtype=accumulation_dtype(logits.dtype)) if loss.dim() else loss
        if divisor != 1.0:
            total = total / divisor
        return total.to(logits.dtype)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        nones = (None, None, *([None] * ctx.num_args))  # type: ignore[attr-defined]
        return (_scaled_gradient(ctx, grad_output), *nones)


def _scaled_gradient(ctx: torch.autograd.function.FunctionCtx, grad_output: Tensor) -> Tensor:
    """The saved logit gradient times ``grad_output`` (the saved tensor itself the first time
    ``grad_output`` is exactly 1 on the CPU); refuses ``create_graph=True``."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            "partialml's fused LL / Hill / SPLC losses are first order only: backward with "
            "create_graph=True (a second derivative through the loss) is not supported"
        )
    (grad,) = ctx.saved_tensors  # type: ignore[attr-defined]
    first = not ctx.handed_out  # type: ignore[attr-defined]
    ctx.handed_out = True  # type: ignore[attr-defined]
    if first and grad_output.numel() == 1 and grad_output.device.type == "cpu" and float(grad_output) == 1.0:
        return grad
    return grad * grad_output


class NativeFused(torch.autograd.Function):
    """The fused autograd shell around a native kernel (:mod:`partialml.losses.native`).

    ``NativeFused.apply(logits, job)`` with ``job = (kernel, targets, args, divisor, sink)`` calls
    ``kernel(logits, targets, *args, divisor, need_grad)``, which returns the loss already divided by
    ``divisor`` (0-dim, the logits' dtype), the logit gradient divided by ``divisor`` (``(B, C)``, a
    fresh tensor) and possibly more outputs, appended to the list ``sink``. One tuple instead of seven
    arguments: ``apply`` costs about 1 us per argument. The backward is :class:`FusedElementwise`'s.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: Tensor, job: tuple[Any, ...]) -> Tensor:
        kernel, targets, args, divisor, sink = job
        need_grad = bool(ctx.needs_input_grad[0])  # type: ignore[attr-defined]
        out = kernel(logits, targets, *args, divisor, need_grad)
        if need_grad:
            ctx.save_for_backward(out[1])
        if sink is not None:
            sink.extend(out[2:])
        ctx.handed_out = False  # type: ignore[attr-defined]
        loss: Tensor = out[0]
        return loss

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_output: Tensor) -> tuple[Tensor, None]:
        return _scaled_gradient(ctx, grad_output), None
