"""A scikit-learn imputer over MIWAE (Mattei & Frellsen 2019): :class:`VAEImputer`.

``fit`` trains a VAE on the incomplete rows with the MIWAE bound (the observed entries only);
``transform`` fills the missing entries with the importance-sampling estimate of
E[x_miss | x_obs] and leaves the observed ones as they are. It follows scikit-learn's imputer
conventions (``missing_values``, ``fit``, ``transform``, ``fit_transform``), so it drops in where
``SimpleImputer``, ``KNNImputer`` or ``IterativeImputer`` go::

    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression
    clf = make_pipeline(VAEImputer(epochs=100), LogisticRegression()).fit(X_with_nan, y)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig, layer_sizes
from vaekit.data import DataConfig, from_arrays
from vaekit.errors import ConfigError
from vaekit.model.inputs import check_count, is_real

IMPUTE_SEED = 0  #: seed of the importance samples behind ``transform``: repeatable imputations
DTYPES = [np.float64, np.float32]


class VAEImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Missing-value imputation with a VAE trained on the incomplete data (MIWAE).

    ``missing_values``: the placeholder of a missing entry (NaN by default, or a number).
    Model: ``latent_dim``, ``hidden`` (layer sizes, mirrored in the decoder), ``activation``,
    ``likelihood`` (``auto``: Bernoulli for data in [0, 1], else Gaussian on standardised data).
    Training: ``epochs``, ``batch_size``, ``lr``, ``k`` (importance samples of the MIWAE bound).
    Imputation: ``k_impute`` importance samples per row. ``random_state`` seeds initialisation and
    shuffling; ``verbose`` shows training progress.

    Fitted attributes: ``model_`` (the :class:`vaekit.model.vae.VAE`), ``n_features_in_``,
    ``history_`` (one record per epoch), ``n_iter_`` (epochs run).
    """

    def __init__(
        self,
        missing_values: float = np.nan,
        latent_dim: int = 10,
        hidden: tuple[int, ...] = (128, 128),
        activation: str = "tanh",
        likelihood: str = "auto",
        epochs: int = 200,
        batch_size: int = 64,
        lr: float = 1e-3,
        k: int = 20,
        k_impute: int = 1000,
        device: str = "cpu",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ) -> None:
        self.missing_values = missing_values
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.activation = activation
        self.likelihood = likelihood
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.k = k
        self.k_impute = k_impute
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _nan_missing(self, X: Any, reset: bool) -> np.ndarray:
        """``X`` validated, as a float array with NaN for the missing entries (a copy)."""
        nan = _is_nan(self.missing_values)
        x = validate_data(
            self, X, dtype=DTYPES, reset=reset, ensure_all_finite="allow-nan" if nan else True
        )
        x = np.array(x, copy=True)
        if not nan:
            x[x == self.missing_values] = np.nan
        return x

    def fit(self, X: Any, y: Any = None) -> VAEImputer:
        """Train the VAE on the incomplete rows ``X`` (n_samples, n_features); ``y`` is ignored.
        :class:`vaekit.errors.ConfigError` (a ``ValueError``) naming a parameter of the wrong
        type or out of range."""
        if not is_real(self.missing_values):
            raise ConfigError(
                f"missing_values must be a number (or NaN), got {self.missing_values!r}"
            )
        check_count("k_impute", self.k_impute, 1)  # used by transform: refused before training
        x = self._nan_missing(X, reset=True)
        if isinstance(self.random_state, int | np.integer):
            seed = int(self.random_state)
        else:  # None or a RandomState: sklearn's convention, a draw from it
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        model = ModelConfig(
            latent_dim=self.latent_dim,
            hidden=layer_sizes(self.hidden),
            activation=self.activation,
            likelihood=self.likelihood,
            mask_input=True,
        )
        train = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            k=self.k,
            seed=seed,
            device=self.device,
        )
        config = DataConfig(
            type(self).__name__, val_fraction=0.0, test_fraction=0.0, seed=seed, missing="allow"
        )
        data = from_arrays(torch.tensor(x, dtype=torch.float32), config=config)
        with torch.random.fork_rng(devices=[]):  # leave the caller's torch RNG alone
            self.model_ = api.fit(data, model, train, data_config=config, progress=self.verbose)
        self.history_ = list(self.model_.history)
        self.n_iter_ = len(self.history_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``X`` with its missing entries filled (the estimate of E[x_miss | x_obs]); observed
        entries are returned as they are, in the dtype of ``X``."""
        check_is_fitted(self)
        x = self._nan_missing(X, reset=False)
        missing = np.isnan(x)
        if missing.any():
            rows = missing.any(axis=1)  # only incomplete rows need the model
            filled = self.model_.impute(
                torch.tensor(x[rows], dtype=torch.float32), k=self.k_impute, seed=IMPUTE_SEED
            )
            x[rows] = np.where(missing[rows], filled.cpu().numpy().astype(x.dtype), x[rows])
        return x

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _is_nan(value: Any) -> bool:
    return isinstance(value, float | np.floating) and math.isnan(value)
