"""A faster fp32 linear layer on CPUs where torch's default GEMM leaves speed on the table.

``torch.mm`` on CPU calls MKL's sgemm, whose fast code paths are Intel's. On other processors
(AMD EPYC among them) it reaches about half of what oneDNN, which torch also ships, reaches on the
same shapes: measured on a 2-core AMD EPYC, the matmuls of an MNIST VAE run about 2x faster
through oneDNN. On an Intel Xeon it is the other way round: MKL runs the same products at about
the processor's peak and oneDNN 10-40% slower (see BENCHMARKS.md). So :class:`Linear` computes its
fp32 products, forward and backward, through oneDNN on CPUs that are not Intel's and through
``torch.nn.functional.linear`` (MKL) on Intel's, on other devices and dtypes, or where torch lacks
the op. ``VAEKIT_GEMM=onednn`` or ``VAEKIT_GEMM=torch`` overrides the choice.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd import Function

from vaekit.errors import ConfigError


def _onednn(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (M, K) @ weight (N, K)^T (+ bias) in oneDNN; x row-major, weight may be a transpose."""
    y: Tensor = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return y


BACKENDS = ("auto", "onednn", "torch")  #: the values of ``VAEKIT_GEMM``


def cpu_vendor(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``, ...), or None where the
    system does not say (no ``/proc/cpuinfo``: not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
            return value.strip()
    return None


@functools.cache
def use_onednn() -> bool:
    """Whether :class:`Linear` routes CPU fp32 products through oneDNN in this process.

    ``VAEKIT_GEMM``: ``auto`` (the default) uses oneDNN on x86 CPUs that are not Intel's, where
    MKL is slow, and MKL on Intel's and where the vendor is unknown; ``onednn`` and ``torch``
    force one. oneDNN is used only where torch has the op and it agrees with torch's product on a
    probe. The rule is fixed, never a timing, so a seeded run computes the same numbers in every
    process and on every try on one machine.
    """
    choice = os.environ.get("VAEKIT_GEMM", "auto")
    if choice not in BACKENDS:
        raise ConfigError(f"VAEKIT_GEMM={choice!r} is not one of {', '.join(BACKENDS)}")
    if choice == "auto":
        vendor = cpu_vendor()
        choice = "torch" if vendor in (None, "GenuineIntel") else "onednn"
    if choice == "torch" or not torch.backends.mkldnn.is_available():
        return False
    try:
        gen = torch.Generator().manual_seed(0)  # leaves the global RNG, and so seeded runs, alone
        x, w = torch.randn(64, 32, generator=gen), torch.randn(16, 32, generator=gen)
        return bool(torch.allclose(_onednn(x, w), x @ w.t(), rtol=1e-4, atol=1e-4))
    except (RuntimeError, AttributeError):
        return False


def plain() -> bool:
    """Whether a product must be torch's own: under autocast (oneDNN's op here is fp32 only),
    and while tracing or exporting (TorchScript and ONNX know ``linear``, not oneDNN's op)."""
    return (
        torch.is_autocast_enabled("cpu")
        or torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
    )


class _OneDNNLinear(Function):
    """y = x W^T + b with the three products (forward, input and weight gradients) in oneDNN."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _onednn(x, weight, bias)  # (M, N)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()  # e.g. the stride-0 gradient of a sum
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = _onednn(grad, weight.t()) if need_x else None  # (M, K)
        grad_w = _onednn(grad.t(), x.t()) if need_w else None  # (N, K)
        grad_b = grad.sum(0) if need_b and ctx.has_bias else None  # (N,)
        return grad_x, grad_w, grad_b


class Linear(nn.Linear):
    """``nn.Linear`` with the fastest fp32 GEMM available on this CPU (see module docstring)."""

    def forward(self, x: Tensor) -> Tensor:
        if not (x.device.type == "cpu" and x.dtype == torch.float32 and use_onednn()) or plain():
            return super().forward(x)
        # a plain row-major x: oneDNN takes a slow path for odd strides (a chunk of a tensor)
        x2 = x.reshape(-1, self.in_features).contiguous()  # (M, K)
        y: Tensor = _OneDNNLinear.apply(x2, self.weight, self.bias)  # type: ignore[no-untyped-call]
        return y.reshape(*x.shape[:-1], self.out_features)
