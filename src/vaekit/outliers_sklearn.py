"""A scikit-learn outlier detector over a VAE, with IsolationForest's conventions.

:class:`VAEOutlierDetector` trains a VAE on normal rows (``fit``) and scores new rows with one of
the per-example anomaly scores of :mod:`vaekit.evaluation.scores` (Likelihood Regret by
default: the complexity score of ``vaekit score``'s default is for images, not rows)::

    det = VAEOutlierDetector(contamination=0.05, epochs=50).fit(X_normal)
    det.predict(X_new)            # +1 inlier, -1 outlier
    det.score_samples(X_new)      # higher = more normal (minus the anomaly score)

As in scikit-learn, ``score_samples`` is higher for more normal rows, ``decision_function`` is
``score_samples - offset_`` (negative for outliers) and ``predict`` is +1 where it is >= 0.
Scores are deterministic functions of each row (common random numbers, float64 arithmetic), so
they do not depend on the other rows scored with it or on their order.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig, layer_sizes
from vaekit.data import DataConfig, from_arrays
from vaekit.errors import ConfigError
from vaekit.evaluation import scores
from vaekit.model.inputs import check_count, is_integer, is_real

METHODS = ("elbo", "nll", "regret")  #: the scores defined for rows of features (not images only)
AUTO_FPR = 0.05  #: contamination="auto": the threshold leaves this fraction of training rows out


class VAEOutlierDetector(OutlierMixin, BaseEstimator):
    """Outlier detection with a VAE trained on normal data.

    Score: ``method`` (elbo, nll or regret; see :mod:`vaekit.evaluation.scores`) with ``k``
    posterior samples. Model and training: ``latent_dim``, ``hidden``, ``likelihood`` (auto:
    Bernoulli for data in [0, 1], else Gaussian), ``epochs``, ``batch_size``, ``lr``;
    ``random_state`` (an int, None = 0) seeds training and the scores' common noise.
    ``contamination``: the expected fraction of outliers in the training rows, in (0, 0.5];
    ``offset_`` is then that percentile of their ``score_samples``, as in IsolationForest;
    "auto" sets it at the 5th percentile (a 5% false-positive rate on the training rows).

    Fitted attributes: ``model_`` (the :class:`vaekit.model.vae.VAE`), ``offset_``,
    ``n_features_in_``.
    """

    def __init__(
        self,
        method: str = "regret",
        k: int = scores.DEFAULT_K,
        contamination: str | float = "auto",
        latent_dim: int = 8,
        hidden: tuple[int, ...] = (128,),
        likelihood: str = "auto",
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 1e-3,
        device: str = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.method = method
        self.k = k
        self.contamination = contamination
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.likelihood = likelihood
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> float:
        """The contamination as a fraction; :class:`ConfigError` (a ``ValueError``) naming a
        parameter of the wrong type or out of range (the configs check the others)."""
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        check_count("k", self.k, 1)
        if self.random_state is not None and not is_integer(self.random_state):
            raise ConfigError(f"random_state must be an integer or None, got {self.random_state!r}")
        if isinstance(self.contamination, str) and self.contamination == "auto":
            return AUTO_FPR
        if not is_real(self.contamination) or not 0 < self.contamination <= 0.5:
            raise ConfigError(
                f"contamination must be 'auto' or a float in (0, 0.5], got {self.contamination!r}"
            )
        return float(self.contamination)

    def fit(self, X: Any, y: Any = None) -> VAEOutlierDetector:
        """Train the VAE on the rows of ``X`` (n_samples, n_features) and set ``offset_``."""
        contamination = self._check_params()
        x = validate_data(self, X, dtype=[np.float64, np.float32])
        seed = 0 if self.random_state is None else int(self.random_state)
        model_config = ModelConfig(
            latent_dim=self.latent_dim,
            hidden=layer_sizes(self.hidden),
            likelihood=self.likelihood,
        )
        train_config = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=seed,
            device=self.device,
        )
        data_config = DataConfig(dataset=type(self).__name__, val_fraction=0.0, test_fraction=0.0)
        data = from_arrays(torch.tensor(x, dtype=torch.float32), config=data_config)
        with torch.random.fork_rng(devices=[]):  # leave the caller's torch RNG alone
            self.model_ = api.fit(data, model_config, train_config, progress=self.verbose)
        self.offset_ = float(np.percentile(self._scores(x), 100 * contamination))
        return self

    def _scores(self, x: np.ndarray) -> np.ndarray:
        """``-score`` per row in float64 (the model's float64 copy: batch-invariant sums)."""
        model = copy.deepcopy(self.model_).double()
        t = torch.tensor(x, dtype=torch.float64, device=model.device)
        t = t.reshape(len(t), *model.shape)
        model.likelihood.check(t)
        seed = 0 if self.random_state is None else int(self.random_state)
        s = scores.score_tensor(model, t, None, self.method, self.k, seed)
        return -s.cpu().numpy()

    def score_samples(self, X: Any) -> np.ndarray:
        """Minus the anomaly score of each row (n_samples,): higher = more normal (nats)."""
        check_is_fitted(self)
        return self._scores(validate_data(self, X, dtype=[np.float64, np.float32], reset=False))

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_`` (n_samples,): negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers (n_samples,)."""
        return np.where(self.decision_function(X) >= 0, 1, -1)
