"""Priors p(z). A prior is a module whose call returns a distribution with event shape (L,).

The objective only calls ``pz.log_prob`` and ``kl_divergence(qz, pz)``; a new prior (mixture,
VampPrior) is a new small class here, registered in :data:`PRIORS`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.errors import ConfigError


class StandardNormal(nn.Module):
    """p(z) = N(0, I)."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale, validate_args=False), 1)


PRIORS: dict[str, type[nn.Module]] = {"normal": StandardNormal}


def make_prior(name: str, latent_dim: int) -> nn.Module:
    """Build the prior called ``name`` over a ``latent_dim``-dimensional z."""
    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose from {sorted(PRIORS)}")
    return PRIORS[name](latent_dim)
