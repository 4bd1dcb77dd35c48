"""A scikit-learn estimator over the core API: a VAE as a non-linear, probabilistic reducer.

:class:`VAETransformer` is a drop-in beside ``PCA``: ``fit`` trains a VAE with
:func:`vaekit.api.fit`, ``transform`` gives posterior means, ``inverse_transform`` decoder
means, ``score`` the mean ELBO per example (nats, higher is better), so it works inside
``Pipeline``, ``GridSearchCV`` and ``cross_val_score``::

    from sklearn.model_selection import GridSearchCV
    search = GridSearchCV(VAETransformer(epochs=20), {"latent_dim": [2, 5, 10]}, cv=3).fit(X)

Data are rows of features ``(n_samples, n_features)`` in their own units: values in [0, 1] get a
Bernoulli likelihood by default, other real values a Gaussian one (standardised inside the
model). Training, likelihoods and scoring all come from :mod:`vaekit`; nothing is re-implemented.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, from_arrays

SCORE_SEED = 0  #: seed of the posterior samples behind ``score``: the same model scores the same
DTYPES = [np.float64, np.float32]


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A variational autoencoder as a scikit-learn transformer.

    Model: ``latent_dim``, ``hidden`` (layer sizes, mirrored in the decoder), ``activation``,
    ``likelihood`` (``auto``: Bernoulli for data in [0, 1], else Gaussian). Training (see
    :class:`vaekit.config.TrainConfig`): ``beta``, ``epochs``, ``batch_size``, ``lr``,
    ``weight_decay``, ``l1``, ``k`` (importance samples of the training bound) and ``patience``
    (early stopping on a ``validation_fraction`` of the rows; only when ``patience`` is set).
    ``random_state`` seeds initialisation and shuffling; ``verbose`` shows training progress.

    Fitted attributes: ``model_`` (the :class:`vaekit.model.vae.VAE`), ``n_features_in_``,
    ``history_`` (one record per epoch), ``n_iter_`` (epochs run).
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden: tuple[int, ...] = (64,),
        activation: str = "relu",
        likelihood: str = "auto",
        beta: float = 1.0,
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        l1: float = 0.0,
        patience: int | None = None,
        validation_fraction: float = 0.1,
        k: int = 1,
        device: str = "cpu",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.activation = activation
        self.likelihood = likelihood
        self.beta = beta
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.l1 = l1
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.k = k
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def configs(self) -> tuple[ModelConfig, TrainConfig]:
        """The vaekit configs these hyper-parameters stand for (``random_state`` -> seed)."""
        model = ModelConfig(
            latent_dim=self.latent_dim,
            hidden=tuple(np.atleast_1d(self.hidden)),
            activation=self.activation,
            likelihood=self.likelihood,
        )
        if isinstance(self.random_state, int | np.integer):
            seed = int(self.random_state)
        else:  # None or a RandomState: sklearn's convention, a draw from it
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        train = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            l1=self.l1,
            beta=self.beta,
            k=self.k,
            patience=self.patience,
            seed=seed,
            device=self.device,
        )
        return model, train

    def fit(self, X: Any, y: Any = None) -> VAETransformer:
        """Train a VAE on ``X`` (n_samples, n_features); ``y`` is ignored. Returns self."""
        x = validate_data(self, X, dtype=DTYPES)
        model_config, train_config = self.configs()
        val_fraction = self.validation_fraction if self.patience is not None else 0.0
        data_config = DataConfig(
            dataset=type(self).__name__,
            val_fraction=val_fraction,
            test_fraction=0.0,
            seed=train_config.seed,
        )
        data = from_arrays(_tensor(x), config=data_config)
        with torch.random.fork_rng(devices=[]):  # leave the caller's torch RNG alone
            self.model_ = api.fit(data, model_config, train_config, progress=self.verbose)
        self.history_ = list(self.model_.history)
        self.n_iter_ = len(self.history_)
        self._n_features_out = self.latent_dim
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Posterior means E[z|x] (n_samples, latent_dim), in the dtype of ``X``."""
        check_is_fitted(self)
        x = validate_data(self, X, dtype=DTYPES, reset=False)
        return self.model_.encode(_tensor(x)).cpu().numpy().astype(x.dtype)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decoder means E[x|z] (n_samples, n_features) of latent rows ``X``, in data units."""
        check_is_fitted(self)
        z = check_array(X, dtype=DTYPES)
        if z.shape[1] != self.latent_dim:
            raise ValueError(
                f"X has {z.shape[1]} features, but {type(self).__name__}.inverse_transform is "
                f"expecting {self.latent_dim} latent features as input"
            )
        x = self.model_.decode(_tensor(z))  # (n, *shape)
        return x.reshape(len(z), -1).cpu().numpy().astype(z.dtype)

    def score_samples(self, X: Any) -> np.ndarray:
        """ELBO per example (n_samples,) in nats: a lower bound on log p(x) in ``X``'s units.

        One posterior sample per example from a fixed seed, so a model always gives the same
        scores for the same ``X`` (rows in another order draw other samples).
        """
        check_is_fitted(self)
        x = validate_data(self, X, dtype=DTYPES, reset=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SCORE_SEED)
            return self.model_.elbo(_tensor(x)).elbo.cpu().double().numpy()

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per example of ``X`` in nats (higher is better); ``y`` is ignored."""
        return float(self.score_samples(X).mean())

    def log_likelihood(self, X: Any, k: int = 100) -> np.ndarray:
        """Importance-sampled log p(x) per example (n_samples,) in nats, ``k`` samples each."""
        check_is_fitted(self)
        x = validate_data(self, X, dtype=DTYPES, reset=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SCORE_SEED)
            return self.model_.log_likelihood(_tensor(x), k=k).cpu().double().numpy()

    def sample(self, n: int, random_state: int | None = None) -> np.ndarray:
        """``n`` new examples (n, n_features): decoder means at z ~ p(z), in data units."""
        check_is_fitted(self)
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        return self.model_.sample(n, seed=int(seed)).reshape(n, -1).cpu().numpy()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _tensor(x: np.ndarray) -> torch.Tensor:
    """A float32 copy: torch warns about read-only arrays (memmaps) and must not alias X."""
    return torch.tensor(x, dtype=torch.float32)


from vaekit.impute_sklearn import VAEImputer  # noqa: E402, F401 (re-exported here)
