"""One shuffled epoch of batches, shared out between data-parallel ranks.

Under torchrun (see :mod:`vaekit.training.distributed`) every rank holds the same data, draws the
same permutation and the random numbers of the whole global batch, and computes its own rows of
it; DistributedDataParallel averages the gradients. So the global batch is ``batch_size`` and the
result does not depend on the number of ranks beyond floating-point order. In a single process a
rank's share is the whole batch.

In memory, the data stays one tensor on the training device and is batched by index (no
per-sample Python, no DataLoader); any ``torch.utils.data.Dataset`` streams through a DataLoader.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from vaekit.errors import TrainingError
from vaekit.training import distributed


class Batch(NamedTuple):
    """This rank's part of one global batch (all of it in a single process)."""

    x: Tensor  #: (b, *shape) this rank's examples, on the training device
    y: Tensor | None  #: (b, ...) their labels or condition vectors (conditional models)
    rows: slice  #: where they sit in the global batch
    size: int  #: B, the examples in the global batch
    weight: float  #: 1, or 0 for a stand-in row (see :func:`share`)


def share(size: int) -> tuple[slice, float]:
    """This rank's rows of a global batch of ``size`` examples and their weight in the loss.

    A rank left without rows (a last batch smaller than the number of ranks) takes the first row
    with weight 0: it must still join the gradient all-reduce, and an empty batch has no ELBO.
    """
    rows = distributed.share(size)
    return (rows, 1.0) if rows.stop > rows.start else (slice(0, 1), 0.0)


def batches(
    x: Tensor | TorchDataset[Any],
    y: Tensor | None,
    batch_size: int,
    binarize: bool,
    device: torch.device,
    conditional: bool = False,
) -> Iterator[Batch]:
    """One shuffled epoch of global batches of ``batch_size``, this rank's part of each on
    ``device``. Every rank draws the same permutation (the global RNG is seeded alike) and the
    binarisation noise of the whole global batch, so no draw depends on the number of ranks.

    In memory, the labels ``y`` ride along with ``x``; a streaming dataset yields ``(x, y)``
    items, whose y is kept when the model is ``conditional``.
    """
    local: Iterator[tuple[Tensor, Tensor | None]]
    if isinstance(x, Tensor):
        perm = torch.randperm(x.shape[0], device=x.device)  # (N,)
        shares = [(idx, *share(len(idx))) for idx in perm.split(batch_size)]
        local = (
            (
                x.index_select(0, idx[rows]),
                None if y is None else y.index_select(0, idx[rows].to(y.device)),
            )
            for idx, rows, _ in shares
        )
    else:
        gen = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        perm = torch.randperm(len(cast(Sized, x)), generator=gen)  # (N,)
        shares = [(idx, *share(len(idx))) for idx in perm.split(batch_size)]
        mine = [idx[rows].tolist() for idx, rows, _ in shares]
        loader = DataLoader(x, batch_sampler=mine, generator=gen)
        local = (_item(b, conditional) for b in loader)
    for (idx, rows, weight), (xb, yb) in zip(shares, local, strict=True):
        xb = xb.to(device, torch.float32, non_blocking=True)
        yb = None if yb is None else yb.to(device, non_blocking=True)
        xb = bernoulli(xb, rows, len(idx)) if binarize else xb
        yield Batch(xb, yb, rows, len(idx), weight)


def _item(b: Any, conditional: bool) -> tuple[Tensor, Tensor | None]:
    """A streaming dataset's batch as (x, y or None)."""
    if not isinstance(b, list | tuple):
        return b, None
    if conditional and len(b) < 2:
        raise TrainingError("a conditional model needs a dataset of (x, y) pairs")
    return b[0], (b[1] if conditional else None)


def bernoulli(x: Tensor, rows: slice, size: int) -> Tensor:
    """A Bernoulli draw of this rank's ``x`` (b, *shape), equal to its rows of the draw of the
    whole global batch of ``size`` examples (torch draws one number per element, whatever p)."""
    if len(x) == size:
        return torch.bernoulli(x)
    p = x.new_zeros(size, *x.shape[1:])  # (B, *shape)
    p[rows] = x
    return torch.bernoulli(p)[rows]


def noise(batch: Batch, k: int, latent_dim: int) -> Tensor:
    """Reparameterisation noise for this rank's rows, (b, L) or (k, b, L): the rows of the noise
    of the whole global batch, so every example gets the noise a single process would give it."""
    shape = (batch.size, latent_dim) if k == 1 else (k, batch.size, latent_dim)
    eps = torch.randn(shape, device=batch.x.device)
    return eps[batch.rows] if k == 1 else eps[:, batch.rows]
