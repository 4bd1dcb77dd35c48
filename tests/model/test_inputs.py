"""What users pass to a model's public methods: a bad count, k, batch size or seed is one
ConfigError naming it, bad data one DataError, the same for every method."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError
from vaekit.model import estimate
from vaekit.model.vae import VAE

X = torch.zeros(3, 1, 4, 4)  # three binary examples of the small model

#: (method, positional arguments, keyword arguments, message)
BAD_SETTINGS = [
    ("log_likelihood", (X,), {"k": 0}, "k must be an integer >= 1, got 0"),
    ("log_likelihood", (X,), {"k": -1}, "k must be an integer >= 1, got -1"),
    ("log_likelihood", (X,), {"k": 1.5}, "k must be an integer >= 1, got 1.5"),
    ("log_likelihood", (X,), {"k": 2, "batch_size": 0}, "batch_size must be an integer >= 1"),
    ("elbo", (X,), {"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ("elbo", (X,), {"batch_size": "8"}, "batch_size must be an integer >= 1, got '8'"),
    ("sample", (2.5,), {}, "n must be an integer >= 1, got 2.5"),
    ("sample", (0,), {}, "n must be an integer >= 1, got 0"),
    ("sample", (True,), {}, "n must be an integer >= 1, got True"),
    ("sample", (2,), {"seed": "a"}, "seed must be a 64-bit integer or None, got 'a'"),
    ("sample", (2,), {"seed": 1.0}, "seed must be a 64-bit integer or None, got 1.0"),
    ("sample", (2,), {"seed": 2**64}, "seed must be a 64-bit integer or None"),
    ("interpolate", (X[0], X[1]), {"steps": 2.5}, "steps must be an integer >= 2, got 2.5"),
    ("interpolate", (X[0], X[1]), {"steps": 1}, "steps must be an integer >= 2, got 1"),
    ("impute", (X,), {"k": 0}, "k must be an integer >= 1, got 0"),
    ("impute", (X,), {"seed": "a"}, "seed must be a 64-bit integer or None, got 'a'"),
    ("score", (X, "elbo"), {"k": 1.5}, "k must be an integer >= 1, got 1.5"),
    ("score", (X, "elbo"), {"k": 0}, "k must be an integer >= 1, got 0"),
    ("score", (X, "elbo"), {"seed": None}, "seed must be a 64-bit integer, got None"),
    ("score", (X, "elbo"), {"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize(("method", "args", "kw", "message"), BAD_SETTINGS)
def test_a_bad_setting_is_a_config_error_naming_it(small_model, method, args, kw, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        getattr(small_model, method)(*args, **kw)


NOT_NUMBERS = [
    ("abc", "got 'abc'"),
    (None, "got None"),
    ([[0.0] * 16, [0.0] * 15], "rows of one length"),
    (np.array([["a"] * 16]), "got an array of <U1"),
    (np.zeros((2, 16), dtype=object), "got an array of object"),
    (np.zeros((2, 16), dtype=complex), "got an array of complex128"),
    (torch.zeros(2, 16, dtype=torch.complex64), "real numbers"),
]
DATA_METHODS = ["encode", "reconstruct", "elbo", "log_likelihood", "impute", "score"]


@pytest.mark.parametrize("method", DATA_METHODS)
@pytest.mark.parametrize(("x", "message"), NOT_NUMBERS)
def test_data_that_is_not_numbers_is_a_data_error(small_model, method, x, message):
    with pytest.raises(DataError, match=f"^x must .*{message}"):
        getattr(small_model, method)(x)


@pytest.mark.parametrize(("z", "message"), NOT_NUMBERS)
def test_latents_that_are_not_numbers_are_a_data_error(small_model, z, message):
    with pytest.raises(DataError, match=f"^z must .*{message}"):
        small_model.decode(z)


def test_interpolate_takes_one_example_at_each_end(small_model, binary_data):
    x = binary_data[:4]
    with pytest.raises(DataError, match="^interpolate takes one example at each end, got 2 in x_a"):
        small_model.interpolate(x[:2], x[2:3], steps=3)
    with pytest.raises(DataError, match="got 3 in x_b"):
        small_model.interpolate(x[0], x[1:4].reshape(3, -1), steps=3)
    one = small_model.interpolate(x[:1], x[1].reshape(-1), steps=3)  # (1, *shape) or flat
    torch.testing.assert_close(one, small_model.interpolate(x[0], x[1], steps=3))


def test_numpy_integers_and_other_byte_orders_are_accepted(small_model, binary_data):
    x = binary_data[:3]
    assert small_model.sample(np.int64(2), seed=np.int32(1)).shape == (2, 1, 4, 4)
    assert small_model.log_likelihood(x, k=np.int64(3), batch_size=np.int16(2)).shape == (3,)
    big_endian = x.numpy().astype(">f4")
    torch.testing.assert_close(small_model.encode(big_endian), small_model.encode(x))
    assert small_model.encode(x.numpy().astype(np.uint16)).shape == (3, 2)


def test_labels_that_are_not_numbers_are_a_data_error():
    model = VAE(
        ModelConfig(latent_dim=2, hidden=(8,), conditional=True), (1, 4, 4), "binary", y_dim=3
    )
    with pytest.raises(DataError, match="^y must be an array of numbers .*got 'a'"):
        model.sample(2, y="a")


def test_the_estimator_refuses_a_bad_k_with_a_config_error(small_model, binary_data):
    with pytest.raises(ConfigError, match="k must be an integer >= 1, got 0"):
        estimate.importance_sample(small_model, binary_data[:2], 0)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1, got 0"):
        estimate.estimate(small_model, binary_data[:2], 2, batch_size=0)


def test_uint8_pixels_mean_the_same_whatever_else_is_in_the_batch() -> None:
    """uint8 is 8-bit (k/255) for a grey model, row by row or in any batch; a binary model keeps
    0/1 (and reads 0/255 as 0/1)."""
    torch.manual_seed(0)
    grey = VAE(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (4,), "grey")
    x = np.zeros((2, 4), np.uint8)
    x[0], x[1] = 1, 255
    alone, together = grey.check_data(x[:1]), grey.check_data(x)
    assert torch.equal(alone[0], together[0]) and torch.allclose(alone, torch.full((1, 4), 1 / 255))
    binary = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (4,), "binary")
    ones = np.ones((1, 4), np.uint8)
    assert torch.equal(binary.check_data(ones), binary.check_data(ones * 255))
    assert torch.equal(binary.check_data(ones), torch.ones(1, 4))
