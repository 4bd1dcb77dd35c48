"""The CPU's floating-point environment during training: subnormal numbers flushed to zero.

Adam keeps a running mean of each gradient. Where a gradient is zero for a while (a dead unit, a
pixel that is almost always black) that mean decays geometrically, by 0.9 a step, and after a
few hundred steps it lies below 1.2e-38, in the subnormal range, where x86 processors compute
tens of times slower. On MNIST this slows the epochs after the second by about 10%. Flushing
subnormals to zero (the FTZ and DAZ bits of MXCSR, ``torch.set_flush_denormal``) removes the
slowdown and changes no value above 1e-38; TensorFlow runs like this by default.

MXCSR belongs to a thread, and ``torch.set_flush_denormal`` sets only the calling one, while
torch's arithmetic also runs on its OpenMP worker threads. :func:`flush_denormals` therefore
also runs one OpenMP parallel region, through the runtime torch loaded, in which every worker
sets its own bits. Where no such runtime is found (not Linux, or another threading library) only
the calling thread is set, which is still correct, only less fast. ``VAEKIT_FLUSH_DENORMALS=0``
keeps gradual underflow (to compare, or to repeat a run made before this existed bit for bit).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

#: the shared libraries that export GNU OpenMP's entry points (libgomp; LLVM's and Intel's
#: runtimes export them too, for compatibility)
_OPENMP = ("libgomp", "libomp", "libiomp")

_Region = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def flushing() -> bool:
    """Whether this thread flushes subnormal floats to zero now."""
    return bool((torch.tensor(1e-39) * 1.0).item() == 0.0)  # a subnormal input, read as zero


@functools.cache
def _openmp() -> ctypes.CDLL | None:
    """The OpenMP runtime that torch's threads come from, or None where it is not clear.

    Found among the libraries mapped into this process (/proc/self/maps): the one in torch's
    own folder, else the only one loaded. Other packages may load their own copy (scikit-learn
    ships one), whose thread pool is not torch's, so with several and none of torch's: None.
    """
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return None
    mapped = {line.split()[-1] for line in lines}  # the file behind each mapping, if any
    paths = {p for p in mapped if p.startswith("/") and Path(p).name.startswith(_OPENMP)}
    home = Path(torch.__file__).resolve().parent
    own = sorted(p for p in paths if Path(p).resolve().is_relative_to(home))
    chosen = own[0] if own else (paths.pop() if len(paths) == 1 else None)
    if chosen is None:
        return None
    try:
        lib = ctypes.CDLL(chosen)  # already loaded: the same handle, the same thread pool
        parallel = lib.GOMP_parallel
    except (OSError, AttributeError):
        return None
    parallel.argtypes = [_Region, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    parallel.restype = None
    return lib


def set_flush(on: bool) -> None:
    """Flush subnormals to zero (``on``) or not, on this thread and torch's OpenMP workers."""
    torch.set_flush_denormal(on)
    lib = _openmp()
    if lib is not None and torch.get_num_threads() > 1:
        region = _Region(lambda _: torch.set_flush_denormal(on))  # runs once on every thread
        lib.GOMP_parallel(region, None, torch.get_num_threads(), 0)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Within the block subnormal floats are flushed to zero; afterwards the state is as before.
    A no-op with ``VAEKIT_FLUSH_DENORMALS=0``."""
    leave = flushing() or os.environ.get("VAEKIT_FLUSH_DENORMALS", "1") == "0"
    if not leave:
        set_flush(True)
    try:
        yield
    finally:
        if not leave:
            set_flush(False)
