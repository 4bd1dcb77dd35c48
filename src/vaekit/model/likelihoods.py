"""Likelihoods p(x|z): each turns decoder output into a ``torch.distributions`` object.

A likelihood is a small module (it may own parameters, such as a learned Gaussian scale) chosen by
name from :data:`LIKELIHOODS`. The loss never branches on its type: it calls ``px.log_prob(x)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import (
    Bernoulli,
    ContinuousBernoulli,
    Distribution,
    Independent,
    Normal,
)

from vaekit.errors import ConfigError, DataError


class Likelihood(nn.Module):
    """Maps decoder parameters (..., *shape) to p(x|z) with event shape ``shape``."""

    support: str = "real"  #: "unit" for data that must lie in [0, 1]

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, params: Tensor) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, x: Tensor) -> None:
        """Raise :class:`DataError` if ``x`` lies outside this likelihood's support."""
        if self.support == "unit" and x.numel() and (x.min() < 0 or x.max() > 1):
            raise DataError(
                f"the {self.name} likelihood needs data in [0, 1], got values in "
                f"[{x.min().item():.4g}, {x.max().item():.4g}]; rescale the data or use "
                "--likelihood gaussian"
            )

    @property
    def name(self) -> str:
        return next(k for k, v in LIKELIHOODS.items() if isinstance(self, v))


class LogitBernoulli(Bernoulli):
    """torch's Bernoulli with log p(x) = x * l - softplus(l) for logits l: the same values
    (also the cross-entropy for grey x in [0, 1]) in two elementwise passes instead of the
    six of ``binary_cross_entropy_with_logits``; it matters in the training and evaluation loops."""

    def log_prob(self, value: Tensor) -> Tensor:
        logits = self.logits
        return nn.functional.softplus(logits).neg_().addcmul_(value, logits)


class BernoulliLikelihood(Likelihood):
    """Bernoulli from logits; grey values in [0, 1] give the usual cross-entropy."""

    support = "unit"

    def forward(self, params: Tensor) -> Distribution:
        return Independent(LogitBernoulli(logits=params, validate_args=False), len(self.shape))


class ContinuousBernoulliLikelihood(Likelihood):
    """The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): normalised on [0, 1]."""

    support = "unit"

    def forward(self, params: Tensor) -> Distribution:
        cb = ContinuousBernoulli(logits=params, validate_args=False)
        return Independent(cb, len(self.shape))


class GaussianLikelihood(Likelihood):
    """Normal with the decoder output as mean; scale fixed, or learned per feature."""

    def __init__(self, shape: tuple[int, ...], scale: float | None = None) -> None:
        super().__init__(shape)
        self.fixed_scale = scale
        if scale is None:
            # softplus(raw) = 1 at init
            self.raw_scale = nn.Parameter(torch.full(self.shape, math.log(math.e - 1)))

    def scale(self) -> Tensor:
        if self.fixed_scale is not None:
            return torch.tensor(self.fixed_scale)
        return nn.functional.softplus(self.raw_scale) + 1e-4  # (*shape)

    def forward(self, params: Tensor) -> Distribution:
        scale = self.scale().to(params)
        return Independent(Normal(params, scale, validate_args=False), len(self.shape))


LIKELIHOODS: dict[str, type[Likelihood]] = {
    "bernoulli": BernoulliLikelihood,
    "continuous-bernoulli": ContinuousBernoulliLikelihood,
    "gaussian": GaussianLikelihood,
}


def make_likelihood(
    name: str, shape: tuple[int, ...], kind: str = "grey", gaussian_scale: float | None = None
) -> Likelihood:
    """Build likelihood ``name``; ``auto``: bernoulli for binary/grey data, else gaussian."""
    if name == "auto":
        name = "gaussian" if kind == "real" else "bernoulli"
    if name not in LIKELIHOODS:
        raise ConfigError(
            f"unknown likelihood {name!r}; choose from auto, {', '.join(LIKELIHOODS)}"
        )
    if name == "gaussian":
        return GaussianLikelihood(shape, gaussian_scale)
    return LIKELIHOODS[name](shape)
