"""Shared helpers for the benchmark scripts: the offline data folder and the compute floor."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from vaekit._fast.optim import Adam

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """``$VAEKIT_DATA_DIR``, else ../shared/data beside the repository; exit if absent."""
    path = Path(os.environ.get("VAEKIT_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not (path / "mnist").is_dir():
        sys.exit(f"benchmark data not found at {path}: set VAEKIT_DATA_DIR")
    return path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


def mm_seconds(m: int, k: int, n: int, repeats: int = 200, onednn: bool = False) -> float:
    """Median-of-5 seconds of one fp32 ``torch.mm`` of (m, k) @ (k, n) on this machine
    (``onednn``: the same product through oneDNN, as ``vaekit._fast.kernels.Linear`` runs it)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    bt = b.t().contiguous()  # (n, k): the weight layout of a linear layer

    def product() -> None:
        if onednn:
            torch.ops.mkldnn._linear_pointwise(a, bt, None, "none", [], "")
        else:
            torch.mm(a, b)

    for _ in range(10):
        product()
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            product()
        runs.append((time.perf_counter() - start) / repeats)
    return statistics.median(runs)


def mlp_step_matmuls(sizes: Sequence[int], batch: int) -> list[tuple[int, int, int]]:
    """The matmul shapes of one training step of an MLP with layer ``sizes``, forward and
    backward: per layer the forward product, the weight gradient and (except for the first
    layer, whose input needs no gradient) the input gradient."""
    shapes = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        shapes.append((batch, n_in, n_out))  # h @ W^T
        shapes.append((n_out, batch, n_in))  # grad_W = g^T @ h
        if i > 0:
            shapes.append((batch, n_out, n_in))  # grad_h = g @ W
    return shapes


def floor_seconds(shapes: Sequence[tuple[int, int, int]], onednn: bool = False) -> float:
    """Sum of the measured times of the given matmuls: the fp32 compute floor."""
    return sum(mm_seconds(*s, onednn=onednn) for s in shapes)


def gemm_adam_seconds(
    nets: Sequence[Sequence[int]], x: torch.Tensor, batch: int, steps: int = 200
) -> float:
    """Seconds per training step of a loop that does nothing but the step's matmuls and Adam.

    ``nets``: the layer sizes of each MLP (e.g. the encoder's and the decoder's); ``x`` (N, D)
    the data, whose batches feed the first layer in turn, so they come from memory as in training.
    Per step: every product of :func:`mlp_step_matmuls` into a preallocated output (forward in
    layer order, then the weight and input gradients in reverse), then one Adam update of all
    weights and biases with vaekit's lean step around torch's fused kernel. No activation, loss,
    sampling or autograd: a lower bound on the step of any trainer that uses Adam in fp32.
    """
    # per layer: W (n_out, n_in), its input (B, n_in) (None: the data batch), its output
    # (B, n_out), the gradient of its input (B, n_in) (None for a net's first layer)
    layers: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]] = []
    for sizes in nets:
        h = torch.randn(batch, sizes[0]) if layers else None  # the first net reads the data
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            out = torch.empty(batch, n_out)
            grad_in = torch.empty(batch, n_in) if i > 0 else None
            layers.append((torch.randn(n_out, n_in) / n_in**0.5, h, out, grad_in))
            h = out
    params = [t for w, *_ in layers for t in (w, torch.zeros(w.shape[0]))]
    grads = [torch.randn_like(p) * 1e-3 for p in params]
    optimizer = Adam(params, lr=1e-3)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    xs = x.reshape(len(x), -1)[: len(x) // batch * batch].split(batch)  # (B, D) each

    def step(xb: torch.Tensor) -> None:
        with torch.no_grad():
            for w, h, out, _ in layers:
                torch.mm(xb if h is None else h, w.t(), out=out)  # (B, n_out)
            for j in reversed(range(len(layers))):
                w, h, out, grad_in = layers[j]
                torch.mm(out.t(), xb if h is None else h, out=grads[2 * j])  # (n_out, n_in)
                if grad_in is not None:
                    torch.mm(out, w, out=grad_in)  # (B, n_in)
            optimizer.step()

    for i in range(10):
        step(xs[i % len(xs)])
    start = time.perf_counter()
    for i in range(steps):
        step(xs[i % len(xs)])
    return (time.perf_counter() - start) / steps


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def lr_decay(lr: float, factor: float, epochs: int) -> Callable[..., None]:
    """A training hook: after epoch e, the learning rate lr * factor^(-e / epochs)."""

    def hook(state) -> None:  # a vaekit.training.hooks.LoopState
        for group in state.optimizer.param_groups:
            group["lr"] = lr * factor ** (-state.epoch / epochs)

    return hook
