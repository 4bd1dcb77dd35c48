"""Bits-back coding with asymmetric numeral systems (BB-ANS): one ANS stack per chunk of examples.

Townsend, Bird & Barber (2019), "Practical lossless compression with latent variables using bits
back coding". Per example x (with latent z and prior p(z)), on a stack of bits:

    compress:    pop z ~ q(z|x)   push x with p(x|z)   push z with p(z)
    decompress:  pop z with p(z)  pop x with p(x|z)    push z with q(z|x)

so each example costs -log2 p(x|z) - log2 p(z) + log2 q(z|x) bits: the negative ELBO in bits, on
average. The popped z needs bits on the stack before the first example: the *initial bits*, a
fixed overhead per chunk that the chunk's examples share. Decompression runs the examples in
reverse and ends with exactly the initial bits on the stack, which it checks.

The latent is discretised into ``2**latent_bits`` buckets of equal mass under the prior's
marginal per dimension (for N(0, 1) the edges Phi^-1(i / B)); q(z|x) is the Gaussian's mass in
each bucket, p(z) the prior's (uniform for N(0, I), dimension by dimension for a mixture: see
:mod:`vaekit.coding.latent`); the decoder sees the bucket's centre (the marginal's quantile at
(i + 1/2) / B).

Determinism: coder and decoder must compute bit-identical probabilities. The networks run in
float64 on one thread, the per-example networks in batches of one on both sides, and every
network output is rounded to multiples of 2**-GRID_BITS before the probabilities are computed,
per example, in arrays of the same shape on both sides. The encoder's batched call when
compressing is used only where its rounded value cannot differ from the batch-of-one value
(further than ``GUARD`` grid steps from a rounding boundary); elsewhere the example is recomputed
alone.

constriction is imported lazily: it is the optional ``compress`` extra.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit._fast import fpenv
from vaekit.coding.latent import (
    GRID_BITS,
    MixtureBuckets,
    UniformBuckets,
    bucket_mass,
    quantize,
)
from vaekit.coding.pixels import Pixels, make_pixels
from vaekit.errors import ConfigError, DataError
from vaekit.model.priors import GaussianMixture, StandardNormal
from vaekit.model.vae import VAE

GUARD = 1e-6  #: in grid steps: batched values this close to a rounding boundary are recomputed


def constriction() -> Any:
    """The ``constriction`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import constriction as c  # type: ignore[import-untyped]
    except ImportError as e:
        raise ConfigError(
            "compression needs the constriction package: pip install 'vaekit[compress]'"
        ) from e
    return c


MIXTURES = ("mixture", "vampprior")  #: priors whose p(z) is a GaussianMixture


def check_model(model: VAE) -> None:
    """:class:`ConfigError` unless bits-back coding supports ``model``: a likelihood of
    :func:`~vaekit.coding.pixels.make_pixels`, and the standard normal prior or a Gaussian
    mixture one (the mixture, the VampPrior)."""
    make_pixels(model, math.prod(model.shape))
    if not isinstance(model.prior, StandardNormal) and model.config.prior not in MIXTURES:
        raise ConfigError(
            f"bits-back compression supports the normal, mixture and vampprior priors; this "
            f"model has the {model.config.prior} prior, which is not supported yet"
        )


def near_boundary(v: np.ndarray) -> np.ndarray:
    """Whether each value lies within GUARD grid steps of a rounding boundary."""
    steps = np.ldexp(v, GRID_BITS)
    return np.abs(steps - np.floor(steps) - 0.5) < GUARD


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread with gradual underflow inside the block (the coder's determinism
    needs a fixed reduction order and a fixed floating-point mode), restored afterwards."""
    threads, flush = torch.get_num_threads(), fpenv.flushing()
    torch.set_num_threads(1)
    torch.set_flush_denormal(False)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(flush)


@dataclass(frozen=True)
class ChunkStats:
    """What coding one chunk cost, in bits."""

    n: int  #: examples
    bits: int  #: the chunk's stack, initial bits included (32 per word)
    initial_bits: int  #: the initial bits it started from


class Codec:
    """BB-ANS for one model: ``encode`` a chunk of examples into 32-bit words, ``decode``
    them back. ``latent_bits``: log2 of the number of latent buckets per dimension."""

    def __init__(self, model: VAE, latent_bits: int = 10) -> None:
        check_model(model)
        if not 4 <= latent_bits <= 16:
            raise ConfigError(f"latent_bits must lie in 4..16, got {latent_bits}")
        self.c = constriction()
        self.net = copy.deepcopy(model).to("cpu", torch.float64).eval()
        self.shape, self.y_dim = model.shape, model.y_dim
        self.L, self.D = model.config.latent_dim, math.prod(model.shape)
        self.B = 2**latent_bits
        # enough bits for the first example's latent whatever q is: about L * latent_bits
        self.initial_words = math.ceil(self.L * latent_bits / 32) + 2
        self.prior = self.latent_prior()  # with the buckets' edges (L, B + 1), centres (L, B)
        self.pixels: Pixels = make_pixels(self.net, self.D)

    @torch.no_grad()
    def latent_prior(self) -> UniformBuckets | MixtureBuckets:
        """p(z) over the buckets: uniform for N(0, I), tabulated for a Gaussian mixture."""
        if isinstance(self.net.prior, StandardNormal):
            return UniformBuckets(self.B, self.L)
        pz = self.net.pz()
        if not isinstance(pz, GaussianMixture):  # pragma: no cover - check_model rules it out
            raise ConfigError(f"the {type(pz).__name__} prior cannot be coded")
        return MixtureBuckets(self.B, pz.logits, pz.loc, pz.scale)

    # -- the model's distributions, as arrays of quantized parameters --------------------------
    def condition(self, y: np.ndarray | None) -> Tensor | None:
        """One-hot conditions (n, y_dim) float64 for labels (n,), None if unconditional."""
        if not self.y_dim:
            return None
        return torch.nn.functional.one_hot(torch.as_tensor(y).long(), self.y_dim).double()

    @torch.no_grad()
    def posterior_params(self, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """Unrounded (loc, log_var) of q(z|x) for symbols x (n, D): (n, 2, L) float64."""
        xt = torch.from_numpy(self.pixels.values(x)).reshape(len(x), *self.shape)
        loc, log_var = self.net.encoder(xt, self.condition(y))  # (n, L) each
        return np.stack([loc.numpy(), log_var.numpy()], axis=1)  # (n, 2, L)

    def posterior_table(self, params: np.ndarray) -> np.ndarray:
        """q(z|x) over the buckets, (L, B), from one example's quantized params (2, L)."""
        loc, log_var = torch.from_numpy(params)  # (L,), (L,)
        return bucket_mass(self.prior.edges, loc, log_var).numpy()

    @torch.no_grad()
    def likelihood_params(self, z_idx: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """The quantized parameters (D,) of p(x|z) for one example's latent buckets (L,)."""
        idx = torch.from_numpy(z_idx.astype(np.int64))  # (L,)
        z = self.prior.centres.gather(1, idx[:, None]).T  # (1, L)
        return self.pixels.params(self.net.decoder(z, self.condition(y))[0])  # (D,)

    def encoder_params(self, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """Quantized posterior params (n, 2, L): one batched call, and a call per example where
        the batched value lies too close to a rounding boundary to trust its rounding."""
        raw = self.posterior_params(x, y)  # (n, 2, L)
        for i in np.flatnonzero(near_boundary(raw).any(axis=(1, 2))):
            raw[i] = self.posterior_params(x[i : i + 1], None if y is None else y[i : i + 1])[0]
        return quantize(raw)

    def one_params(self, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """Quantized posterior params (2, L) of one example x (D,), computed alone."""
        return quantize(self.posterior_params(x[None], None if y is None else y[None])[0])

    # -- coding -------------------------------------------------------------------------------
    def initial(self) -> np.ndarray:
        """The initial bits (words,) uint32: fixed pseudo-random words, known to both sides."""
        rng = np.random.default_rng(0x76616B)
        return rng.integers(0, 2**32, self.initial_words, dtype=np.uint32)

    def encode(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, ChunkStats]:
        """Code examples x (n, D) of symbols (:mod:`vaekit.coding.pixels`; labels y (n,) for a
        conditional model) into one stack: the words (uint32) and what they cost."""
        m = self.c.stream.model
        with one_thread():
            params = self.encoder_params(x, y)  # (n, 2, L)
            coder = self.c.stream.stack.AnsCoder(self.initial())
            for i in range(len(x)):
                yi = None if y is None else y[i : i + 1]
                z_idx = coder.decode(m.Categorical(perfect=False), self.posterior_table(params[i]))
                self.pixels.push(coder, self.c, x[i], self.likelihood_params(z_idx, yi))
                self.prior.push(coder, self.c, z_idx)
                if self.y_dim > 1:
                    coder.encode_reverse(np.asarray(yi, dtype=np.int32), m.Uniform(self.y_dim))
            words = coder.get_compressed()
        return words, ChunkStats(len(x), 32 * len(words), 32 * self.initial_words)

    def decode(self, words: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The n examples' symbols (n, D) uint8 and labels (n,) (None if unconditional) of a stack
        written by :meth:`encode`; :class:`DataError` if the stack does not decode cleanly."""
        m = self.c.stream.model
        x = np.empty((n, self.D), dtype=np.uint8)
        y = np.zeros(n, dtype=np.int64) if self.y_dim else None
        with one_thread():
            coder = self.c.stream.stack.AnsCoder(np.ascontiguousarray(words, dtype=np.uint32))
            for i in reversed(range(n)):
                if y is not None and self.y_dim > 1:
                    y[i] = coder.decode(m.Uniform(self.y_dim), 1)[0]
                yi = None if y is None else y[i : i + 1]
                z_idx = self.prior.pop(coder, self.c)
                xi = self.pixels.pop(coder, self.c, self.likelihood_params(z_idx, yi))
                x[i] = xi
                params = self.one_params(xi, None if y is None else y[i])
                table = self.posterior_table(params)
                coder.encode_reverse(z_idx, m.Categorical(perfect=False), table)
            rest = coder.get_compressed()
        if not np.array_equal(rest, self.initial()):
            raise DataError(
                "the compressed data did not decode back to its initial bits: the file is "
                "corrupt, or this machine computed the model's probabilities differently"
            )
        return x, y
