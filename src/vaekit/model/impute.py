"""Imputation of missing entries by importance sampling (Mattei & Frellsen 2019, section 3).

With k samples z_i ~ q(z|x_obs) and self-normalised weights

    w_i = r_i / sum_j r_j,   r_i = p(x_obs|z_i) p(z_i) / q(z_i|x_obs),

the single imputation is the estimate of the conditional mean

    E[x_miss | x_obs] ~= sum_i w_i E[x_miss | z_i]                      (their eq. 8),

and multiple imputations come from sampling importance resampling: draw z_i with probability
w_i, then x_miss ~ p(x_miss | z_i). Both are consistent as k grows. The encoder of a model made
for missing data sees the zero-filled data and the mask; any other model sees the zero-filled
(model-space, so mean-filled) data: a worse proposal, still a valid one.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution

from vaekit.errors import DataError
from vaekit.model.objectives import log_prob_observed


class ImputingModel(Protocol):
    """What imputation needs of a model (``VAE``): its distributions and its units."""

    @property
    def config(self) -> object: ...

    def qz(self, x: Tensor, y: Tensor | None = None) -> Distribution: ...
    def pz(self) -> Distribution: ...
    def px(self, z: Tensor, y: Tensor | None = None) -> Distribution: ...
    def to_model_space(self, x: Tensor) -> Tensor: ...
    def from_model_space(self, x: Tensor) -> Tensor: ...


#: imputation batches keep the (k, B, *shape) decoder output near this many floats (64 MB)
IMPUTE_BLOCK = 2**24


def weights(
    model: ImputingModel, x: Tensor, mask: Tensor, k: int, y: Tensor | None = None
) -> tuple[Tensor, Distribution]:
    """Self-normalised importance weights (k, B) of k samples z_i ~ q(z|x_obs), and p(x|z_i)
    (batch (k, B)). ``x`` (B, *shape) in model space, NaN where ``mask`` (B, *shape) is False.

    A row whose weights are not finite (observed values far outside the training data, where
    the encoder's scale or the likelihood overflows) gets NaN weights, and p(x|z) at z = 0 so
    that drawing from it still works.
    """
    x_in = x if getattr(model.config, "mask_input", False) else torch.where(mask, x, 0.0)
    qz, pz = model.qz(x_in, y), model.pz()
    z = qz.rsample((k,))  # (k, B, L); rsample checks no parameter: an overflowing row gives NaN
    ok = torch.isfinite(z).all(-1).all(0)  # (B,)
    z = torch.where(ok[:, None], z, 0.0)  # (k, B, L)
    px = model.px(z, y)  # batch (k, B), event shape
    log_r = log_prob_observed(px, x, mask) + pz.log_prob(z) - qz.log_prob(z)  # (k, B)
    w = torch.softmax(log_r, dim=0)  # (k, B)
    ok &= torch.isfinite(w).all(0)
    if not ok.all():
        px = model.px(torch.where(ok[:, None], z, 0.0), y)
        w = torch.where(ok, w, torch.nan)
    return w, px


@torch.no_grad()
def impute(
    model: ImputingModel, x: Tensor, k: int, draws: int = 0, y: Tensor | None = None
) -> Tensor:
    """Fill the NaN entries of ``x`` (B, *shape), data units; the observed entries are kept.

    ``draws`` = 0: the single imputation sum_i w_i E[x|z_i] (B, *shape); ``draws`` = M: M
    imputations by sampling importance resampling, (M, B, *shape). ``y`` (B, C): the condition
    vectors of a conditional model. Uses the global torch RNG. The missing entries of a row
    whose importance weights are not finite come back NaN (see :func:`impute_batches`).
    """
    mask = ~torch.isnan(x)  # (B, *shape)
    w, px = weights(model, model.to_model_space(x), mask, k, y)  # (k, B)
    ok = torch.isfinite(w).all(0).reshape(-1, *[1] * (x.ndim - 1))  # (B, 1, ...)
    if draws == 0:
        w_full = w.reshape(*w.shape, *[1] * (x.ndim - 1))  # (k, B, 1, ...)
        fill = model.from_model_space((w_full * px.mean).sum(0))  # (B, *shape)
    else:
        probs = torch.where(ok.flatten(), w, 1.0 / len(w)).T  # (B, k): any draw, if not finite
        pick = Categorical(probs=probs).sample((draws,))  # (M, B): the resampled z_i
        x_k = px.sample()  # (k, B, *shape): one draw of x from each p(x|z_i)
        rows = torch.arange(x.shape[0], device=x.device)  # (B,)
        fill = model.from_model_space(x_k[pick, rows])  # (M, B, *shape)
    return torch.where(mask, x, torch.where(ok, fill, torch.nan))


def _unfilled(out: Tensor, draws: int) -> Tensor:
    """The rows (indices) of ``out`` (N, *shape), or (M, N, *shape) with ``draws``, holding a
    value that is not finite: only a fill can be (the observed values are checked)."""
    rows = out.movedim(1, 0) if draws else out  # (N, ...)
    return (~torch.isfinite(rows.flatten(1)).all(1)).nonzero()[:, 0]


def impute_batches(
    model: ImputingModel,
    x: Tensor,
    k: int,
    draws: int,
    c: Tensor | None,
    batch_size: int,
    seed: int | None,
) -> Tensor:
    """:func:`impute` over ``x`` (N, *shape) in batches of at most ``batch_size`` rows (fewer
    where k is large: :data:`IMPUTE_BLOCK`), seeded by ``seed`` without touching the global RNG.
    :class:`DataError` naming the rows whose fill is not finite (no such value is returned)."""
    shape = x.shape[1:]
    batch_size = max(1, min(batch_size, IMPUTE_BLOCK // (k * math.prod(shape))))
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        xs = x.split(batch_size)
        cs = c.split(batch_size) if c is not None else [None] * len(xs)
        out = [impute(model, xb, k, draws, cb) for xb, cb in zip(xs, cs, strict=True)]
    filled = torch.cat(out, dim=1 if draws else 0)
    bad = _unfilled(filled, draws).tolist()
    if bad:
        rows = ", ".join(map(str, bad[:10])) + (f", ... ({len(bad)} rows)" if len(bad) > 10 else "")
        row, their = ("rows", "their") if len(bad) > 1 else ("row", "its")
        raise DataError(
            f"{row} {rows} (counting from 0): the model gives no finite likelihood to {their} "
            "observed values (far outside the training data?); nothing was imputed"
        )
    return filled
