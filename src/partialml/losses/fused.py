"""The autograd shell of the fused losses (LL-R/Ct/Cp, Hill, SPLC): loss and logit gradient in one
forward pass, a backward that only scales the saved gradient.

A fused loss computes its closed-form derivative while the forward's intermediates are at hand, so the
backward is one product (or none): fewer passes over the batch and fewer batch-sized allocations than
autograd's graph of the same formula. First order only: under ``create_graph=True`` the result carries
an error for a second derivative.
"""

from __future__ import annotations

import torch
from torch import Tensor

from partialml.losses.base import Reduction, reduce_loss

__all__ = ["FusedElementwise", "reduce_fused"]


def reduce_fused(fn: type[FusedElementwise], logits: Tensor, reduction: Reduction, *args: object) -> Tensor:
    """Apply the fused loss ``fn`` with ``reduction`` (``"mean"`` divides by ``B * C``)."""
    if reduction not in ("mean", "sum", "none"):
        reduce_loss(logits, reduction)  # raises the standard error
    divisor = float(max(logits.numel(), 1)) if reduction == "mean" else 1.0
    out: Tensor = fn.apply(logits, reduction, divisor, *args)
    return out


class FusedElementwise(torch.autograd.Function):
    """Shared forward/backward of the fused elementwise losses.

    Subclasses implement :meth:`compute`, which returns the loss (the per-entry ``(B, C)`` matrix, or
    already summed to a scalar when ``summed``) and, when ``need_grad``, its derivative in the logits,
    ``(B, C)``, in a tensor the caller may keep. The forward divides that gradient by ``divisor`` in
    place; the backward multiplies it by ``grad_output``, or returns it as is when ``grad_output`` is
    exactly 1 on the CPU (a plain ``loss.backward()``: no pass and no allocation).
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
        if reduction == "none":
            return loss
        total = loss.sum() if loss.dim() else loss
        return total if divisor == 1.0 else total / divisor

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph=True: the saved gradient is not differentiable again
            return _backward_once(ctx, grad_output)
        return _backward(ctx, grad_output)


def _backward(ctx: torch.autograd.function.FunctionCtx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
    """``saved_grad * grad_output``; the saved gradient itself when ``grad_output`` is exactly 1."""
    (grad,) = ctx.saved_tensors  # type: ignore[attr-defined]
    nones = (None, None, *([None] * ctx.num_args))  # type: ignore[attr-defined]
    if grad_output.numel() == 1 and grad_output.device.type == "cpu" and float(grad_output) == 1.0:
        return (grad, *nones)
    return (grad * grad_output, *nones)


#: The same backward under ``create_graph=True``, whose result carries an error for a second derivative
#: (``once_differentiable`` costs ~20 us per call, a sixth of a small BCE step, so it stays off the
#: first-order path).
_backward_once = torch.autograd.function.once_differentiable(_backward)
