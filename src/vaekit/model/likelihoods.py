"""Likelihoods p(x|z): each turns decoder output into a ``torch.distributions`` object.

A likelihood is a small module (it may own parameters, such as a learned Gaussian scale) chosen by
name from :data:`LIKELIHOODS`. The loss never branches on its type: it calls ``px.log_prob(x)``.
``auto`` is resolved from the data by :func:`resolve`: binary data -> Bernoulli, data on a grid of
levels (8-bit images: 256) -> discretized logistic, other data -> Gaussian.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor, nn
from torch.distributions import (
    Bernoulli,
    ContinuousBernoulli,
    Distribution,
    Independent,
    Normal,
    constraints,
)

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError

LOG_SCALE_MIN = -7.0  #: floor of the discretized logistic's log-scale (as PixelCNN++)
LOG_SCALE_INIT = math.log(0.1)  #: its log-scale at a zero decoder output (a tenth of [0, 1])


class Likelihood(nn.Module):
    """Maps decoder parameters (..., *shape) to p(x|z) with event shape ``shape``."""

    support: str = "real"  #: "unit" for data that must lie in [0, 1]
    n_params: int = 1  #: decoder outputs per feature

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of the decoder's parameters per example: ``shape``, or (n_params, *shape)."""
        return self.shape if self.n_params == 1 else (self.n_params, *self.shape)

    def forward(self, params: Tensor) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, x: Tensor) -> None:
        """Raise :class:`DataError` if ``x`` lies outside this likelihood's support."""
        if self.support == "unit" and x.numel() and (x.min() < 0 or x.max() > 1):
            raise DataError(
                f"the {self.name} likelihood needs data in [0, 1], got values in "
                f"[{x.min().item():.4g}, {x.max().item():.4g}]; rescale the data or use "
                'likelihood="gaussian"'
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

    @torch.no_grad()
    def init_scale(self, spread: Tensor) -> None:
        """Start the learned scale at the data's per-feature spread ``spread`` (*shape)."""
        if self.fixed_scale is None:
            s = spread.to(self.raw_scale).reshape(self.shape).clamp(min=1e-3)
            self.raw_scale.copy_(s + torch.log(-torch.expm1(-s)))  # softplus^-1(s)


class DiscretizedLogistic(Distribution):
    """A logistic distribution rounded to ``levels`` equally spaced values k/(levels-1) in [0, 1]
    (Salimans et al. 2017, PixelCNN++), elementwise: batch shape ``loc.shape``, event ().

    P(x = k/(L-1)) is the logistic mass of the bin [x - h, x + h], h = 1/(2(L-1)); the first
    bin extends to -inf and the last to +inf, so the L probabilities sum to 1 exactly. The
    interior mass uses sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^(b-a)) in log space, which
    is exact where PixelCNN++ falls back to the mid-bin density (it never underflows to 0).
    """

    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, loc: Tensor, log_scale: Tensor, levels: int = 256) -> None:
        if levels < 2:
            raise ConfigError(f"a discretized likelihood needs levels >= 2, got {levels}")
        self.loc, self.log_scale = torch.broadcast_tensors(loc, log_scale)
        self.levels = int(levels)
        super().__init__(self.loc.shape, validate_args=False)

    @property
    def half_bin(self) -> float:
        return 0.5 / (self.levels - 1)

    def log_prob(self, value: Tensor) -> Tensor:
        """log P(x) for x on the grid (snapped to the nearest level), nats, elementwise."""
        n = self.levels - 1
        k = torch.round(value * n).clamp(0, n)  # the level of each value
        inv_s = torch.exp(-self.log_scale)
        centred = k / n - self.loc
        a = inv_s * (centred + self.half_bin)  # standardized upper bin edge
        b = inv_s * (centred - self.half_bin)  # standardized lower bin edge
        log_cdf_a = -nn.functional.softplus(-a)  # log sigma(a): mass below the upper edge
        log_sf_b = -nn.functional.softplus(b)  # log sigma(-b) = log(1 - sigma(b))
        log_bin = torch.log(-torch.expm1(-2 * self.half_bin * inv_s))  # log(1 - e^(b - a))
        interior = log_cdf_a + log_sf_b + log_bin
        return torch.where(k == 0, log_cdf_a, torch.where(k == n, log_sf_b, interior))

    def cdf_above(self, t: float | Tensor) -> Tensor:
        """P(X_continuous > t) = sigma((loc - t) / scale), elementwise."""
        return torch.sigmoid((self.loc - t) * torch.exp(-self.log_scale))

    @property
    def mean(self) -> Tensor:
        """The exact mean sum_k P(x >= k/(L-1)) / (L-1), elementwise (one pass per level)."""
        n = self.levels - 1
        total = torch.zeros_like(self.loc)
        for j in range(1, n + 1):
            total += self.cdf_above((j - 0.5) / n)
        return total / n

    @property
    def mode(self) -> Tensor:
        return (torch.round(self.loc * (self.levels - 1)).clamp(0, self.levels - 1)) / (
            self.levels - 1
        )

    def sample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> Tensor:
        """Draws on the grid k/(L-1), shape ``sample_shape + batch_shape``."""
        shape = self._extended_shape(torch.Size(sample_shape))
        with torch.no_grad():
            u = torch.rand(shape, device=self.loc.device).clamp_(1e-6, 1 - 1e-6)
            x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
            n = self.levels - 1
            return torch.round(x * n).clamp_(0, n) / n


class DiscretizedLogisticLikelihood(Likelihood):
    """:class:`DiscretizedLogistic` over ``levels`` values per feature; the decoder gives each
    feature's location and log-scale (floored at :data:`LOG_SCALE_MIN`)."""

    support = "unit"
    n_params = 2
    discrete = True  #: it gives the probabilities of the data's levels, not densities

    def __init__(self, shape: tuple[int, ...], levels: int = 256) -> None:
        super().__init__(shape)
        self.levels = int(levels)
        self.offset = math.log(math.expm1(LOG_SCALE_INIT - LOG_SCALE_MIN))

    def forward(self, params: Tensor) -> Distribution:
        dim = -len(self.shape) - 1  # params (..., 2, *shape)
        loc, raw = params.select(dim, 0), params.select(dim, 1)  # (..., *shape) each
        log_scale = LOG_SCALE_MIN + nn.functional.softplus(raw + self.offset)
        return Independent(DiscretizedLogistic(loc, log_scale, self.levels), len(self.shape))

    def check(self, x: Tensor) -> None:
        super().check(x)
        n = self.levels - 1
        if x.numel() and ((x * n - torch.round(x * n)).abs() > 1e-3).any():
            raise DataError(
                f"the discretized-logistic likelihood needs values on {self.levels} levels "
                f"k/{n} (8-bit data as k/255), got values between them; use "
                'likelihood="gaussian" for continuous data'
            )


LIKELIHOODS: dict[str, type[Likelihood]] = {
    "bernoulli": BernoulliLikelihood,
    "continuous-bernoulli": ContinuousBernoulliLikelihood,
    "gaussian": GaussianLikelihood,
    "discretized-logistic": DiscretizedLogisticLikelihood,
}


def auto_likelihood(kind: str, levels: int | None) -> str:
    """The likelihood ``auto`` stands for: bernoulli for binary data, discretized-logistic for
    [0, 1] data on ``levels`` levels (8-bit: 256), else gaussian."""
    if kind == "binary":
        return "bernoulli"
    if kind in ("grey", "rgb") and levels is not None and levels > 2:
        return "discretized-logistic"
    return "gaussian"


def resolve(config: ModelConfig, kind: str, levels: int | None = None) -> ModelConfig:
    """``config`` with ``likelihood`` made concrete (``auto`` resolved from the data's ``kind``
    and ``levels``) and, for the discretized logistic, its ``levels`` set (default 256)."""
    name = config.likelihood
    if name == "auto":
        name = auto_likelihood(kind, levels)
    if name not in LIKELIHOODS:
        raise ConfigError(
            f"unknown likelihood {name!r}; choose from auto, {', '.join(LIKELIHOODS)}"
        )
    if name == "discretized-logistic":
        levels = config.levels or levels or 256
    else:
        levels = config.levels
    return dataclasses.replace(config, likelihood=name, levels=levels)


def make_likelihood(
    name: str,
    shape: tuple[int, ...],
    kind: str = "grey",
    gaussian_scale: float | None = None,
    levels: int | None = None,
) -> Likelihood:
    """Build likelihood ``name`` (``auto``: see :func:`auto_likelihood`) for event ``shape``."""
    if name == "auto":
        name = auto_likelihood(kind, levels)
    if name not in LIKELIHOODS:
        raise ConfigError(
            f"unknown likelihood {name!r}; choose from auto, {', '.join(LIKELIHOODS)}"
        )
    if name == "gaussian":
        return GaussianLikelihood(shape, gaussian_scale)
    if name == "discretized-logistic":
        return DiscretizedLogisticLikelihood(shape, levels or 256)
    return LIKELIHOODS[name](shape)
