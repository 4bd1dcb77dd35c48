"""The scikit-learn estimators check their parameters at fit: a value of the wrong type or out
of range is one ConfigError (a ValueError, scikit-learn's convention) naming it."""

from __future__ import annotations

import numpy as np
import pytest

from vaekit.errors import ConfigError
from vaekit.sklearn import VAEImputer, VAEOutlierDetector, VAETransformer

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"epochs": 1, "hidden": (4,), "latent_dim": 2, "batch_size": 16}
X = np.random.default_rng(0).random((24, 3))

#: (estimator class, parameters, message)
BAD = [
    (VAETransformer, {"hidden": "abc"}, "hidden must be a list or tuple of .* integers, got 'abc'"),
    (VAETransformer, {"hidden": ("8",)}, r"hidden must be .*, got \('8',\)"),
    (VAETransformer, {"channels": 2.5}, "channels must be .*, got 2.5"),
    (VAETransformer, {"epochs": 1.5}, "epochs must be an integer, got 1.5"),
    (VAETransformer, {"latent_dim": "2"}, "latent_dim must be an integer, got '2'"),
    (VAETransformer, {"lr": None}, "lr must be a finite number, got None"),
    (VAETransformer, {"binarize": "no"}, "binarize must be True or False, got 'no'"),
    (VAEImputer, {"hidden": "abc"}, "hidden must be a list or tuple of .* integers, got 'abc'"),
    (VAEImputer, {"epochs": 1.5}, "epochs must be an integer, got 1.5"),
    (VAEImputer, {"k": "20"}, "k must be an integer, got '20'"),
    (VAEImputer, {"k_impute": 1.5}, "k_impute must be an integer >= 1, got 1.5"),
    (VAEImputer, {"k_impute": 0}, "k_impute must be an integer >= 1, got 0"),
    (VAEImputer, {"missing_values": "?"}, "missing_values must be a number"),
    (VAEOutlierDetector, {"hidden": "abc"}, "hidden must be a list or tuple of .* integers"),
    (VAEOutlierDetector, {"epochs": 1.5}, "epochs must be an integer, got 1.5"),
    (VAEOutlierDetector, {"k": 2.5}, "k must be an integer >= 1, got 2.5"),
    (VAEOutlierDetector, {"random_state": "abc"}, "random_state must be an integer or None"),
    (VAEOutlierDetector, {"random_state": 1.5}, "random_state must be an integer or None"),
    (VAEOutlierDetector, {"contamination": None}, "contamination must be 'auto' or a float"),
    (VAEOutlierDetector, {"method": "nope"}, "method must be one of"),
]


@pytest.mark.parametrize(("cls", "params", "message"), BAD)
def test_a_bad_parameter_is_refused_at_fit_by_name(cls, params, message):
    estimator = cls(**TINY).set_params(**params)  # accepted as is: checked at fit
    with pytest.raises(ConfigError, match=f"^{message}") as raised:
        estimator.fit(X)
    assert isinstance(raised.value, ValueError)
    assert not hasattr(estimator, "model_")


@pytest.mark.parametrize("cls", [VAETransformer, VAEImputer, VAEOutlierDetector])
@pytest.mark.parametrize("hidden", [4, np.int64(4), [4], np.array([4]), (np.int32(4),)])
def test_layer_sizes_may_be_one_integer_a_list_or_an_array(cls, hidden):
    estimator = cls(**{**TINY, "hidden": hidden}).fit(X)
    assert estimator.model_.config.hidden == (4,)


def test_numpy_integers_from_a_parameter_grid_are_accepted():
    params = {"latent_dim": np.int64(2), "epochs": np.int64(1), "batch_size": np.int32(16)}
    vae = VAETransformer(**{**TINY, **params}).fit(X)
    assert vae.model_.config.latent_dim == 2 and vae.n_iter_ == 1
