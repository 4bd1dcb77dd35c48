"""Reduced-precision training: autocast for the forward pass, fp32 master weights and optimizer.

``bf16`` runs the products of the forward pass (and so their gradients) in bfloat16 under
``torch.autocast``; the weights, their gradients and Adam's moments stay fp32, and bfloat16 has
fp32's exponent range, so no loss scaling is needed. It runs on CPUs and GPUs, and pays where the
hardware multiplies bfloat16 natively (CPUs with AVX512-BF16 or AMX, recent GPUs; BENCHMARKS.md).
``fp16`` has a narrow range: small gradients underflow unless the loss is scaled up first, so it
comes with a gradient scaler (``torch.amp.GradScaler``), and only on CUDA GPUs.

The training loop holds one :class:`Mixed` and calls ``autocast()``, ``backward`` and ``step``
around its own forward pass, backward pass and optimizer update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from vaekit.config import TrainConfig, _choices
from vaekit.errors import ConfigError

PRECISIONS = _choices(TrainConfig, "precision")  #: fp32, bf16, fp16
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check(precision: str, device: torch.device) -> None:
    """:class:`ConfigError` for an unknown precision, or fp16 where it cannot run."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            f"precision fp16 needs a CUDA GPU (its gradient scaler is for GPUs), not "
            f"{device.type}; use bf16 on a CPU"
        )


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Run the enclosed forward pass in ``precision`` on ``device`` (fp32: unchanged).

    The autocast cache stays off: every weight is used once per step, and a CUDA graph capture
    needs it off.
    """
    check(precision, device)
    if precision == "fp32":
        yield
        return
    with torch.autocast(device.type, dtype=DTYPES[precision], cache_enabled=False):
        yield


class Mixed:
    """The precision of a training loop: its autocast context and, with fp16, a gradient scaler."""

    def __init__(
        self, device: torch.device, precision: str, optimizer: torch.optim.Optimizer
    ) -> None:
        check(precision, device)
        self.device, self.precision, self.optimizer = device, precision, optimizer
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """The context for the forward pass (and the loss); fp32 (the hot path) pays nothing."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return autocast(self.device, self.precision)

    def backward(self, loss: Tensor) -> None:
        """``loss.backward()``; with fp16, on the scaled loss, and the gradients unscaled after
        (so gradient clipping sees their true norm)."""
        if self.scaler is None:
            loss.backward()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)

    def step(self, update: Callable[[], object]) -> None:
        """The optimizer update: ``update()``; with fp16, the scaler's step (skipped when a
        gradient is inf or NaN) and the scale's update."""
        if self.scaler is None:
            update()
            return
        self.scaler.step(self.optimizer)
        self.scaler.update()

    @property
    def graphable(self) -> bool:
        """Whether a step can be captured as a CUDA graph: not with fp16, whose scaler reads
        its inf check back to the host at every step."""
        return self.scaler is None
