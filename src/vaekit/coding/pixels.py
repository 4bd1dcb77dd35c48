"""The data's side of bits-back coding: p(x|z) as an entropy model over integer symbols.

One small class per likelihood the coder supports, chosen by :func:`make_pixels`:

- :class:`BinaryPixels`: the Bernoulli likelihood on 0/1 data; symbol = the value.
- :class:`GreyLevels`: the Gaussian likelihood on 8-bit grey data (values k / 255), coded as the
  Gaussian's mass on each level's bin [k - 1/2, k + 1/2] / 255, renormalised over the 256 bins
  (constriction's QuantizedGaussian); symbol = k.

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
from vaekit.model.likelihoods import BernoulliLikelihood, GaussianLikelihood
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


class GreyLevels:
    """Gaussian p(x|z) discretised to the 256 levels k / 255 of 8-bit data."""

    binary = False
    levels = 256

    def __init__(self, scale: Tensor, D: int) -> None:
        s = quantize(scale.detach().double().numpy().reshape(-1))  # (D,) or (1,)
        s = np.maximum(s, 2.0**-GRID_BITS)  # a positive scale after rounding
        self.std = np.broadcast_to(s * (self.levels - 1), (D,)).copy()  # (D,) in levels

    def symbols(self, x: np.ndarray) -> np.ndarray:
        k = np.rint(np.asarray(x, dtype=np.float64) * (self.levels - 1))
        if not np.issubdtype(x.dtype, np.floating) or not np.array_equal(
            self.restore(k, x.dtype), x
        ):
            raise DataError(
                "bits-back compression with the Gaussian likelihood needs 8-bit grey data: "
                "float values k / 255 for integers k in 0..255"
            )
        return k.astype(np.uint8)

    def restore(self, k: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """k / 255 in ``dtype``, divided in that dtype, as data loaders compute it."""
        return k.astype(dtype) / np.dtype(dtype).type(self.levels - 1)

    def values(self, k: np.ndarray) -> np.ndarray:
        return k.astype(np.float64) / (self.levels - 1)

    def params(self, out: Tensor) -> np.ndarray:
        """The Gaussian means (D,) in levels, from the decoder's means (D,) on the grid."""
        return quantize(out.numpy()) * (self.levels - 1)

    def push(self, coder: Any, c: Any, k: np.ndarray, params: np.ndarray) -> None:
        model = c.stream.model.QuantizedGaussian(0, self.levels - 1)
        coder.encode_reverse(k.astype(np.int32), model, params, self.std)

    def pop(self, coder: Any, c: Any, params: np.ndarray) -> np.ndarray:
        model = c.stream.model.QuantizedGaussian(0, self.levels - 1)
        return coder.decode(model, params, self.std)


def make_pixels(model: VAE, D: int) -> BinaryPixels | GreyLevels:
    """The symbol coder for ``model``'s likelihood, or :class:`ConfigError`."""
    if isinstance(model.likelihood, BernoulliLikelihood):
        return BinaryPixels()
    if isinstance(model.likelihood, GaussianLikelihood) and not model.standardized:
        return GreyLevels(model.likelihood.scale(), D)
    raise ConfigError(
        f"bits-back compression supports the Bernoulli likelihood (0/1 data) and the Gaussian "
        f"one (8-bit grey data); this model has the {model.likelihood.name} likelihood"
        + (" on standardized data" if model.standardized else "")
        + ", which is not supported yet"
    )
