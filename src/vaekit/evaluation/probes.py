"""Probes of a representation: how well simple classifiers read the labels from it.

A logistic regression and a k-nearest-neighbour classifier (scikit-learn) are trained on the
posterior means of training examples and scored on held-out examples, beside the same two on a
PCA of the data with as many dimensions (on the data as the model sees it: standardized where the
model standardizes): the baseline a VAE's latent space should beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor

from vaekit.evaluation.diagnostics import posterior_means
from vaekit.model.vae import VAE

MAX_TRAIN = 10_000  #: probes train on at most this many (seeded, random) training examples
NEIGHBOURS = 5


def _numpy(t: Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)


def probe(
    z_train: Tensor | np.ndarray,
    y_train: Tensor | np.ndarray,
    z_test: Tensor | np.ndarray,
    y_test: Tensor | np.ndarray,
) -> dict[str, float]:
    """Test accuracy in [0, 1] of two classifiers fitted on (z_train (N, L), y_train (N,)).

    ``logistic``: a logistic regression on standardised features; ``knn``: a 5-nearest-neighbour
    vote in the features' own geometry. Scored on (z_test (M, L), y_test (M,)).
    """
    z_train, z_test = _numpy(z_train), _numpy(z_test)
    y_train, y_test = _numpy(y_train), _numpy(y_test)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    knn = KNeighborsClassifier(n_neighbors=min(NEIGHBOURS, len(z_train)))
    return {
        name: float(clf.fit(z_train, y_train).score(z_test, y_test))
        for name, clf in (("logistic", logistic), ("knn", knn))
    }


def probe_model(
    model: VAE,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    seed: int = 0,
    max_train: int = MAX_TRAIN,
    batch_size: int = 1024,
) -> dict[str, Any] | None:
    """Probe accuracies of the VAE's posterior means beside a PCA of the data with as many dims.

    ``x_*`` (N, *shape) in data units, ``y_*`` (N,) int labels. At most ``max_train`` training
    examples are used, drawn with ``seed``. Returns ``vae_logistic``, ``vae_knn``,
    ``pca_logistic``, ``pca_knn`` (accuracies in [0, 1]), ``dims`` (latent size L; PCA keeps
    min(L, D, n_train) components, ``pca_dims``), ``n_train`` and ``n_test``; None when the
    training labels hold fewer than two classes.
    """
    gen = torch.Generator().manual_seed(seed)
    if len(x_train) > max_train:
        idx = torch.randperm(len(x_train), generator=gen)[:max_train].sort().values
        x_train, y_train = x_train[idx.to(x_train.device)], y_train[idx.to(y_train.device)]
    if len(torch.unique(y_train)) < 2:
        return None
    conditional = model.y_dim > 0  # then z is read given the label it is meant to ignore
    z_train = posterior_means(model, x_train, batch_size, y_train if conditional else None)
    z_test = posterior_means(model, x_test, batch_size, y_test if conditional else None)
    # the PCA sees the data as the model does: standardized where the model standardizes
    flat_train = _numpy(model.to_model_space(x_train).flatten(1))  # (N, D)
    flat_test = _numpy(model.to_model_space(x_test).flatten(1))  # (M, D)
    dims = min(z_train.shape[1], flat_train.shape[1], len(flat_train))
    pca = PCA(n_components=dims, random_state=seed).fit(flat_train)
    vae = probe(z_train, y_train, z_test, y_test)
    base = probe(pca.transform(flat_train), y_train, pca.transform(flat_test), y_test)
    return {
        **{f"vae_{name}": acc for name, acc in vae.items()},
        **{f"pca_{name}": acc for name, acc in base.items()},
        "dims": int(z_train.shape[1]),
        "pca_dims": int(dims),
        "n_train": len(x_train),
        "n_test": len(x_test),
    }
