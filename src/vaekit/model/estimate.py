"""Importance-sampled estimate of log p(x) (Burda et al. 2015, appendix), batched and chunked.

One estimator serves ``VAE.log_likelihood``, :func:`vaekit.evaluation.evaluate.evaluate` and the
benchmarks: :func:`importance_sample` for one batch in model space, :func:`estimate` for all the
examples in data units (batches, the chunk rule, the change of units). A chunk of samples for a
batch of examples goes through the decoder as one call, so every decoder matmul has
``chunk * batch`` rows; the chunk is sized to keep the largest tensor near
:data:`BLOCK_ELEMENTS` floats (cache-sized), whatever ``k`` is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from itertools import repeat
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence
from tqdm.auto import tqdm

from vaekit.model.inputs import check_count
from vaekit.model.objectives import log_prob_observed

#: target floats in the largest (chunk * batch, width) tensor: 2 MB, so a chunk's tensors stay in
#: a core's L2 cache (8 MB blocks measured 1.8x slower per row on this project's machine)
BLOCK_ELEMENTS = 2**19
#: on a GPU the point is the opposite: few, large kernels (64 MB tensors)
GPU_BLOCK_ELEMENTS = 2**24


class LatentModel(Protocol):
    def qz(self, x: Tensor, y: Tensor | None = None) -> Distribution: ...
    def pz(self) -> Distribution: ...
    def px(self, z: Tensor, y: Tensor | None = None) -> Distribution: ...


class UnitsModel(LatentModel, Protocol):
    """A :class:`LatentModel` that also maps data units to model space (``VAE``)."""

    shape: tuple[int, ...]
    config: Any  #: has ``hidden``, the hidden layer sizes

    def to_model_space(self, x: Tensor) -> Tensor: ...
    def log_det(self, mask: Tensor | None = None) -> Tensor | float: ...


@dataclass(frozen=True)
class Estimate:
    """Per-example results of importance sampling with k samples from q(z|x), each (B,), nats.

    ``log_px``: log (1/k) sum_i w_i, the IWAE bound L_k, the estimate of log p(x).
    ``log_px_z``: log p(x|z) averaged over the same k samples. ``kl_z``: KL(q(z|x) || p(z)),
    analytic where torch knows it, else averaged over the k samples. ``ess``: the effective sample
    size (sum w)^2 / sum w^2 of the k weights, in [1, k].
    """

    log_px: Tensor
    log_px_z: Tensor
    kl_z: Tensor
    ess: Tensor

    @property
    def elbo(self) -> Tensor:
        """The ELBO per example (B,), nats."""
        return self.log_px_z - self.kl_z

    def shift(self, log_det: Tensor | float) -> Estimate:
        """The same estimate with ``log_det`` added to the data densities (change of units)."""
        return Estimate(self.log_px + log_det, self.log_px_z + log_det, self.kl_z, self.ess)


def chunk_size(k: int, batch: int, width: int, block: int = BLOCK_ELEMENTS) -> int:
    """Samples per decoder call for ``batch`` examples whose widest layer has ``width`` units,
    so that the largest tensor holds about ``block`` floats."""
    rows = max(1, block // max(1, width))
    return max(1, min(k, rows // max(1, batch)))


@torch.no_grad()
def importance_sample(
    model: LatentModel,
    x: Tensor,
    k: int,
    chunk: int | None = None,
    width: int | None = None,
    y: Tensor | None = None,
) -> Estimate:
    """Importance-sample one batch ``x`` (B, *event) with k samples z_i ~ q(z|x) each:

        log p(x) ~= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x).

    The samples are drawn ``chunk`` at a time (default from :func:`chunk_size`, ``width`` being the
    widest layer) and their (k, B) log weights kept, so memory is O(chunk * B * D + k * B). This is
    a lower bound in expectation that tightens towards log p(x) as k grows. Global torch RNG.
    ``y`` (B, C): the condition vectors of a conditional model (then it estimates log p(x|y)).
    NaN entries of ``x`` are missing: then it estimates log p(x_obs) (Mattei & Frellsen 2019).
    :class:`ConfigError` unless ``k`` is an integer >= 1.
    """
    k = check_count("k", k, 1)
    B = x.shape[0]
    block = BLOCK_ELEMENTS if x.device.type == "cpu" else GPU_BLOCK_ELEMENTS
    chunk = chunk or chunk_size(k, B, width or x[0].numel(), block)
    qz, pz = model.qz(x, y), model.pz()
    mask = observed(x)  # (B, *event) or None
    log_w = torch.empty(k, B, device=x.device)  # (k, B)
    log_px_z = torch.empty(k, B, device=x.device)  # (k, B)
    for start in range(0, k, chunk):
        z = qz.sample((min(chunk, k - start),))  # (n, B, L)
        lp = log_prob_observed(model.px(z, y), x, mask)  # (n, B)
        log_px_z[start : start + len(z)] = lp
        log_w[start : start + len(z)] = lp + pz.log_prob(z) - qz.log_prob(z)
    lse = torch.logsumexp(log_w, 0)  # (B,)
    ess = (2 * lse - torch.logsumexp(2 * log_w, 0)).exp()  # (B,)
    try:
        kl_z = kl_divergence(qz, pz)  # (B,)
    except NotImplementedError:
        kl_z = (log_px_z - log_w).mean(0)
    return Estimate(lse - math.log(k), log_px_z.mean(0), kl_z, ess)


def observed(x: Tensor) -> Tensor | None:
    """The mask of observed (non-NaN) entries of ``x``, or None when nothing is missing."""
    missing = torch.isnan(x)
    return ~missing if bool(missing.any()) else None


@torch.no_grad()
def estimate(
    model: UnitsModel,
    x: Tensor,
    k: int,
    batch_size: int = 256,
    y: Tensor | None = None,
    progress: bool = False,
) -> Estimate:
    """:func:`importance_sample` over all of ``x`` (N, *shape), checked data in data units, in
    batches of ``batch_size``: per-example results (N,) in nats in the data's units (the model's
    change of units added, counting observed entries only where ``x`` has NaN). ``y`` (N, C): the
    condition vectors of a conditional model. ``progress`` shows a bar. :class:`ConfigError`
    unless ``k`` and ``batch_size`` are integers >= 1.
    """
    k, batch_size = check_count("k", k, 1), check_count("batch_size", batch_size, 1)
    width = max([math.prod(model.shape), *model.config.hidden])  # the widest decoder layer
    xs = x.split(batch_size)
    cs = repeat(None) if y is None else y.split(batch_size)
    parts = [
        importance_sample(model, model.to_model_space(xb), k, width=width, y=cb).shift(
            model.log_det(observed(xb))
        )
        for xb, cb in tqdm(
            list(zip(xs, cs, strict=False)),
            desc=f"log p(x), k={k}",
            unit="batch",
            disable=not progress,
        )
    ]
    names = [f.name for f in fields(Estimate)]
    if not parts:
        return Estimate(*(x.new_empty(0) for _ in names))
    return Estimate(*(torch.cat([getattr(p, f) for p in parts]) for f in names))
