"""Objectives: pure functions over distributions, in nats per example.

ELBO (Kingma & Welling 2014), its beta-weighted form (Higgins et al. 2017) with optional free
bits (Kingma et al. 2016), and the importance-weighted bound (Burda, Grosse & Salakhutdinov 2015)
with optional doubly reparameterised gradients (Tucker, Lawson, Gu & Maddison 2018), and its
form for incomplete data, the MIWAE bound (Mattei & Frellsen 2019), which scores observed entries
only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal, kl_divergence


@dataclass(frozen=True)
class Terms:
    """Per-example terms of a bound on log p(x), each (B,) in nats.

    ``elbo`` is the bound itself (beta = 1); ``objective`` is what training maximises
    (the beta-weighted ELBO, or the IWAE bound).
    """

    log_px_z: Tensor
    kl_z: Tensor
    elbo: Tensor
    objective: Tensor


def kl(qz: Distribution, pz: Distribution, z: Tensor) -> Tensor:
    """KL(q(z|x) || p(z)) per example: analytic where torch knows it, else the one-sample
    Monte Carlo estimate log q(z|x) - log p(z) at ``z`` (B, L)."""
    try:
        return kl_divergence(qz, pz)  # (B,)
    except NotImplementedError:
        return qz.log_prob(z) - pz.log_prob(z)  # (B,)


def kl_per_dim(qz: Distribution, pz: Distribution) -> Tensor | None:
    """KL(q(z_d|x) || p(z_d)) for each latent dimension (B, L), analytic, when both factorise
    over the dimensions (diagonal Gaussians); None otherwise (e.g. a mixture prior)."""
    if not (isinstance(qz, Independent) and isinstance(pz, Independent)):
        return None
    try:
        return kl_divergence(qz.base_dist, pz.base_dist)  # (B, L)
    except NotImplementedError:
        return None


def free_bits_kl(qz: Distribution, pz: Distribution, z: Tensor, free_bits: float) -> Tensor:
    """The KL with free bits (Kingma et al. 2016, eq. 15), per example (B,):

        sum_d max(lambda, E_batch[KL_d]),

    written per example so that its batch mean is exactly that: a dimension whose batch-mean KL
    is below ``free_bits`` (lambda, nats) counts as the constant lambda and gets no gradient, so
    the optimiser stops squeezing it towards the prior. Without a per-dimension KL (a prior that
    does not factorise) the whole KL is one group with the floor lambda * L.
    """
    kl_d = kl_per_dim(qz, pz)  # (B, L) or None
    floor = free_bits
    if kl_d is None:
        kl_d, floor = kl(qz, pz, z)[:, None], free_bits * z.shape[-1]  # (B, 1)
    keep = kl_d.mean(0, keepdim=True) >= floor  # (1, G)
    return torch.where(keep, kl_d, torch.full_like(kl_d, floor)).sum(-1)  # (B,)


def log_prob_observed(px: Distribution, x: Tensor, mask: Tensor | None = None) -> Tensor:
    """log p(x_obs|z): the log-density of the entries of ``x`` where ``mask`` is True, (..., B).

    ``px`` is an ``Independent`` over the event dimensions of ``x`` (B, *event); ``mask``
    (B, *event) marks the observed entries (None: all, and this is ``px.log_prob(x)``). The
    likelihood factorises over entries, so the observed entries' density is the sum of the
    elementwise log-densities over them (Mattei & Frellsen 2019, eq. 4); missing entries of ``x``
    may hold anything (NaN included): they are never read into the sum.
    """
    if mask is None:
        return px.log_prob(x)
    if not isinstance(px, Independent):
        raise TypeError(f"masking needs an Independent p(x|z), got {type(px).__name__}")
    lp = px.base_dist.log_prob(torch.where(mask, x, 0.0))  # (..., B, *event)
    lp = torch.where(mask, lp, 0.0)
    return lp.flatten(-px.reinterpreted_batch_ndims).sum(-1)  # (..., B)


def elbo(
    x: Tensor,
    qz: Distribution,
    pz: Distribution,
    px: Distribution,
    z: Tensor,
    beta: float = 1.0,
    free_bits: float = 0.0,
    mask: Tensor | None = None,
) -> Terms:
    """ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)), one reparameterised sample ``z`` (B, L).

    The beta-ELBO weights the KL by ``beta`` in ``objective``, with ``free_bits`` > 0 the KL
    there is :func:`free_bits_kl`; ``elbo`` stays the true bound. With ``mask`` (B, *event) it
    is the ELBO of the observed entries, log p(x_obs|z) (MIWAE with k = 1, see :func:`miwae`).
    """
    log_px_z = log_prob_observed(px, x, mask)  # (B,)
    kl_z = kl(qz, pz, z)  # (B,)
    penalty = free_bits_kl(qz, pz, z, free_bits) if free_bits > 0 else kl_z  # (B,)
    return Terms(log_px_z, kl_z, log_px_z - kl_z, log_px_z - beta * penalty)


def stop_gradient(qz: Distribution) -> Distribution:
    """q(z|x) with its parameters detached: the same density, no gradient through them."""
    if not (isinstance(qz, Independent) and isinstance(qz.base_dist, Normal)):
        raise TypeError(f"DReG needs a diagonal Gaussian q(z|x), got {type(qz).__name__}")
    base = qz.base_dist
    return Independent(Normal(base.loc.detach(), base.scale.detach(), validate_args=False), 1)


def iwae(
    x: Tensor,
    qz: Distribution,
    pz: Distribution,
    px: Distribution,
    z: Tensor,
    dreg: bool = False,
) -> Terms:
    """The k-sample importance-weighted bound (Burda et al. 2015), z (k, B, L):

        L_k(x) = log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x).

    L_1 is the ELBO and L_k grows with k towards log p(x). ``log_px_z`` and ``kl_z`` are the
    sample means of the two ELBO terms (for logging); ``elbo`` is their difference.

    ``dreg``: the doubly reparameterised gradient (Tucker et al. 2018, eq. 7) for the encoder,
    sum_i w~_i^2 d log w_i / d z_i * d z_i / d phi with normalised weights w~ = softmax(log w):
    q's parameters are detached inside log w (dropping the high-variance score term) and the
    gradient reaching the reparameterised z_i is scaled by w~_i. The bound's value and the
    decoder's and prior's gradients are unchanged.
    """
    return importance_weighted(px.log_prob(x), qz, pz, z, dreg)


def miwae(
    x: Tensor,
    qz: Distribution,
    pz: Distribution,
    px: Distribution,
    z: Tensor,
    mask: Tensor,
    dreg: bool = False,
) -> Terms:
    """The missing-data importance-weighted bound, MIWAE (Mattei & Frellsen 2019, eq. 4-5):

        L_k(x_obs) = log (1/k) sum_i p(x_obs|z_i) p(z_i) / q(z_i|x_obs),   z_i ~ q(z|x_obs),

    a lower bound on log p(x_obs) under missingness at random. ``x`` (B, *event) with ``mask``
    (B, *event) True where observed; the encoder behind ``qz`` saw the zero-filled data and the
    mask. z (k, B, L). With every entry observed it is :func:`iwae`. ``dreg`` as there.
    """
    return importance_weighted(log_prob_observed(px, x, mask), qz, pz, z, dreg)


def importance_weighted(
    log_px_z: Tensor, qz: Distribution, pz: Distribution, z: Tensor, dreg: bool = False
) -> Terms:
    """The importance-weighted bound's terms from log p(x|z_i) (k, B) at the samples z (k, B, L)
    (the shared body of :func:`iwae` and :func:`miwae`)."""
    q = stop_gradient(qz) if dreg else qz
    log_w_kl = q.log_prob(z) - pz.log_prob(z)  # (k, B)
    log_w = log_px_z - log_w_kl  # (k, B)
    bound = torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])  # (B,)
    if dreg and z.requires_grad:
        w = torch.softmax(log_w.detach(), dim=0).unsqueeze(-1)  # (k, B, 1)
        z.register_hook(lambda grad: grad * w)
    log_px_z, kl_z = log_px_z.mean(0), log_w_kl.mean(0)  # (B,)
    return Terms(log_px_z, kl_z, log_px_z - kl_z, bound)
