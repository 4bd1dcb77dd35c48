"""Shared helpers for the benchmark scripts: the offline data folder and the compute floor."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

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
    (``onednn``: the same product through oneDNN, as ``vaekit.kernels.Linear`` runs it)."""
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


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)
