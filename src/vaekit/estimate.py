"""Importance-sampled estimate of log p(x) (Burda et al. 2015, appendix), batched and chunked."""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor
from torch.distributions import Distribution


class LatentModel(Protocol):
    def qz(self, x: Tensor) -> Distribution: ...
    def pz(self) -> Distribution: ...
    def px(self, z: Tensor) -> Distribution: ...


@torch.no_grad()
def log_likelihood(model: LatentModel, x: Tensor, k: int = 1000, chunk: int = 100) -> Tensor:
    """log p(x) ~= log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x), per example (B,) in nats.

    The k samples are drawn ``chunk`` at a time and combined with a running log-sum-exp, so memory
    is O(chunk * B * D) whatever k is. The estimate is the IWAE bound L_k: a lower bound in
    expectation that tightens towards log p(x) as k grows.
    """
    if k < 1 or chunk < 1:
        raise ValueError(f"k and chunk must be >= 1, got k={k}, chunk={chunk}")
    qz, pz = model.qz(x), model.pz()
    total = torch.full((x.shape[0],), -math.inf, device=x.device)  # (B,)
    done = 0
    while done < k:
        n = min(chunk, k - done)
        z = qz.sample((n,))  # (n, B, L)
        log_w = model.px(z).log_prob(x) + pz.log_prob(z) - qz.log_prob(z)  # (n, B)
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))  # (B,)
        done += n
    return total - math.log(k)
