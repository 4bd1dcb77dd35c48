"""The VAE: encoder -> q(z|x) -> reparameterised z -> decoder -> p(x|z), with a prior p(z).

``qz``, ``pz`` and ``px`` return ``torch.distributions`` objects; ``terms`` assembles them into
an objective. The user-facing methods (``encode``, ``decode``, ``sample``, ...) take and return
data in its original units, accept NumPy arrays or tensors, and check their input
(:mod:`vaekit.model.inputs`): data that is not numbers of the model's shape is a
:class:`DataError`, a count, ``k``, batch size or seed that is not an integer in range a
:class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.config import ModelConfig
from vaekit.errors import DataError
from vaekit.model import estimate, impute, inputs
from vaekit.model.inputs import as_examples, as_tensor, check_count, check_int_seed, check_seed
from vaekit.model.likelihoods import make_likelihood, resolve
from vaekit.model.missing import check_finite, masked_shape, with_mask
from vaekit.model.nets import make_networks
from vaekit.model.objectives import Terms, elbo, iwae, miwae
from vaekit.model.priors import make_prior

ArrayLike = Tensor | np.ndarray


class VAE(nn.Module):
    """A variational autoencoder over data of event shape ``shape`` (e.g. (1, 28, 28) or (D,)).

    ``kind`` is the data's value domain ("binary", "grey", "rgb" or "real") and ``levels`` the
    number of values k/(levels-1) its [0, 1] data lie on (256 for 8-bit, None for continuous):
    they resolve ``config.likelihood="auto"``, and ``self.config`` holds the resolved config.
    ``loc``/``scale`` (shape ``shape``) standardise real data inside the model, so every public
    method speaks the data's own units and log-densities include the Jacobian of the
    standardisation.

    ``y_dim`` > 0 makes it a conditional VAE (Sohn et al. 2015): encoder and decoder also see a
    condition y, given as integer labels 0..y_dim-1 (one-hot encoded) or as vectors (N, y_dim);
    the prior p(z) stays unconditional.

    NaN entries of x are missing values where the model is made for them
    (``config.mask_input``, MIWAE, Mattei & Frellsen 2019): the encoder sees the zero-filled data
    and the mask of observed entries, and the likelihood scores the observed entries only.
    """

    x_loc: Tensor  #: (*shape) the standardisation's buffers, present when ``standardized``
    x_scale: Tensor
    #: the epoch records of the training that made it (``fit``); empty for a model built or
    #: loaded (a run's records: ``vaekit.runs.RunFolder(path).history()``)
    history: list[dict[str, Any]]
    run_config: dict[str, Any]  #: the resolved configuration of that training (``fit``)

    def __init__(
        self,
        config: ModelConfig,
        shape: tuple[int, ...],
        kind: str = "grey",
        loc: Tensor | None = None,
        scale: Tensor | None = None,
        y_dim: int = 0,
        levels: int | None = None,
    ) -> None:
        super().__init__()
        config = resolve(config, kind, levels)
        self.config, self.shape, self.kind = config, tuple(int(s) for s in shape), kind
        self.history = []
        self.y_dim = int(y_dim)
        if self.y_dim < 0:
            raise DataError(f"y_dim must be >= 0, got {y_dim}")
        self.likelihood = make_likelihood(
            config.likelihood, self.shape, kind, config.gaussian_scale, config.levels
        )
        self.encoder, self.decoder = make_networks(
            config.network,
            self.shape,
            config.latent_dim,
            config.hidden,
            config.channels,
            config.activation,
            self.y_dim,
            self.likelihood.n_params,
            in_shape=masked_shape(self.shape) if config.mask_input else None,
        )
        self.prior = make_prior(config, self.shape, self.y_dim)
        self.standardized = loc is not None
        if self.standardized:
            scale = torch.ones(self.shape) if scale is None else scale
            self.register_buffer(
                "x_loc", torch.as_tensor(loc, dtype=torch.float32).reshape(self.shape).clone()
            )
            self.register_buffer(
                "x_scale", torch.as_tensor(scale, dtype=torch.float32).reshape(self.shape).clone()
            )

    # -- the probabilistic model (data in model space) ---------------------------------------
    def qz(self, x: Tensor, y: Tensor | None = None) -> Distribution:
        """q(z|x[, y]): diagonal Gaussian, batch (B,), event (L,). ``x`` (B, *shape) in model
        space; ``y`` (B, y_dim) the condition vectors of a conditional model."""
        if self.config.mask_input:  # MIWAE: zero-filled data and the mask (NaN = missing)
            x = with_mask(x, self.shape)  # (B, *masked_shape)
        loc, log_var = self.encoder(x, y)  # (B, L), (B, L)
        scale = torch.exp(0.5 * log_var)  # learns small posterior scales fast (softplus doesn't)
        return Independent(Normal(loc, scale, validate_args=False), 1)

    def pz(self) -> Distribution:
        """p(z), event (L,)."""
        pz: Distribution = self.prior(self.qz)
        return pz

    def px(self, z: Tensor, y: Tensor | None = None) -> Distribution:
        """p(x|z[, y]) in model space, batch z.shape[:-1], event ``shape``. ``z`` (..., B, L),
        ``y`` (B, y_dim) condition vectors, broadcast over the leading sample dimensions."""
        params = self.decoder(z, y).unflatten(-1, self.likelihood.param_shape)  # (..., B, *p)
        px: Distribution = self.likelihood(params)
        return px

    def condition(self, y: ArrayLike | int | None, n: int, check: bool = True) -> Tensor | None:
        """The condition vectors (n, y_dim) for ``y``: integer labels (n,) or one label (one-hot
        encoded), or vectors (n, y_dim). None for an unconditional model; :class:`DataError`
        for a missing, misshapen or out-of-range ``y`` (``check=False`` skips the value checks,
        for the training loop's already checked labels)."""
        return inputs.as_conditions(y, n, self.y_dim, self.device, check)

    def to_model_space(self, x: Tensor) -> Tensor:
        return (x - self.x_loc) / self.x_scale if self.standardized else x

    def from_model_space(self, x: Tensor) -> Tensor:
        return x * self.x_scale + self.x_loc if self.standardized else x

    def log_det(self, mask: Tensor | None = None) -> Tensor | float:
        """log |d x_model / d x| per example: added to model-space densities (nats); with the
        mask of observed entries ``mask`` (B, *shape), over those only, (B,)."""
        if not self.standardized:
            return 0.0
        if mask is None:
            return -self.x_scale.log().sum()
        return -(self.x_scale.log() * mask).flatten(1).sum(1)  # (B,)

    def terms(
        self,
        x: Tensor,
        beta: float = 1.0,
        k: int = 1,
        *,
        y: Tensor | None = None,
        free_bits: float = 0.0,
        dreg: bool = False,
        eps: Tensor | None = None,
    ) -> Terms:
        """The training objective's terms per example (B,), nats; ``x`` (B, *shape) in data units,
        ``y`` (B,) labels or (B, y_dim) vectors for a conditional model (trusted: unchecked).

        k = 1: the (beta-)ELBO with one reparameterised sample (and ``free_bits``); k > 1: the
        IWAE bound (with the DReG encoder gradient if ``dreg``). ``eps``: the standard normal
        noise of the samples, (B, L) or (k, B, L) (default: drawn from the global RNG, as
        ``qz.rsample`` draws it); data-parallel training passes its own.

        A model made for missing data (``config.mask_input``) reads NaN in ``x`` as missing and
        scores the observed entries only: the MIWAE bound (Mattei & Frellsen 2019; k = 1: the
        observed-data ELBO).
        """
        mask = ~torch.isnan(x) if self.config.mask_input else None  # (B, *shape)
        x, c = self.to_model_space(x), self.condition(y, len(x), check=False)
        qz, pz = self.qz(x, c), self.pz()
        shape = () if k == 1 else (k,)
        if eps is None:
            z = qz.rsample(shape)  # (*shape, B, L)
        else:  # rsample's own arithmetic with the given noise (q is an Independent Normal)
            q = cast("Independent[Normal]", qz).base_dist
            z = q.loc + eps * q.scale  # (*shape, B, L)
        if k == 1:
            t = elbo(x, qz, pz, self.px(z, c), z, beta, free_bits, mask)
        elif mask is not None:
            t = miwae(x, qz, pz, self.px(z, c), z, mask, dreg)
        else:
            t = iwae(x, qz, pz, self.px(z, c), z, dreg)
        if not self.standardized:
            return t
        d = self.log_det(mask)
        return Terms(t.log_px_z + d, t.kl_z, t.elbo + d, t.objective + d)

    def forward(self, x: Tensor, beta: float = 1.0, k: int = 1, **options: Any) -> Terms:
        """:meth:`terms` (``options``: its keywords), as the module's call: what
        DistributedDataParallel wraps."""
        return self.terms(x, beta, k, **options)

    # -- the user-facing API (data units, validated input) -----------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_data(self, x: ArrayLike, name: str = "x", missing: bool = False) -> Tensor:
        """``x`` as a float32 tensor (N, *shape) on the model's device, or :class:`DataError`.

        Accepts (N, *shape) or flat (N, prod(shape)); rejects other shapes, empty data, inf,
        values outside the likelihood's support and NaN (missing values), unless ``missing`` or
        the model is made for missing data (``config.mask_input``). uint8 values are 8-bit pixels
        and become k/255, as when data is loaded (0/1 stay 0/1 for a binary model), so the model
        sees the same values either way.
        """
        binary = self.kind == "binary"
        t = as_examples(x, self.shape, self.device, name, binary)  # (N, *shape) float32
        missing = missing or self.config.mask_input
        check_finite(t, name, missing)
        self.likelihood.check(t[~torch.isnan(t)] if missing else t)
        return t

    def batch(self, x: ArrayLike, name: str = "x") -> tuple[Tensor, bool]:
        """:meth:`check_data` of ``x`` as a batch (N, *shape), and whether it was one example,
        (*shape) or flat (prod(shape),) (then the caller drops the batch dimension of its
        result)."""
        t = as_tensor(x, name)
        one = inputs.is_one(tuple(t.shape), self.shape)
        return self.check_data(t.reshape(1, *self.shape) if one else t, name), one

    @torch.no_grad()
    def encode(self, x: ArrayLike, sample: bool = False, *, y: ArrayLike | None = None) -> Tensor:
        """Posterior means E[z|x] (N, L), or one sample z ~ q(z|x) each with ``sample=True``.
        One example x (*shape) gives (L,). A conditional model needs ``y``: labels (N,) or
        vectors (N, y_dim)."""
        x, one = self.batch(x)
        c = self.condition(y, len(x))
        out = []
        for xb, cb in split_batches(x, c, 1024):
            qz = self.qz(self.to_model_space(xb), cb)
            out.append(qz.sample() if sample else qz.mean)
        z = torch.cat(out)  # (N, L)
        return z[0] if one else z

    @torch.no_grad()
    def decode(self, z: ArrayLike, *, y: ArrayLike | int | None = None) -> Tensor:
        """The mean of p(x|z[, y]) for each z (N, L) -> (N, *shape), in data units.
        A conditional model needs ``y``: one label, labels (N,) or vectors (N, y_dim)."""
        z = as_tensor(z, "z").to(device=self.device, dtype=torch.float32)
        L = self.config.latent_dim
        if z.ndim != 2 or z.shape[1] != L:
            raise DataError(f"z has shape {tuple(z.shape)}, expected (N, {L})")
        if not torch.isfinite(z).all():
            raise DataError("z contains NaN or infinite values")
        c = self.condition(y, len(z))
        return torch.cat(
            [self.from_model_space(self.px(zb, cb).mean) for zb, cb in split_batches(z, c, 1024)]
        )

    def reconstruct(self, x: ArrayLike, *, y: ArrayLike | None = None) -> Tensor:
        """decode(encode(x)): the mean of p(x|z) at the posterior mean, (N, *shape); one
        example (*shape) gives (*shape)."""
        x, one = self.batch(x)
        x_hat = self.decode(self.encode(x, y=y), y=y)  # (N, *shape)
        return x_hat[0] if one else x_hat

    @torch.no_grad()
    def sample(
        self, n: int, seed: int | None = None, *, y: ArrayLike | int | None = None
    ) -> Tensor:
        """n new examples: the means of p(x|z[, y]) for z ~ p(z), (n, *shape).

        With ``seed`` the draw is repeatable and leaves the global RNG alone; without, it uses
        (and advances) the global RNG, so repeated calls give new samples. A conditional model
        needs ``y``: one label for all n (``y=7``), labels (n,) or vectors (n, y_dim).
        """
        n, seed = check_count("n", n, 1), check_seed(seed)
        self.condition(y, n)  # check y before drawing
        if seed is None:
            return self.decode(self.pz().sample((n,)), y=y)  # (n, L) from the global RNG
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # seeded without touching the global RNG
            torch.manual_seed(seed)
            z = self.pz().sample((n,))  # (n, L)
        return self.decode(z, y=y)

    @torch.no_grad()
    def interpolate(
        self,
        x_a: ArrayLike,
        x_b: ArrayLike,
        steps: int = 10,
        *,
        y_a: ArrayLike | int | None = None,
        y_b: ArrayLike | int | None = None,
    ) -> Tensor:
        """Decode ``steps`` points on the line between the posterior means of two examples.

        ``x_a``, ``x_b``: one example each, (*shape) or (1, *shape); a batch of more is a
        :class:`DataError` (interpolate pairs one at a time). ``steps`` >= 2. Returns
        (steps, *shape). A conditional model needs their conditions ``y_a``, ``y_b`` (a label or
        a vector); the condition moves along the line between them too.
        """
        steps = check_count("steps", steps, 2)
        c_a, c_b = self.condition(y_a, 1), self.condition(y_b, 1)  # (1, C) each, or None
        z_a = self.encode(self._one(x_a, "x_a"), y=c_a)  # (1, L)
        z_b = self.encode(self._one(x_b, "x_b"), y=c_b)  # (1, L)
        t = torch.linspace(0, 1, steps, device=self.device)[:, None]  # (steps, 1)
        c = None if c_a is None or c_b is None else (1 - t) * c_a + t * c_b  # (steps, C)
        return self.decode((1 - t) * z_a + t * z_b, y=c)

    def _one(self, x: ArrayLike, name: str) -> Tensor:
        t = self.batch(x, name)[0]  # (N, *shape)
        if len(t) != 1:
            raise DataError(f"interpolate takes one example at each end, got {len(t)} in {name}")
        return t

    @torch.no_grad()
    def elbo(self, x: ArrayLike, batch_size: int = 1024, *, y: ArrayLike | None = None) -> Terms:
        """Per-example ELBO terms (N,) in nats, one posterior sample each, in data units; one
        example (*shape) gives scalars."""
        batch_size = check_count("batch_size", batch_size, 1)
        x, one = self.batch(x)
        c = self.condition(y, len(x))
        parts = [self.terms(xb, y=cb) for xb, cb in split_batches(x, c, batch_size)]
        cat = (torch.cat([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Terms))
        return Terms(*(t[0] if one else t for t in cat))

    @torch.no_grad()
    def log_likelihood(
        self, x: ArrayLike, k: int = 1000, batch_size: int = 256, *, y: ArrayLike | None = None
    ) -> Tensor:
        """Importance-sampled log p(x[|y]) per example (N,), nats (Burda et al. 2015), k samples.

        A lower bound in expectation (the IWAE bound L_k) that tightens as k grows; see
        :func:`vaekit.evaluation.evaluate.evaluate` for the full report with standard errors.
        One example (*shape) gives a scalar.
        """
        k, batch_size = check_count("k", k, 1), check_count("batch_size", batch_size, 1)
        x, one = self.batch(x)
        log_px = estimate.estimate(self, x, k, batch_size, self.condition(y, len(x))).log_px
        return log_px[0] if one else log_px

    @torch.no_grad()
    def impute(
        self,
        x: ArrayLike,
        draws: int = 0,
        k: int = 100,
        *,
        y: ArrayLike | None = None,
        batch_size: int = 256,
        seed: int | None = None,
    ) -> Tensor:
        """Fill the missing (NaN) entries of ``x`` (N, *shape) from the model, in data units.

        ``draws`` = 0: the single imputation (N, *shape), the self-normalised importance-sampling
        estimate of E[x_miss | x_obs] with ``k`` samples from q(z|x_obs) (Mattei & Frellsen 2019,
        eq. 8); ``draws`` = M > 0: M multiple imputations (M, N, *shape) by sampling importance
        resampling. Observed entries are returned unchanged, bit for bit (as float32). Any model
        imputes; one trained on incomplete data (``config.mask_input``) does it best. ``seed``
        makes it repeatable and leaves the global RNG alone. Batches of at most ``batch_size``
        rows, fewer where k is large (:data:`vaekit.model.impute.IMPUTE_BLOCK`).
        """
        draws, k, batch_size, seed = inputs.check_arguments(draws, k, batch_size, seed)
        x = self.check_data(x, missing=True)
        c = self.condition(y, len(x))
        return impute.impute_batches(self, x, k, draws, c, batch_size, seed)

    def score(
        self,
        x: ArrayLike,
        method: str | None = None,
        k: int | None = None,
        *,
        y: ArrayLike | None = None,
        seed: int = 0,
        batch_size: int | None = None,
    ) -> Tensor:
        """Per-example anomaly scores (N,) in input order, higher = more anomalous; see
        :func:`vaekit.evaluation.scores.score` for the methods, units and arguments."""
        from vaekit.evaluation import scores  # evaluation sits above the model: import on use

        k = scores.DEFAULT_K if k is None else check_count("k", k, 1)
        seed = check_int_seed(seed)
        size = None if batch_size is None else check_count("batch_size", batch_size, 1)
        method = method or scores.DEFAULT_METHOD
        return scores.score(self, x, method, k, y=y, seed=seed, batch_size=size)


def split_batches(x: Tensor, c: Tensor | None, size: int) -> list[tuple[Tensor, Tensor | None]]:
    """``x`` (N, ...) and its conditions ``c`` (N, C) or None, in batches of ``size``."""
    xs = x.split(size)
    return list(zip(xs, c.split(size) if c is not None else [None] * len(xs), strict=True))
