"""Objectives: pure functions over distributions, in nats per example.

ELBO (Kingma & Welling 2014), its beta-weighted form (Higgins et al. 2017) and the
importance-weighted bound (Burda, Grosse & Salakhutdinov 2015).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence


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


def elbo(
    x: Tensor, qz: Distribution, pz: Distribution, px: Distribution, z: Tensor, beta: float = 1.0
) -> Terms:
    """ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)), one reparameterised sample ``z`` (B, L).

    The beta-ELBO weights the KL by ``beta`` in ``objective``; ``elbo`` stays the true bound.
    """
    log_px_z = px.log_prob(x)  # (B,)
    kl_z = kl(qz, pz, z)  # (B,)
    return Terms(log_px_z, kl_z, log_px_z - kl_z, log_px_z - beta * kl_z)


def iwae(x: Tensor, qz: Distribution, pz: Distribution, px: Distribution, z: Tensor) -> Terms:
    """The k-sample importance-weighted bound (Burda et al. 2015), z (k, B, L):

        L_k(x) = log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x).

    L_1 is the ELBO and L_k grows with k towards log p(x). ``log_px_z`` and ``kl_z`` are the
    sample means of the two ELBO terms (for logging); ``elbo`` is their difference.
    """
    log_px_z = px.log_prob(x)  # (k, B)
    log_w_kl = qz.log_prob(z) - pz.log_prob(z)  # (k, B)
    log_w = log_px_z - log_w_kl  # (k, B)
    bound = torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])  # (B,)
    log_px_z, kl_z = log_px_z.mean(0), log_w_kl.mean(0)  # (B,)
    return Terms(log_px_z, kl_z, log_px_z - kl_z, bound)
