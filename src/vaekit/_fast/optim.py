"""Adam with a lean step: ``torch.optim.Adam(fused=True)``'s arithmetic, bit for bit, with less
Python around its one fused kernel (it matters for small models, whose steps take milliseconds).

The state (``step``, ``exp_avg``, ``exp_avg_sq``) and ``state_dict`` are Adam's own, so a
checkpoint written with either loads into the other. ``step`` keeps torch's wrapper (profiler
labels, step hooks); :meth:`Adam.update` is the same step without it, and ``zero_grad`` drops the
gradients without torch's per-call profiling: about 4% of an MNIST step together (BENCHMARKS.md).

``torch._fused_adam_`` is private: :func:`adam` tries it once, at the start of training, and falls
back to ``torch.optim.Adam(fused=True)`` (torch's own call of the kernel) or to its foreach kernel
where the call is missing or answers wrongly.
"""

from __future__ import annotations

import warnings
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


Make = Callable[[list[Tensor], float, float], torch.optim.Optimizer]  # (params, lr, weight_decay)


def _lean(params: list[Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return Adam(params, lr=lr, weight_decay=weight_decay)


def _fused(params: list[Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)


def adam(params: Iterable[Tensor], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The fastest Adam that works for ``params`` (on one device): this module's :class:`Adam`,
    else ``torch.optim.Adam(fused=True)``, else torch's foreach Adam (each fallback with a
    RuntimeWarning). Each is tried on a probe parameter first, so a private kernel that is
    missing or has changed is found before training starts. Devices other than the CPU and CUDA
    get torch's default Adam."""
    params = list(params)
    device = params[0].device
    if device.type not in ("cpu", "cuda"):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if _answers(_lean, device):
        return _lean(params, lr, weight_decay)
    if _answers(_fused, device):
        warnings.warn(
            "torch._fused_adam_ does not answer as vaekit calls it; training with "
            "torch.optim.Adam(fused=True)",
            RuntimeWarning,
            stacklevel=2,
        )
        return _fused(params, lr, weight_decay)
    warnings.warn(
        "torch's fused Adam kernel is missing or fails here; training with its foreach kernel",
        RuntimeWarning,
        stacklevel=2,
    )
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)


def _answers(make: Make, device: torch.device) -> bool:
    """Whether the Adam that ``make`` builds takes a right first step on a probe parameter: from 0
    with gradient 1 and learning rate 1, every element moves to -1 (to float precision)."""
    p = torch.zeros(2, device=device, requires_grad=True)
    p.grad = torch.ones_like(p)
    try:
        make([p], 1.0, 0.0).step()
    except (AttributeError, RuntimeError, TypeError):
        return False
    return bool(torch.allclose(p.detach(), torch.full_like(p, -1.0)))
