"""The latent's side of bits-back coding: buckets of equal standard-normal mass, q(z|x) and p(z)
over them, and pushing / popping a latent with p(z).

Every latent dimension is cut into B buckets of equal mass under the prior's marginal in that
dimension, the discretisation of Townsend et al. (2019): for N(0, 1) the edges Phi^-1(i / B), and
the prior is uniform over the buckets. A Gaussian mixture prior (the mixture and the VampPrior)
puts its latents far outside N(0, 1)'s range (|z| up to about 10 for a trained VampPrior), so its
edges are the quantiles of each dimension's marginal mixture, found by bisection. It does not
factorise over the dimensions, so it codes them in turn with
p(z_d | z_<d) = sum_k w_k(z_<d) P_k(bucket of z_d), where w_k(z_<d) is the posterior weight of
component k given the dimensions already coded and P_k the component's mass per bucket,
tabulated once per model.

All tables come from parameters rounded to the grid of :func:`quantize` and are computed by the
same operations, in the same order and shapes, when compressing and when decompressing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

GRID_BITS = 12  #: network outputs are rounded to multiples of 2**-GRID_BITS


def quantize(v: np.ndarray) -> np.ndarray:
    """``v`` rounded to the nearest multiple of 2**-GRID_BITS (float64)."""
    return np.round(np.ldexp(v, GRID_BITS)) * 2.0**-GRID_BITS


def bucket_mass(edges: Tensor, loc: Tensor, log_var: Tensor) -> Tensor:
    """The mass of N(loc, exp(log_var)) in each bucket: (..., B) for loc, log_var (...,)."""
    scale = torch.exp(0.5 * log_var)
    t = (edges - loc[..., None]) / scale[..., None]  # (..., B + 1)
    # |t| <= 37 keeps Phi(t) a normal float (Phi(-38) is subnormal: slow, and flushed to zero in
    # some floating-point modes); masses below 2**-64 are far below the coder's resolution
    # (2**-24), so they become exactly 0 on both sides
    mass = torch.diff(torch.special.ndtr(t.clamp(-37.0, 37.0)), dim=-1)  # (..., B)
    return mass.masked_fill_(mass < 2.0**-64, 0.0)


def normal_grid(B: int, L: int) -> tuple[Tensor, Tensor]:
    """The edges (L, B + 1) of B buckets of equal N(0, 1) mass, -inf .. inf, and the buckets'
    centres (L, B) (the quantiles at (i + 1/2) / B), the same in every dimension."""
    i = torch.arange(B + 1, dtype=torch.float64)
    edges = torch.special.ndtri(i / B)  # (B + 1,)
    centres = torch.special.ndtri((i[:-1] + 0.5) / B)  # (B,)
    return edges.expand(L, B + 1), centres.expand(L, B)


def mixture_grid(B: int, w: Tensor, loc: Tensor, log_var: Tensor) -> tuple[Tensor, Tensor]:
    """Edges (L, B + 1) and centres (L, B) of B buckets of equal mass under each dimension's
    marginal sum_k w_k N(loc_kd, exp(log_var_kd)) (w (K,), loc and log_var (K, L)): its quantiles
    at i / B and (i + 1/2) / B, by 52 bisection steps per dimension in float64."""
    K, L = loc.shape
    scale = torch.exp(0.5 * log_var)  # (K, L)
    p = torch.arange(1, 2 * B, dtype=torch.float64) / (2 * B)  # (2B - 1,) inner quantiles
    q = torch.empty(L, 2 * B - 1, dtype=torch.float64)
    for d in range(L):
        lo = torch.full_like(p, float((loc[:, d] - 40 * scale[:, d]).min()))
        hi = torch.full_like(p, float((loc[:, d] + 40 * scale[:, d]).max()))
        for _ in range(52):  # to 2^-52 of the bracket: ~1e-13 for a width of 100
            mid = 0.5 * (lo + hi)
            t = (mid[:, None] - loc[:, d]) / scale[:, d]  # (2B - 1, K)
            below = torch.special.ndtr(t.clamp(-37.0, 37.0)) @ w < p  # the quantile is above
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        q[d] = 0.5 * (lo + hi)
    inf = torch.full((L, 1), torch.inf, dtype=torch.float64)
    edges = torch.cat([-inf, q[:, 1::2], inf], dim=1)  # (L, B + 1)
    return edges, q[:, 0::2]  # centres (L, B)


class UniformBuckets:
    """N(0, I) over equal-mass buckets: every bucket of every dimension has mass 1 / B."""

    def __init__(self, B: int, L: int) -> None:
        self.B, self.L = B, L
        self.edges, self.centres = normal_grid(B, L)  # (L, B + 1), (L, B)

    def push(self, coder: Any, c: Any, z_idx: np.ndarray) -> None:
        coder.encode_reverse(z_idx, c.stream.model.Uniform(self.B))

    def pop(self, coder: Any, c: Any) -> np.ndarray:
        return coder.decode(c.stream.model.Uniform(self.B), self.L)


class MixtureBuckets:
    """sum_k pi_k N(z; mu_k, diag(sigma_k^2)) over the buckets, coded one dimension at a time."""

    def __init__(self, B: int, logits: Tensor, loc: Tensor, scale: Tensor) -> None:
        logits = torch.from_numpy(quantize(logits.detach().double().numpy()))  # (K,)
        loc = torch.from_numpy(quantize(loc.detach().double().numpy()))  # (K, L)
        log_var = torch.from_numpy(quantize(2 * scale.detach().double().log().numpy()))  # (K, L)
        self.w0 = torch.softmax(logits, 0)  # (K,)
        self.L = loc.shape[1]
        self.edges, self.centres = mixture_grid(B, self.w0, loc, log_var)  # (L, B + 1), (L, B)
        self.mass = torch.stack(  # (L, K, B), one dimension at a time to bound the memory
            [bucket_mass(self.edges[d], loc[:, d], log_var[:, d]) for d in range(self.L)]
        )
        self.mass_t = self.mass.transpose(1, 2).contiguous()  # (L, B, K): rows for the tables

    def step(self, w: Tensor, d: int, z: int) -> Tensor:
        """The component weights after dimension d took bucket z, with weights below 2**-64 of
        the total set to 0 so that the next tables skip them (the start again where every
        component gives z no mass), identically on both sides."""
        w = w * self.mass[d, :, z]  # (K,)
        total = w.sum()
        if total == 0:
            return self.w0
        w = w / total
        return w.masked_fill_(w < 2.0**-64, 0.0)

    def table(self, w: Tensor, d: int) -> Tensor:
        """p(z_d | z_<d) over the buckets (B,): sum_k w_k P_k over the components in play."""
        k = torch.nonzero(w).squeeze(1)  # (K',)
        if 8 * len(k) > len(w):  # many components in play: one pass over all of them
            return torch.mv(self.mass_t[d], w)  # (B,)
        return torch.mv(self.mass[d, k].T, w[k])  # (B,)

    def push(self, coder: Any, c: Any, z_idx: np.ndarray) -> None:
        tables, w = [], self.w0
        for d in range(self.L):
            tables.append(self.table(w, d))
            w = self.step(w, d, int(z_idx[d]))
        model = c.stream.model.Categorical(perfect=False)
        coder.encode_reverse(z_idx, model, torch.stack(tables).numpy())

    def pop(self, coder: Any, c: Any) -> np.ndarray:
        z_idx, w = np.empty(self.L, dtype=np.int32), self.w0
        model = c.stream.model.Categorical(perfect=False)
        for d in range(self.L):
            z_idx[d] = coder.decode(model, self.table(w, d)[None].numpy())[0]
            w = self.step(w, d, int(z_idx[d]))
        return z_idx
