"""Per-example anomaly scores of a trained VAE: higher = more anomalous, for every method.

Every score is a deterministic function of each example alone: the posterior noise is drawn with
common random numbers (the same standard normal draws for every row, from ``seed``), so a row's
score does not depend on the batch it comes in, its position or the global RNG. All methods use
only the model's public interface (``qz``, ``pz``, ``px``, ``to_model_space``, ``log_det``), so
they work with any likelihood and prior.

Methods (see :data:`METHODS`):

- ``elbo``: the negative ELBO, -E_q[log p(x|z)] + KL(q(z|x) || p(z)), nats (Kingma & Welling 2014).
- ``nll``: the importance-sampled negative log-likelihood -log p(x) with ``k`` samples (the IWAE
  bound, Burda et al. 2016), nats. Raw likelihoods are known to fail as OOD scores (Nalisnick et
  al. 2019, "Do deep generative models know what they don't know?").
- ``bpd``: ``nll`` as bits per dimension of the 8-bit image (image data only).
- ``complexity``: S(x) = -log2 P(x) - L(x), bits, where L(x) is the size in bits of the 8-bit image
  losslessly compressed by DEFLATE (:func:`compressed_bits`; Serra et al. 2020, "Input complexity
  and out-of-distribution detection with likelihood-based generative models"); image data only.
- ``complexity+regret``: the sum of the two, both in bits (regret / ln 2), unweighted: an
  ensemble; image data only.
- ``auto`` (the default): ``complexity+regret`` for image models whose likelihood is a true
  probability of the 8-bit image (see :func:`is_code_length`), else ``regret``; chosen by
  benchmarks/ood.py.
- ``regret``: Likelihood Regret (Xiao et al. 2020, "Likelihood Regret: an out-of-distribution
  detection score for variational auto-encoder"): ELBO(x; q*) - ELBO(x; q_encoder), nats, where q*
  is the diagonal Gaussian posterior re-optimised for that single example (its loc and log-scale,
  started at the encoder's, ``steps`` Adam steps). Batched: a batch is a vectorised set of
  independent single-example problems (Adam is elementwise; each row's loss sees only its row).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vaekit.errors import ConfigError, DataError
from vaekit.evaluation.methods import DEFAULT_K, DEFAULT_METHOD, METHODS  # noqa: E402
from vaekit.model.objectives import log_prob_observed

#: Adam steps and learning rate of the per-example posterior in ``regret``
REGRET_STEPS, REGRET_LR = 32, 0.1


def noise(k: int, latent_dim: int, seed: int, like: Tensor) -> Tensor:
    """Common random numbers: ``k`` standard normal draws (k, 1, L), the same for every row, on
    the device and in the dtype of ``like``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, 1, latent_dim, generator=g).to(like)  # (k, 1, L)


def log_weights(
    model: Any, x: Tensor, qz: Distribution, eps: Tensor, y: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """log p(x|z) and log p(z) - log q(z|x) at z = loc + eps * scale, each (k, B), nats.
    ``x`` (B, *shape) in model space; ``qz`` an Independent Normal, batch (B,); ``eps``
    (k, 1, L)."""
    base = cast(Normal, cast(Independent, qz).base_dist)
    z = base.loc + eps * base.scale  # (k, B, L)
    log_px_z = log_prob_observed(model.px(z, y), x, observed(model, x))  # missing entries: none
    return log_px_z, model.pz().log_prob(z) - qz.log_prob(z)


def observed(model: Any, x: Tensor) -> Tensor | None:
    """The mask of observed entries of ``x`` for a model made for missing data (NaN = missing,
    MIWAE), else None (every entry counts)."""
    return ~torch.isnan(x) if model.config.mask_input else None


def elbo_crn(
    model: Any, x: Tensor, qz: Distribution, eps: Tensor, y: Tensor | None = None
) -> Tensor:
    """The ELBO (B,), nats, in model space: log p(x|z) averaged over the samples ``eps`` (k, 1, L)
    minus the analytic KL(q || p) where torch has it, else its estimate at the same samples."""
    log_px_z, log_ratio = log_weights(model, x, qz, eps, y)  # (k, B) each
    try:
        kl_z = kl_divergence(qz, model.pz())  # (B,)
    except NotImplementedError:
        kl_z = -log_ratio.mean(0)  # (B,)
    return log_px_z.mean(0) - kl_z


def neg_elbo(model: Any, x: Tensor, y: Tensor | None, k: int, seed: int) -> Tensor:
    """-ELBO per example (B,), nats in data units; ``x`` (B, *shape) in data units."""
    xm = model.to_model_space(x)
    eps = noise(k, model.config.latent_dim, seed, x)
    return -(elbo_crn(model, xm, model.qz(xm, y), eps, y) + model.log_det(observed(model, x)))


def nll(model: Any, x: Tensor, y: Tensor | None, k: int, seed: int, chunk: int = 64) -> Tensor:
    """-log p(x) per example (B,), nats in data units: the IWAE bound with ``k`` samples."""
    xm = model.to_model_space(x)
    qz = model.qz(xm, y)
    eps = noise(k, model.config.latent_dim, seed, x)  # (k, 1, L)
    parts = [log_weights(model, xm, qz, e, y) for e in eps.split(chunk)]
    log_w = torch.cat([log_px_z + log_pz_qz for log_px_z, log_pz_qz in parts])  # (k, B)
    return -(torch.logsumexp(log_w, 0) - math.log(k) + model.log_det(observed(model, x)))


def is_image(model: Any) -> bool:
    """Whether the model's data are 8-bit-like images: grey, rgb or binary, shape (1 or 3, H,
    W)."""
    shape = tuple(model.shape)
    return model.kind in ("grey", "rgb", "binary") and len(shape) == 3 and shape[0] in (1, 3)


def _require_image(model: Any, method: str) -> None:
    if not is_image(model):
        raise DataError(
            f"the {method} score is for image data (grey, rgb or binary values in [0, 1], shape "
            f"(C, H, W) with C = 1 or 3); this model's data are {model.kind} of shape "
            f"{tuple(model.shape)}: use elbo, nll or regret"
        )


def discrete(model: Any) -> bool:
    """Whether p(x|z) gives probabilities (a discrete support, or a likelihood module that says
    ``discrete = True``) rather than densities."""
    flag = getattr(model.likelihood, "discrete", None)
    if flag is not None:
        return bool(flag)
    w = next(model.parameters())
    z = w.new_zeros(1, model.config.latent_dim)  # (1, L)
    c = w.new_zeros(1, model.y_dim) if model.y_dim else None
    return bool(model.px(z, c).support.is_discrete)


def is_code_length(model: Any) -> bool:
    """Whether -log2 P(x) is a code length of the 8-bit image, as ``complexity`` needs: image data
    with a density (P = p * bin width), with a likelihood that says ``discrete = True`` (it gives
    the probabilities of the 8-bit values, as a discretised logistic does) or with a discrete
    likelihood of binary data. A Bernoulli on grey values is not: its cross-entropy is no
    probability of the grey image."""
    if not is_image(model):
        return False
    if getattr(model.likelihood, "discrete", None):  # probabilities of the 8-bit values
        return True
    return not discrete(model) or model.kind == "binary"


def resolve(model: Any, method: str) -> str:
    """The concrete method for ``method`` ("auto" -> complexity or regret, see :data:`METHODS`)."""
    if method == "auto":
        return "complexity+regret" if is_code_length(model) else "regret"
    if method not in SCORERS:
        raise ConfigError(
            f"unknown score method {method!r}; choose from auto, {', '.join(METHODS)}"
        )
    return method


def nll_bits(model: Any, x: Tensor, y: Tensor | None, k: int, seed: int) -> Tensor:
    """-log2 P(x) of the 8-bit image per example (B,), bits. A likelihood with a discrete support
    (bernoulli, a discretised likelihood) gives the probability itself; a density p on [0, 1] is
    turned into the probability of the bin of its level, P ~= p * (1/255)^D for 8-bit data k/255
    (the bin width of :mod:`vaekit.evaluation.bits`)."""
    value = nll(model, x, y, k, seed)  # (B,) nats
    if not discrete(model):
        levels = getattr(model.config, "levels", None) or 256
        value = value + math.prod(model.shape) * math.log(levels - 1)
    return value / math.log(2)


def compressed_bits(x: Tensor) -> Tensor:
    """L(x): the size in bits of each image (B, C, H, W) in [0, 1] losslessly compressed, its
    8-bit values (C, H, W order, one byte each) through DEFLATE at level 9 (zlib, as in PNG
    without PNG's row filters and headers). (B,), bits.

    Serra et al. 2020 measure complexity with PNG, JPEG2000 or FLIF; on the OOD benchmark
    (benchmarks/ood.py, BENCHMARKS.md) raw DEFLATE separated Fashion-MNIST from MNIST better than
    an optimised PNG (AUROC 0.998 against 0.989), and it is in Python's standard library."""
    pixels = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()  # (B, C, H, W)
    sizes = [8 * len(zlib.compress(np.ascontiguousarray(img).tobytes(), 9)) for img in pixels]
    return torch.tensor(sizes, dtype=x.dtype, device=x.device)  # (B,)


def regret(
    model: Any,
    x: Tensor,
    y: Tensor | None,
    k: int,
    seed: int,
    steps: int = REGRET_STEPS,
    lr: float = REGRET_LR,
) -> Tensor:
    """Likelihood Regret per example (B,), nats: ELBO with the re-optimised posterior minus the
    ELBO with the encoder's, both at the same ``k`` common-random-number samples (Xiao et al. 2020).

    Each row's (L,) loc and log-scale start at the encoder's and take ``steps`` Adam steps on that
    row's own negative ELBO, with one fresh common sample per step (seeded: deterministic). The
    regret is floored at 0: the best of the encoder's and the re-optimised posterior.
    """
    xm = model.to_model_space(x)
    L = model.config.latent_dim
    with torch.no_grad():
        q0 = model.qz(xm, y)
        loc0, log_scale0 = q0.base_dist.loc, q0.base_dist.scale.log()  # (B, L) each
        eps = noise(k, L, seed, x)
        elbo0 = elbo_crn(model, xm, q0, eps, y)  # (B,)
    loc, log_scale = loc0.clone().requires_grad_(), log_scale0.clone().requires_grad_()
    optimizer = torch.optim.Adam([loc, log_scale], lr=lr)
    steps_eps = noise(steps, L, seed + 1, x)  # (steps, 1, L)
    with torch.enable_grad():
        for t in range(steps):
            q = Independent(Normal(loc, log_scale.exp(), validate_args=False), 1)
            loss = -elbo_crn(model, xm, q, steps_eps[t : t + 1], y).sum()  # rows independent
            (g_loc, g_scale) = torch.autograd.grad(loss, [loc, log_scale])
            loc.grad, log_scale.grad = g_loc, g_scale
            optimizer.step()
    with torch.no_grad():
        q = Independent(Normal(loc, log_scale.exp(), validate_args=False), 1)
        elbo1 = elbo_crn(model, xm, q, eps, y)  # (B,)
    return (elbo1 - elbo0).clamp_min(0.0)


def _complexity(model: Any, x: Tensor, y: Tensor | None, k: int, seed: int) -> Tensor:
    return nll_bits(model, x, y, k, seed) - compressed_bits(x)


def _complexity_regret(model: Any, x: Tensor, y: Tensor | None, k: int, seed: int) -> Tensor:
    return _complexity(model, x, y, k, seed) + regret(model, x, y, k, seed) / math.log(2)


def _bpd(model: Any, x: Tensor, y: Tensor | None, k: int, seed: int) -> Tensor:
    return nll_bits(model, x, y, k, seed) / math.prod(model.shape)


SCORERS: dict[str, Callable[..., Tensor]] = {
    "elbo": neg_elbo,
    "nll": nll,
    "bpd": _bpd,
    "complexity": _complexity,
    "regret": regret,
    "complexity+regret": _complexity_regret,
}
#: the batch size each method runs at (regret's optimisation is the costly one)
BATCH = {"elbo": 512, "nll": 128, "bpd": 128, "complexity": 128, "regret": 500}
BATCH["complexity+regret"] = 128


def score(
    model: Any,
    x: Any,
    method: str = DEFAULT_METHOD,
    k: int = DEFAULT_K,
    *,
    y: Any = None,
    seed: int = 0,
    batch_size: int | None = None,
) -> Tensor:
    """Anomaly scores (N,) of examples ``x`` (N, *shape) in data units, in input order; higher =
    more anomalous. ``method``: "auto" or one of :data:`METHODS` (units: nats, except bpd and
    complexity: bits); ``k``: posterior samples per example; ``y``: labels of a conditional model.
    Deterministic for a given ``seed``; runs batched on the model's device."""
    method = resolve(model, method)
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    image_score = method in ("bpd", "complexity", "complexity+regret")
    if image_score:
        _require_image(model, method)
    x = model.check_data(x)
    if image_score and torch.isnan(x).any():
        raise DataError(f"the {method} score needs complete images: use elbo, nll or regret")
    return score_tensor(model, x, model.condition(y, len(x)), method, k, seed, batch_size)


def score_tensor(
    model: Any,
    x: Tensor,
    c: Tensor | None,
    method: str,
    k: int,
    seed: int = 0,
    batch_size: int | None = None,
) -> Tensor:
    """:func:`score` on checked input: ``x`` (N, *shape) in data units on the model's device and
    in its dtype (a float64 model gives batch-invariant scores to ~1e-15), ``c`` (N, C) or None.
    An example so far from the data that its score overflows (NaN) scores +inf: the most
    anomalous, flagged by any threshold."""
    size = batch_size or BATCH[method]
    out = []
    with torch.no_grad():
        for start in range(0, len(x), size):
            xb = x[start : start + size]
            cb = None if c is None else c[start : start + size]
            out.append(SCORERS[method](model, xb, cb, k, seed))
    return torch.cat(out).nan_to_num(nan=math.inf)
