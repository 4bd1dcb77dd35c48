"""Honest evaluation of a trained VAE: the importance-sampled log-likelihood and its summaries.

:func:`evaluate` assembles a JSON-ready report (what ``vaekit evaluate RUN`` writes): the
importance-sampled NLL (Burda et al. 2015) with its standard error, the ELBO and its terms, the
latent diagnostics of :mod:`vaekit.evaluation.diagnostics` and the probes of
:mod:`vaekit.evaluation.probes`.
All values are per-example means in nats unless a key says otherwise.

The estimator itself is :func:`vaekit.model.estimate.estimate`.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import torch
from torch import Tensor

from vaekit.data import Dataset
from vaekit.errors import ConfigError, DataError
from vaekit.evaluation import bits, diagnostics
from vaekit.evaluation.probes import probe_model
from vaekit.model.estimate import Estimate, estimate
from vaekit.model.vae import VAE
from vaekit.training import distributed

ACTIVE_UNIT_THRESHOLD = 0.01  #: Burda et al. 2015: unit u is active if Cov_x(E_q[z_u]) > 0.01


def log_likelihood_estimate(
    model: VAE,
    x: Tensor,
    k: int = 1000,
    batch_size: int = 256,
    progress: bool = False,
    y: Tensor | None = None,
) -> Estimate:
    """:func:`vaekit.model.estimate.estimate` over all of ``x`` (N, *shape), checked data units;
    a conditional model estimates log p(x|y) with the labels or condition vectors ``y``.

    With several ranks each estimates its share of the examples and the per-example results are
    gathered, so every rank returns all N.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    c = model.condition(y, len(x))
    share = distributed.share(len(x))
    show = progress and distributed.is_main()
    mine = estimate(model, x[share], k, batch_size, None if c is None else c[share], show)
    return Estimate(
        *(distributed.gather_rows(getattr(mine, f.name), len(x)) for f in fields(Estimate))
    )


def nll_summary(log_px: Tensor, n_features: int | None = None) -> dict[str, float | None]:
    """Mean NLL in nats per example (positive, lower is better) from per-example log p(x) (N,).

    Returns ``nll``, ``nll_stderr`` (standard error of the mean; None for one example) and, when
    ``n_features`` D is given, ``bits_per_dim`` = nll / (D ln 2).
    """
    log_px = log_px.double()
    n = log_px.numel()
    nll = -float(log_px.mean())
    out: dict[str, float | None] = {
        "nll": nll,
        "nll_stderr": float(log_px.std() / math.sqrt(n)) if n > 1 else None,
    }
    if n_features is not None:
        out["bits_per_dim"] = nll / (n_features * math.log(2))
    return out


def prepare(model: VAE, data: Dataset, split: str, seed: int) -> tuple[Tensor, Tensor | None]:
    """The split's ``(x, y)`` as the model sees it: checked, and binarized once with ``seed``."""
    x, y = data.split(split)
    if len(x) == 0:
        raise DataError(f"the {split} split of {data.name} is empty: nothing to evaluate")
    x = model.check_data(x, f"the {split} split")
    if data.binarize:  # dynamic binarization: one fixed draw for evaluation
        x = torch.bernoulli(x, generator=torch.Generator(x.device).manual_seed(seed))
    return x, y


def evaluate(
    model: VAE,
    data: Dataset,
    split: str = "test",
    k: int = 1000,
    seed: int = 0,
    probes: bool = True,
    progress: bool = False,
    batch_size: int = 256,
    per_example: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` on the ``split`` of ``data``: a JSON-ready dict (floats, ints, str...).

    Per-example means in nats: ``elbo``, ``log_px_z``, ``kl_z`` (the ELBO's terms, averaged over the
    k importance samples) and ``nll`` (-mean importance-sampled log p(x), Burda et al. 2015) with
    ``nll_stderr`` and ``bits_per_dim`` with ``bits_per_dim_note`` (see
    :func:`vaekit.evaluation.bits.bits_per_dim`: None where bits/dim mean nothing); the
    ``likelihood`` and the data's ``kind``, ``channels`` and ``levels``; ``ess_fraction``
    (mean effective sample size / k; near 0 means k is too small for a tight estimate); the
    latent diagnostics ``active_units``,
    ``kl_per_dim`` and ``recon_error`` (see :mod:`vaekit.evaluation.diagnostics`);
    ``probe_accuracy`` (see :func:`vaekit.evaluation.probes.probe_model`; None without labels or
    with ``probes=False``); and how
    it was computed: ``split``, ``n_examples``, ``k``, ``seed``, ``data_mode``, ``method``.
    ``per_example``: also ``per_example``, lists (N,) of ``log_px``, ``elbo``, ``log_px_z``
    and ``kl_z`` per example in the split's order.
    Seeded by ``seed``; the caller's global RNG state is left as it was. Under torchrun the
    importance sampling is split across the ranks, rank r drawing with seed + r: the same
    estimator with other draws, so the NLL agrees with one process's within its standard error.
    """
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed + distributed.rank())
        x, y = prepare(model, data, split, seed)
        c = y if model.y_dim else None  # a conditional model sees the labels
        if model.y_dim and y is None:
            raise DataError(f"{data.name} has no labels, which this conditional model needs")
        est = log_likelihood_estimate(model, x, k, batch_size, progress, y=c)
        report: dict[str, Any] = {
            "split": split,
            "n_examples": len(x),
            "k": k,
            "seed": seed,
            "data_mode": f"{data.kind}, binarized once with seed {seed}"
            if data.binarize
            else data.kind,
            "method": f"importance sampling, Burda et al. 2015, k={k}, proposal q(z|x)"
            + (", log p(x|y) given the labels" if model.y_dim else ""),
            **_likelihood_terms(model, data, est, k),
            **_latent_diagnostics(model, x, c, batch_size),
            "probe_accuracy": None,
        }
        if probes and y is not None:
            x_train, y_train = prepare(model, data, "train", seed)
            assert y_train is not None  # a labelled dataset labels every split
            report["probe_accuracy"] = probe_model(model, x_train, y_train, x, y, seed)
        if per_example:
            report["per_example"] = {
                "log_px": est.log_px.tolist(),
                "elbo": est.elbo.tolist(),
                "log_px_z": est.log_px_z.tolist(),
                "kl_z": est.kl_z.tolist(),
            }
    return report


def _likelihood_terms(model: VAE, data: Dataset, est: Estimate, k: int) -> dict[str, Any]:
    """The means of the estimate's terms (nats per example), the NLL with its standard error,
    bits/dim where they mean something, and what the model and data are."""
    return {
        "elbo": float(est.elbo.double().mean()),
        "log_px_z": float(est.log_px_z.double().mean()),
        "kl_z": float(est.kl_z.double().mean()),
        **nll_summary(est.log_px),
        **bits.bits_per_dim(
            -float(est.log_px.double().mean()),
            data.n_features,
            model.config.likelihood,
            data.kind,
            data.levels,
        ),
        "likelihood": model.config.likelihood,
        **data.describe(),
        "ess_fraction": float(est.ess.double().mean() / k),
    }


def _latent_diagnostics(model: VAE, x: Tensor, c: Tensor | None, batch_size: int) -> dict[str, Any]:
    """Active units, the KL per latent dimension and the reconstruction error of ``x``."""
    kl_dims = diagnostics.mean_kl_per_dim(model, x, batch_size=batch_size, y=c)
    return {
        "active_units": diagnostics.active_units(model, x, ACTIVE_UNIT_THRESHOLD, batch_size, y=c),
        "active_unit_threshold": ACTIVE_UNIT_THRESHOLD,
        "kl_per_dim": None if kl_dims is None else kl_dims.tolist(),
        "recon_error": diagnostics.recon_error(model, x, batch_size, y=c),
        "recon_error_unit": "squared error per feature of the posterior-mean reconstruction, "
        "data units squared, mean over features and examples",
    }
