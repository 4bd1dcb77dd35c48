"""Data-parallel training across processes: torch.distributed, as started by torchrun.

torchrun starts one process per device and tells each its place in environment variables
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). :func:`init` joins
them into one process group, NCCL for CUDA and gloo for the CPU, with a bounded time-out on every
collective (``VAEKIT_DIST_TIMEOUT`` seconds, default 300), so a rank waiting on a dead or stuck
peer fails instead of hanging. Every helper is a no-op in a single process, which lets the
training loop stay one loop.

Every rank holds the same data and draws the same random numbers; :func:`share` says which rows
of a batch are this rank's.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vaekit.errors import ConfigError

TIMEOUT_ENV = "VAEKIT_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 300.0  #: seconds a collective may wait for the other ranks

T = TypeVar("T")


def launched() -> bool:
    """Whether torchrun started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def timeout() -> float:
    """The collective time-out in seconds: ``$VAEKIT_DIST_TIMEOUT``, else 300."""
    text = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"{TIMEOUT_ENV} must be a number of seconds > 0, got {text!r}")
    return seconds


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group (once) and return this rank's device.

    Under torchrun with several processes: ``cuda`` becomes ``cuda:LOCAL_RANK``, the backend is
    NCCL for CUDA and gloo otherwise. In a single process: ``device``, and nothing else happens.
    """
    if not launched():
        return device
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed: train in one process")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        cuda = device.type == "cuda"
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            timeout=timedelta(seconds=timeout()),
            device_id=device if cuda else None,
        )
    return device


def shutdown(finished: bool = True) -> None:
    """Leave the process group, if this process joined one. A rank that ``finished`` its work
    first waits for the others there: one leaving while another still talks to it can abort
    gloo's threads (``terminate called without an active exception``). A failed rank leaves at
    once (the others may never reach the barrier; torchrun ends them)."""
    if not active():
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


def active() -> bool:
    """Whether this process is one rank of an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank, 0 to world_size() - 1 (0 in a single process)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """The number of ranks (1 in a single process)."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Whether this is rank 0, the one that writes files and prints."""
    return rank() == 0


def share(n: int, r: int | None = None, world: int | None = None) -> slice:
    """Rank ``r``'s contiguous rows of n: [n r / W, n (r + 1) / W), rounded down (default: ours).

    The W shares cover the n rows once, in order, and differ in size by at most one row; a share
    is empty when n < W.
    """
    r = rank() if r is None else r
    world = world_size() if world is None else world
    return slice(n * r // world, n * (r + 1) // world)


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum ``t`` over the ranks, in place; every rank gets the same result. Returns ``t``."""
    if active():
        dist.all_reduce(t)
    return t


def all_reduce_mean(t: Tensor) -> Tensor:
    """Average ``t`` over the ranks, in place. Returns ``t``."""
    if active():
        dist.all_reduce(t)
        t /= world_size()
    return t


def gather_rows(t: Tensor, n: int) -> Tensor:
    """All n rows (n, ...) in order, on every rank, from each rank's ``share(n)`` of them in ``t``.

    gloo gathers equal shapes only, so each share is padded to ceil(n / W) rows and trimmed again.
    """
    if not active():
        return t
    world, rows = world_size(), -(-n // world_size())
    padded = t.new_zeros(rows, *t.shape[1:])  # (ceil(n / W), ...)
    padded[: len(t)] = t
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    sizes = [share(n, r, world) for r in range(world)]
    return torch.cat([p[: s.stop - s.start] for p, s in zip(parts, sizes, strict=True)])


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` (any picklable value), on every rank: a decision made once."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every rank gets here (at most the collective time-out)."""
    if active():
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the block on rank 0 first, then on the others (e.g. a download into a shared cache)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in DistributedDataParallel when there are several ranks, else ``model`` itself.

    DDP averages the gradients over the ranks during ``backward``. The buffers (a standardising
    location and scale) never change, so they are not re-broadcast at every forward.
    """
    if not active() or world_size() == 1:
        return model
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel
    # torch 2.13 renamed broadcast_buffers (and deprecated the old name); older torch has only it
    renamed = "forward_sync_buffers" in inspect.signature(ddp).parameters
    if renamed:
        return ddp(model, device_ids=ids, forward_sync_buffers=False)
    return ddp(model, device_ids=ids, broadcast_buffers=False)
