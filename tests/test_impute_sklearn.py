"""VAEImputer: scikit-learn's estimator checks, imputer conventions, pipelines and search."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit.sklearn import VAEImputer

FAST = {"epochs": 2, "hidden": (8,), "latent_dim": 2, "batch_size": 32, "k": 3, "k_impute": 10}

pytestmark = pytest.mark.usefixtures("one_thread")


@parametrize_with_checks([VAEImputer(**FAST)])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def related_columns(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6) rows whose columns are noisy functions of one latent, and its sign as labels."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1))
    x = np.hstack([z, -z, 2 * z, np.tanh(z), z**2, 0.5 * z]) + 0.05 * rng.normal(size=(n, 6))
    return 10.0 + 3.0 * x, (z[:, 0] > 0).astype(int)


def holes(x: np.ndarray, fraction: float, seed: int = 1) -> np.ndarray:
    out = x.copy()
    out[np.random.default_rng(seed).random(x.shape) < fraction] = np.nan
    return out


def test_fills_only_the_missing_entries_better_than_the_means() -> None:
    x, _ = related_columns()
    x_miss = holes(x, 0.3)
    miss = np.isnan(x_miss)
    imputer = VAEImputer(hidden=(32,), latent_dim=2, epochs=100, lr=3e-3, random_state=0)
    out = imputer.fit_transform(x_miss)
    assert out.dtype == np.float64 and np.array_equal(out[~miss], x_miss[~miss])  # bit for bit
    assert not np.isnan(out).any()
    mean = SimpleImputer().fit_transform(x_miss)
    err, err_mean = (np.sqrt(((a - x)[miss] ** 2).mean()) for a in (out, mean))
    assert err < 0.5 * err_mean, (err, err_mean)
    np.testing.assert_array_equal(imputer.transform(x_miss), out)  # repeatable


def test_a_number_as_missing_value_and_inf_refused() -> None:
    x, _ = related_columns(60)
    x_miss = x.copy()
    x_miss[::3, 1] = -1.0
    out = VAEImputer(missing_values=-1.0, **FAST).fit_transform(x_miss)
    assert not (out == -1.0).any() and np.array_equal(out[1::3], x[1::3])
    x_miss[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        VAEImputer(**FAST).fit(x_miss)


def test_in_a_pipeline_and_a_grid_search_before_a_classifier() -> None:
    x, y = related_columns(200)
    pipe = Pipeline([("impute", VAEImputer(**FAST)), ("clf", LogisticRegression())])
    search = GridSearchCV(pipe, {"impute__latent_dim": [1, 2]}, cv=2).fit(holes(x, 0.2), y)
    assert search.best_params_["impute__latent_dim"] in (1, 2)
    assert search.score(holes(x, 0.2, seed=5), y) > 0.7
