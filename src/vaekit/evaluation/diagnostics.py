"""Latent diagnostics of a VAE: active units, KL per latent dimension, reconstruction error.

Each function takes examples ``x`` (N, *shape) in data units (as accepted by
:meth:`VAE.check_data`) and, for a conditional model, their labels or condition vectors ``y``,
runs the encoder over them in batches, and returns a summary over the examples.
They use the global torch RNG only where a Monte Carlo estimate is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution

from vaekit.model.objectives import kl_per_dim
from vaekit.model.vae import VAE, ArrayLike, split_batches


def posteriors(
    model: VAE, x: ArrayLike, batch_size: int = 1024, y: ArrayLike | None = None
) -> Iterator[tuple[Tensor, Tensor | None, Distribution]]:
    """``(x_model, c, q(z|x, c))`` per batch: x (B, *shape) in model space, the condition
    vectors c (B, C) (None for an unconditional model), q with batch (B,)."""
    x = model.check_data(x)
    c = model.condition(y, len(x))
    for xb, cb in split_batches(x, c, batch_size):
        xm = model.to_model_space(xb)
        yield xm, cb, model.qz(xm, cb)


@torch.no_grad()
def posterior_means(
    model: VAE, x: ArrayLike, batch_size: int = 1024, y: ArrayLike | None = None
) -> Tensor:
    """E_q[z|x] for every example, (N, L)."""
    return torch.cat([qz.mean for _, _, qz in posteriors(model, x, batch_size, y)])


@torch.no_grad()
def unit_activity(
    model: VAE, x: ArrayLike, batch_size: int = 1024, y: ArrayLike | None = None
) -> Tensor:
    """Cov_x(E_q[z_u]) for each latent unit u (L,): the variance over examples of the posterior
    means (Burda et al. 2015, section 5.2), in squared latent units."""
    mu = posterior_means(model, x, batch_size, y).double()  # (N, L)
    return mu.var(0, correction=0).float() if len(mu) > 1 else torch.zeros(mu.shape[1])


def active_units(
    model: VAE,
    x: ArrayLike,
    threshold: float = 0.01,
    batch_size: int = 1024,
    y: ArrayLike | None = None,
) -> int:
    """The number of latent units u with Cov_x(E_q[z_u]) > ``threshold`` (Burda et al. 2015)."""
    return int((unit_activity(model, x, batch_size, y) > threshold).sum())


@torch.no_grad()
def mean_kl_per_dim(
    model: VAE, x: ArrayLike, batch_size: int = 1024, y: ArrayLike | None = None
) -> Tensor | None:
    """Mean over examples of KL(q(z_u|x) || p(z_u)) for each latent unit u, (L,), nats: the
    batch means of :func:`vaekit.model.objectives.kl_per_dim`. None when the prior does not
    factorise over units (the per-unit KL is then undefined). Sums to the mean KL.
    """
    pz = model.pz()
    total, n = torch.zeros(model.config.latent_dim, dtype=torch.float64), 0
    for _, _, qz in posteriors(model, x, batch_size, y):
        kl = kl_per_dim(qz, pz)  # (B, L) or None
        if kl is None:
            return None
        total += kl.double().sum(0).cpu()
        n += kl.shape[0]
    return (total / n).float()


@torch.no_grad()
def recon_error(
    model: VAE, x: ArrayLike, batch_size: int = 1024, y: ArrayLike | None = None
) -> float:
    """Squared error of the posterior-mean reconstruction, per feature in data units squared.

    The reconstruction of x is the mean of p(x|z) at z = E_q[z|x]; the squared error is averaged
    over the (observed: not NaN) features of each example, then over examples.
    """
    total, n = 0.0, 0
    for xm, c, qz in posteriors(model, x, batch_size, y):
        x_hat = model.from_model_space(model.px(qz.mean, c).mean)  # (B, *shape)
        err = (x_hat - model.from_model_space(xm)).square().flatten(1).nanmean(1)  # (B,)
        total += float(err.double().sum())
        n += len(err)
    return total / n


@dataclass(frozen=True)
class Projection:
    """A linear map between latent means (N, L) and 2-D points: ``p = (z - mean) @ basis.T``.

    ``basis`` (2, L) has orthonormal rows, so ``z = mean + p @ basis`` maps a point back into the
    latent space (exactly for L <= 2; onto the plane of the projection for L > 2).
    """

    mean: np.ndarray  # (L,)
    basis: np.ndarray  # (2, L)
    title: str
    axes: tuple[str, str]

    def points(self, z: np.ndarray) -> np.ndarray:
        """Latent means (N, L) -> points (N, 2)."""
        return (np.asarray(z, dtype=np.float64) - self.mean) @ self.basis.T

    def latent(self, p: np.ndarray) -> np.ndarray:
        """Points (N, 2) -> latent vectors (N, L) on the projection's plane."""
        return self.mean + np.asarray(p, dtype=np.float64) @ self.basis


def projection(z: np.ndarray) -> Projection:
    """The 2-D view of latent means (N, L): L <= 2 as is (z1 against 0 for L = 1), L > 2 the
    first two principal components (the title says how much variance they keep)."""
    z = np.asarray(z, dtype=np.float64)
    L = z.shape[1]
    if L <= 2:
        basis = np.eye(2, L)  # (2, L); its second row is zero for L = 1
        axes = ("z1", "z2") if L == 2 else ("z1", "")
        title = "latent means (z1, z2)" if L == 2 else "1-D latent means"
        return Projection(np.zeros(L), basis, title, axes)
    mean = z.mean(axis=0)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    share = (s[:2] ** 2).sum() / max((s**2).sum(), 1e-12)
    title = f"PCA projection of the {L}-D latent means ({share:.0%} of variance)"
    return Projection(mean, vt[:2], title, ("PC1", "PC2"))
