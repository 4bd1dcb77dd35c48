"""VAETransformer: scikit-learn's estimator checks, pipelines, and choosing the latent size."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit.config import ModelConfig, TrainConfig
from vaekit.model.vae import VAE
from vaekit.sklearn import EXTRA, NOT_PARAMETERS, VAETransformer

FAST = {"epochs": 2, "hidden": (8,), "batch_size": 32}


pytestmark = pytest.mark.usefixtures("one_thread")


@parametrize_with_checks([VAETransformer(**FAST)])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)  # all of them: no expected failures


def test_parameters_are_the_config_fields() -> None:
    params = set(VAETransformer().get_params())
    fields = {f.name for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)}
    assert params == (fields - set(NOT_PARAMETERS)) | set(EXTRA)
    vae = VAETransformer(warmup=3, free_bits=0.5, prior="mixture", clip_norm=1.0)
    model, train = vae.configs()
    assert (model.prior, train.warmup, train.free_bits, train.clip_norm) == (
        "mixture",
        3,
        0.5,
        1.0,
    )
    assert model.latent_dim == ModelConfig().latent_dim and train.lr == TrainConfig().lr
    with pytest.raises(TypeError, match="unexpected keyword argument 'latent_dims'"):
        VAETransformer(latent_dims=3)


def test_score_samples_uses_common_random_numbers() -> None:
    x = latent_data(40)
    vae = VAETransformer(**FAST, random_state=0).fit(x)
    scores = vae.score_samples(x)
    np.testing.assert_allclose(vae.score_samples(x[::-1]), scores[::-1], rtol=1e-6)
    np.testing.assert_allclose(vae.score_samples(x[5:6]), scores[5:6], rtol=1e-6)
    same = vae.score_samples(np.repeat(x[:1], 3, 0))
    np.testing.assert_allclose(same, [scores[0]] * 3, rtol=1e-6)


def latent_data(n: int, latent: int = 3, features: int = 12, seed: int = 0) -> np.ndarray:
    """(n, features) real data from a ``latent``-D Gaussian through a fixed random MLP decoder,
    plus N(0, 0.05^2) noise, offset and scaled away from standard units."""
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(size=(latent, 32)), rng.normal(size=32)
    w2 = rng.normal(size=(32, features)) / np.sqrt(32)
    z = rng.normal(size=(n, latent))
    x = np.tanh(z @ w1 + b1) @ w2 + 0.05 * rng.normal(size=(n, features))
    return 10.0 + 3.0 * x


@pytest.mark.slow
def test_grid_search_finds_the_true_latent_dimension() -> None:
    x = latent_data(600)
    base = VAETransformer(hidden=(32,), epochs=40, batch_size=64, lr=3e-3, random_state=0)
    search = GridSearchCV(base, {"latent_dim": [1, 3]}, cv=3).fit(x)
    scores = dict(zip([1, 3], search.cv_results_["mean_test_score"], strict=True))
    assert search.best_params_ == {"latent_dim": 3}, scores
    assert scores[3] > scores[1] + 1.0, scores  # nats per example: a clear margin, not noise


def test_transform_inverse_transform_score_sample() -> None:
    x = latent_data(300)
    vae = VAETransformer(latent_dim=3, hidden=(32,), epochs=40, lr=3e-3, random_state=0).fit(x)
    assert isinstance(vae.model_, VAE) and vae.n_features_in_ == 12
    assert vae.n_iter_ == len(vae.history_) == 40
    z = vae.transform(x)
    assert z.shape == (300, 3) and z.dtype == np.float64
    x_hat = vae.inverse_transform(z)
    assert x_hat.shape == x.shape
    # reconstructions are in the data's own units (mean 10, spread 3), not standardised ones
    assert np.abs(x_hat - x).mean() < 0.5 * np.abs(x - x.mean(0)).mean()
    scores = vae.score_samples(x)
    assert scores.shape == (300,) and vae.score(x) == pytest.approx(scores.mean())
    assert vae.score(x) == vae.score(x)  # a fixed internal seed: the same number every time
    assert vae.log_likelihood(x[:50], k=20).mean() >= scores[:50].mean() - 1.0
    s = vae.sample(5, random_state=1)
    assert s.shape == (5, 12) and np.array_equal(s, vae.sample(5, random_state=1))
    assert np.abs(s.mean() - 10.0) < 3.0


def test_transform_is_row_invariant() -> None:
    x = latent_data(50)
    vae = VAETransformer(**FAST, random_state=0).fit(x)
    z, order = vae.transform(x), np.random.default_rng(0).permutation(50)
    np.testing.assert_allclose(vae.transform(x[order]), z[order], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(vae.transform(x[:7]), z[:7], rtol=1e-6, atol=1e-6)


def test_patience_validates_on_held_out_rows() -> None:
    vae = VAETransformer(**FAST, patience=1, random_state=0).fit(latent_data(100))
    assert "val_elbo" in vae.history_[0]
    vae = VAETransformer(**FAST, random_state=0).fit(latent_data(100))
    assert "val_elbo" not in vae.history_[0]


def test_drop_in_beside_pca_in_a_pipeline() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    x = rng.normal(size=(120, 6)) + 3.0 * y[:, None]  # two well-separated blobs
    accuracy = {}
    for name, reducer in {"pca": PCA(2), "vae": VAETransformer(epochs=20, random_state=0)}.items():
        pipe = Pipeline([("reduce", reducer), ("probe", LogisticRegression())])
        accuracy[name] = cross_val_score(pipe, x, y, cv=2).mean()
    assert accuracy["vae"] > 0.9 and accuracy["pca"] > 0.9, accuracy
    names = VAETransformer(**FAST, random_state=0).fit(x).get_feature_names_out()
    assert list(names) == ["vaetransformer0", "vaetransformer1"]


def test_errors_follow_sklearn_conventions() -> None:
    with pytest.raises(NotFittedError):
        VAETransformer().transform(np.zeros((2, 3)))
    vae = VAETransformer(**FAST, random_state=0).fit(latent_data(40))
    with pytest.raises(ValueError, match="X has 5 features, but VAETransformer is expecting 12"):
        vae.transform(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="expecting 2 latent features"):
        vae.inverse_transform(np.zeros((2, 3)))


def test_a_negative_random_state_is_named_as_such() -> None:
    x = np.random.default_rng(0).random((40, 4))
    with pytest.raises(ValueError, match="random_state must be >= 0"):
        VAETransformer(epochs=1, random_state=-1).fit(x)


def test_validation_fraction_is_checked_without_patience_too() -> None:
    x = np.random.default_rng(0).random((40, 4))
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        VAETransformer(epochs=1, validation_fraction=2.0).fit(x)
