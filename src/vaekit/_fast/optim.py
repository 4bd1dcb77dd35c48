"""Adam with a lean step: ``torch.optim.Adam(fused=True)``'s arithmetic, bit for bit, with less
Python around its one fused kernel (it matters for small models, whose steps take milliseconds).

The state (``step``, ``exp_avg``, ``exp_avg_sq``) and ``state_dict`` are Adam's own, so a
checkpoint written with either loads into the other. ``step`` keeps torch's wrapper (profiler
labels, step hooks); :meth:`Adam.update` is the same step without it, and ``zero_grad`` drops the
gradients without torch's per-call profiling: about 4% of an MNIST step together (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor


class Adam(torch.optim.Adam):
    """``torch.optim.Adam(params, lr, weight_decay=..., fused=True)`` with a leaner ``step``."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay, fused=True)

    def step(  # type: ignore[override]
        self, closure: Callable[[], float] | None = None, lr: Tensor | None = None
    ) -> float | None:
        """One Adam update. ``lr``: a 0-d tensor on the parameters' device used instead of each
        group's float learning rate (a CUDA graph reads it afresh at every replay)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.update(lr)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (or zero it in place, ``set_to_none=False``)."""
        if not set_to_none:
            return super().zero_grad(set_to_none=False)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def update(self, lr: Tensor | None = None) -> None:
        """:meth:`step` without torch's wrapper around it: no profiler label and no step hooks,
        for a training loop that owns this optimizer (see the module docstring)."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = [self.state[p] for p in params]
            for p, state in zip(params, states, strict=True):
                if not state:  # as Adam's _init_group does for fused=True
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            torch._fused_adam_(
                params,
                [p.grad for p in params],
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [],
                steps,
                amsgrad=False,
                lr=group["lr"] if lr is None else lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
