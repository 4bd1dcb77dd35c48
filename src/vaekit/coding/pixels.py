"""The data's side of bits-back coding: p(x|z) as an entropy model over integer symbols.

One small class per likelihood the coder supports, chosen by :func:`make_pixels`:

- :class:`BinaryPixels`: the Bernoulli likelihood on 0/1 data; symbol = the value.
- :class:`GreyLevels`: the Gaussian likelihood on 8-bit grey data (values k / 255), coded as the
  Gaussian's mass on each level's bin [k - 1/2, k + 1/2] / 255, renormalised over the 256 bins
  (constriction's QuantizedGaussian); symbol = k.
- :class:`LogisticLevels`: the discretized logistic on data of L levels (values k / (L - 1); 8-bit
  images: 256), coded with its own bin masses (the end bins open), a categorical table of L
  probabilities per feature; symbol = k. The rate is then the model's own -ELBO.

Each turns the decoder's output for one example into quantized parameters, and pushes or pops
that example's symbols with them; the same numbers on both sides, as in :mod:`vaekit.coding.latent`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit.coding.latent import GRID_BITS, quantize
from vaekit.errors import ConfigError, DataError
from vaekit.model.likelihoods import (
    BernoulliLikelihood,
    DiscretizedLogisticLikelihood,
    GaussianLikelihood,
)
from vaekit.model.vae import VAE


class BinaryPixels:
    """Bernoulli p(x|z) over 0/1 values."""

    binary = True

    def symbols(self, x: np.ndarray) -> np.ndarray:
        """The symbols (n, D) uint8 of data x (n, D), or :class:`DataError`."""
        if not np.isin(x, (0, 1)).all():
            raise DataError("bits-back compression with the Bernoulli likelihood needs 0/1 data")
        return x.astype(np.uint8)

    def restore(self, k: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return k.astype(dtype)

    def values(self, k: np.ndarray) -> np.ndarray:
        """The model-space values (float64) of symbols k, as the encoder sees them."""
        return k.astype(np.float64)

    def params(self, out: Tensor) -> np.ndarray:
        """p(x_d = 1) (D,) from the decoder's logits (D,), rounded to the grid first."""
        return torch.sigmoid(torch.from_numpy(quantize(out.numpy()))).numpy()

    def push(self, coder: Any, c: Any, k: np.ndarray, params: np.ndarray) -> None:
        coder.encode_reverse(k.astype(np.int32), c.stream.model.Bernoulli(perfect=False), params)

    def pop(self, coder: Any, c: Any, params: np.ndarray) -> np.ndarray:
        return coder.decode(c.stream.model.Bernoulli(perfect=False), params)


class _Levels:
    """Data on ``levels`` equally spaced values k / (levels - 1) in [0, 1]; symbol = k."""

    binary = False
    levels = 256
    likelihood = ""

    def symbols(self, x: np.ndarray) -> np.ndarray:
        n = self.levels - 1
        k = np.rint(np.asarray(x, dtype=np.float64) * n)
        if not np.issubdtype(x.dtype, np.floating) or not np.array_equal(
            self.restore(k, x.dtype), x
        ):
            raise DataError(
                f"bits-back compression with the {self.likelihood} likelihood needs data on "
                f"{self.levels} levels: float values k / {n} for integers k in 0..{n}"
                + (" (8-bit images)" if self.levels == 256 else "")
            )
        return k.astype(np.uint8)

    def restore(self, k: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """k / (levels - 1) in ``dtype``, divided in that dtype, as data loaders compute it."""
        return k.astype(dtype) / np.dtype(dtype).type(self.levels - 1)

    def values(self, k: np.ndarray) -> np.ndarray:
        """The model-space values (float64) of symbols k, as the encoder sees them."""
        return k.astype(np.float64) / (self.levels - 1)


class GreyLevels(_Levels):
    """Gaussian p(x|z) discretised to the 256 levels k / 255 of 8-bit data."""

    likelihood = "Gaussian"

    def __init__(self, scale: Tensor, D: int) -> None:
        s = quantize(scale.detach().double().numpy().reshape(-1))  # (D,) or (1,)
        s = np.maximum(s, 2.0**-GRID_BITS)  # a positive scale after rounding
        self.std = np.broadcast_to(s * (self.levels - 1), (D,)).copy()  # (D,) in levels

    def params(self, out: Tensor) -> np.ndarray:
        """The Gaussian means (D,) in levels, from the decoder's means (D,) on the grid."""
        return quantize(out.numpy()) * (self.levels - 1)

    def push(self, coder: Any, c: Any, k: np.ndarray, params: np.ndarray) -> None:
        model = c.stream.model.QuantizedGaussian(0, self.levels - 1)
        coder.encode_reverse(k.astype(np.int32), model, params, self.std)

    def pop(self, coder: Any, c: Any, params: np.ndarray) -> np.ndarray:
        model = c.stream.model.QuantizedGaussian(0, self.levels - 1)
        return coder.decode(model, params, self.std)


class LogisticLevels(_Levels):
    """Discretized logistic p(x|z) (:class:`~vaekit.model.likelihoods.DiscretizedLogistic`) over
    its L levels: per feature, the logistic's mass on each level's bin, the end bins open."""

    likelihood = "discretized-logistic"

    def __init__(self, likelihood: DiscretizedLogisticLikelihood) -> None:
        self.module, self.levels = likelihood, likelihood.levels
        n = self.levels - 1
        self.edges = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # (L - 1,) inner edges

    def params(self, out: Tensor) -> np.ndarray:
        """The table (D, L) of level probabilities from the decoder's output (2 * D,) (each
        feature's location and raw log-scale), rounded to the grid first."""
        rounded = torch.from_numpy(quantize(out.numpy()))
        px = self.module(rounded.unflatten(-1, self.module.param_shape)).base_dist
        loc, log_scale = px.loc.reshape(-1, 1), px.log_scale.reshape(-1, 1)  # (D, 1) each
        cdf = torch.sigmoid((self.edges - loc) * torch.exp(-log_scale))  # (D, L - 1): P(x < edge)
        zero, one = torch.zeros_like(loc), torch.ones_like(loc)
        return torch.diff(cdf, prepend=zero, append=one).clamp_(min=0.0).numpy()  # (D, L)

    def push(self, coder: Any, c: Any, k: np.ndarray, params: np.ndarray) -> None:
        coder.encode_reverse(k.astype(np.int32), c.stream.model.Categorical(perfect=False), params)

    def pop(self, coder: Any, c: Any, params: np.ndarray) -> np.ndarray:
        return coder.decode(c.stream.model.Categorical(perfect=False), params)


Pixels = BinaryPixels | GreyLevels | LogisticLevels  #: a symbol coder of :func:`make_pixels`


def make_pixels(model: VAE, D: int) -> Pixels:
    """The symbol coder for ``model``'s likelihood, or :class:`ConfigError`."""
    if isinstance(model.likelihood, BernoulliLikelihood):
        return BinaryPixels()
    if isinstance(model.likelihood, DiscretizedLogisticLikelihood) and not model.standardized:
        if model.likelihood.levels > 256:
            raise ConfigError(
                f"bits-back compression codes at most 256 levels a feature; this model's "
                f"discretized logistic has {model.likelihood.levels}"
            )
        return LogisticLevels(model.likelihood)
    if isinstance(model.likelihood, GaussianLikelihood) and not model.standardized:
        return GreyLevels(model.likelihood.scale(), D)
    raise ConfigError(
        f"bits-back compression supports the Bernoulli likelihood (0/1 data), the "
        f"discretized logistic (data on its levels) and the Gaussian one (8-bit grey data); "
        f"this model has the {model.likelihood.name} likelihood"
        + (" on standardized data" if model.standardized else "")
        + ", which is not supported yet"
    )
