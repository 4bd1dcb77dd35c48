"""A scikit-learn estimator over the core API: a VAE as a non-linear, probabilistic reducer.

:class:`VAETransformer` is a drop-in beside ``PCA``: ``fit`` trains a VAE with
:func:`vaekit.api.fit`, ``transform`` gives posterior means, ``inverse_transform`` decoder
means, ``score`` the mean ELBO per example (nats, higher is better), so it works inside
``Pipeline``, ``GridSearchCV`` and ``cross_val_score``::

    from sklearn.model_selection import GridSearchCV
    search = GridSearchCV(VAETransformer(epochs=20), {"latent_dim": [2, 5, 10]}, cv=3).fit(X)

Data are rows of features ``(n_samples, n_features)`` in their own units; ``likelihood="auto"``
picks from the data as :func:`vaekit.fit` does (Bernoulli for {0, 1}, discretized logistic for
8-bit values k/255, else a Gaussian, standardised inside the model for real values). Training,
likelihoods and scoring all come from :mod:`vaekit`; nothing is re-implemented.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig, layer_sizes
from vaekit.data import DataConfig, from_arrays
from vaekit.errors import ConfigError

SCORE_SEED = 0  #: seed of the posterior samples behind ``score``: the same model scores the same
DTYPES = [np.float64, np.float32]


KEYWORD = inspect.Parameter.KEYWORD_ONLY

#: Config fields that are not parameters, with the reason (every other field of ModelConfig and
#: TrainConfig is one, under its own name; a test checks that the sets match).
NOT_PARAMETERS = {
    "conditional": "a transformer's transform and score get no labels",
    "seed": "random_state, scikit-learn's name for it",
}
#: Defaults that differ from the configs': a transformer is usually fitted on small tables.
DEFAULTS: dict[str, Any] = {"hidden": (64,), "epochs": 30}
#: Parameters beyond the model and training configs: DataConfig fields and sklearn conventions.
EXTRA = {
    "validation_fraction": (
        0.1,
        "rows held out for early stopping (DataConfig.val_fraction), only when patience is set",
    ),
    "binarize": (False, "DataConfig.binarize: a fresh Bernoulli draw of [0, 1] rows per batch"),
    "random_state": (None, "seeds initialisation and shuffling (TrainConfig.seed)"),
    "verbose": (False, "show training progress"),
}


def config_parameters() -> list[inspect.Parameter]:
    """The keyword-only parameters of :class:`VAETransformer`: one per field of
    :class:`ModelConfig` and :class:`TrainConfig` (bar :data:`NOT_PARAMETERS`), then
    :data:`EXTRA`, each defaulting to the config's default (or :data:`DEFAULTS`)."""
    params = []
    for cls in (ModelConfig, TrainConfig):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in NOT_PARAMETERS:
                continue
            default = DEFAULTS.get(f.name, f.default)
            params.append(
                inspect.Parameter(f.name, KEYWORD, default=default, annotation=hints[f.name])
            )
    params += [inspect.Parameter(name, KEYWORD, default=d) for name, (d, _) in EXTRA.items()]
    return params


def _init_from_configs(cls: type) -> type:
    """Give ``cls`` an ``__init__`` whose signature lists :func:`config_parameters` and which
    stores each argument unchanged under its name (scikit-learn's contract)."""
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *config_parameters()]
    )

    def __init__(self: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, **kwargs)  # TypeError for an unknown name
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__doc__ = "Set the parameters (keyword-only): see the class docstring."
    cls.__init__ = __init__  # type: ignore[misc]
    return cls


@_init_from_configs
class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A variational autoencoder as a scikit-learn transformer.

    Its parameters are the fields of :class:`vaekit.config.ModelConfig` (``latent_dim``,
    ``hidden``, ``likelihood``, ``prior``, ``network``, ...) and of
    :class:`vaekit.config.TrainConfig` (``epochs``, ``beta``, ``k``, ``warmup``, ``free_bits``,
    ``dreg``, ``clip_norm``, ``patience``, ...), under the same names and with the same meaning
    and defaults, except ``hidden=(64,)`` and ``epochs=30``; ``conditional`` is not one (see
    :data:`NOT_PARAMETERS`). Beside them: ``validation_fraction`` (rows held out for early
    stopping, only when ``patience`` is set), ``binarize``, ``random_state`` (seeds
    initialisation and shuffling) and ``verbose`` (training progress).

    Fitted attributes: ``model_`` (the :class:`vaekit.model.vae.VAE`), ``n_features_in_``,
    ``history_`` (one record per epoch), ``n_iter_`` (epochs run).
    """

    def configs(self) -> tuple[ModelConfig, TrainConfig]:
        """The vaekit configs these hyper-parameters stand for (``random_state`` -> seed);
        :class:`vaekit.errors.ConfigError` (a ``ValueError``) naming a parameter of the wrong
        type or out of range."""
        values = self.get_params()
        values["hidden"] = layer_sizes(self.hidden)  # ModelConfig checks each value's type
        values["channels"] = layer_sizes(self.channels)
        model = ModelConfig(**{f.name: values[f.name] for f in _fields(ModelConfig)})
        if isinstance(self.random_state, int | np.integer):
            seed = int(self.random_state)
            if seed < 0:
                raise ConfigError(f"random_state must be >= 0 or None, got {seed}")
        else:  # None or a RandomState: sklearn's convention, a draw from it
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        train = TrainConfig(**{f.name: values[f.name] for f in _fields(TrainConfig)}, seed=seed)
        return model, train

    def fit(self, X: Any, y: Any = None) -> VAETransformer:
        """Train a VAE on ``X`` (n_samples, n_features); ``y`` is ignored. Returns self."""
        x = validate_data(self, X, dtype=DTYPES)
        model_config, train_config = self.configs()
        fraction = self.validation_fraction  # checked even where unused (no patience)
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not 0 <= fraction < 1
        ):
            raise ConfigError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}"
            )
        data_config = DataConfig(
            dataset=type(self).__name__,
            val_fraction=self.validation_fraction if self.patience is not None else 0.0,
            test_fraction=0.0,
            seed=train_config.seed,
            binarize=self.binarize,
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

    @torch.no_grad()
    def score_samples(self, X: Any) -> np.ndarray:
        """ELBO per example (n_samples,) in nats: a lower bound on log p(x) in ``X``'s units.

        Common random numbers: every row uses the same standard-normal draw eps (L,) (seeded by
        :data:`SCORE_SEED`) in z = mu(x) + sigma(x) eps, so each score is a fixed function of its
        row alone: the same whatever the order or the other rows of ``X``.
        """
        check_is_fitted(self)
        x = self.model_.check_data(_tensor(validate_data(self, X, dtype=DTYPES, reset=False)))
        gen = torch.Generator().manual_seed(SCORE_SEED)
        eps = torch.randn(self.model_.config.latent_dim, generator=gen).to(x.device)  # (L,)
        scores = [
            self.model_.terms(xb, eps=eps.expand(len(xb), -1)).elbo for xb in x.split(1024)
        ]  # each (B,)
        return torch.cat(scores).cpu().double().numpy()

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


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.name not in NOT_PARAMETERS]


def _tensor(x: np.ndarray) -> torch.Tensor:
    """A float32 copy: torch warns about read-only arrays (memmaps), refuses negative strides
    (reversed rows) and must not alias X."""
    return torch.tensor(np.ascontiguousarray(x), dtype=torch.float32)


from vaekit.impute_sklearn import VAEImputer  # noqa: E402, F401 (re-exported here)
from vaekit.outliers_sklearn import VAEOutlierDetector  # noqa: E402, F401 (outlier detection)
