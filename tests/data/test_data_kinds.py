"""What the values are, as the model will see them: kind, channels and levels, and the likelihood
``auto`` resolves to for each kind of data (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaekit.config import ModelConfig
from vaekit.data import DataConfig, from_arrays, load_dataset
from vaekit.model.likelihoods import resolve


def _resolved(data) -> str:
    return resolve(ModelConfig(), data.kind, data.levels).likelihood


def test_binary_arrays_are_binary_and_bernoulli() -> None:
    data = from_arrays(np.random.default_rng(0).integers(0, 2, (20, 6)).astype(np.float32))
    assert data.describe() == {"kind": "binary", "channels": 1, "levels": None}
    assert _resolved(data) == "bernoulli"


def test_uint8_arrays_are_8_bit_grey_and_discretized_logistic() -> None:
    x = np.random.default_rng(0).integers(0, 256, (20, 5, 5)).astype(np.uint8)
    data = from_arrays(x)
    assert data.describe() == {"kind": "grey", "channels": 1, "levels": 256}
    assert _resolved(data) == "discretized-logistic"
    # the model sees k/255: the same grid for encode, decode and sample
    np.testing.assert_allclose(data.x_train.numpy().ravel() * 255 % 1, 0, atol=1e-4)


def test_8_bit_values_saved_as_floats_are_found_on_the_grid() -> None:
    x = np.random.default_rng(0).integers(0, 256, (20, 4)) / 255.0
    assert from_arrays(x).levels == 256
    assert from_arrays(x + 1e-3).levels is None  # off the grid: continuous


def test_an_rgb_png_folder_is_rgb_with_three_channels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(6):
        pixels = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
        Image.fromarray(pixels, mode="RGB").save(tmp_path / f"{i}.png")
    data = load_dataset(DataConfig(str(tmp_path)))
    assert data.describe() == {"kind": "rgb", "channels": 3, "levels": 256}
    assert data.shape == (3, 4, 4) and _resolved(data) == "discretized-logistic"


def test_continuous_data_in_the_unit_interval_and_real_data_are_gaussian() -> None:
    rng = np.random.default_rng(0)
    unit = from_arrays(rng.uniform(size=(30, 3)))
    assert (unit.kind, unit.levels, _resolved(unit)) == ("grey", None, "gaussian")
    real = from_arrays(rng.normal(size=(30, 3)))
    assert (real.kind, real.levels, _resolved(real)) == ("real", None, "gaussian")


def test_digits_lie_on_17_levels_and_binarize_makes_them_binary() -> None:
    data = load_dataset(DataConfig("digits"))
    assert data.describe() == {"kind": "grey", "channels": 1, "levels": 17}
    binary = load_dataset(DataConfig("digits", binarize=True))
    assert (binary.kind, binary.levels, _resolved(binary)) == ("binary", None, "bernoulli")


def test_mnist_in_grey_mode_is_8_bit(shared_dir) -> None:
    data = load_dataset(DataConfig("mnist", data_dir=str(shared_dir("mnist"))))
    assert data.describe() == {"kind": "grey", "channels": 1, "levels": 256}
    assert _resolved(data) == "discretized-logistic"


def test_split_all_is_every_row_in_file_order() -> None:
    x = np.arange(40, dtype=np.float64).reshape(20, 2) * 3.0 - 7.0  # real, distinct rows
    y = np.arange(20) % 3
    data = from_arrays(x, y, config=DataConfig("a", val_fraction=0.0, test_fraction=0.0))
    x_all, y_all = data.split("all")
    np.testing.assert_array_equal(x_all.numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(y_all.numpy(), y)
    with pytest.raises(ValueError, match="split must be one of"):
        data.split("everything")


def test_floats_on_a_coarse_grid_stay_continuous() -> None:
    """digits / 16 as floats: a Gaussian, which also scores values between the levels (the
    README's outlier detector scores uniform noise with it)."""
    k = np.random.default_rng(0).integers(0, 17, size=(200, 6))
    data = from_arrays((k / 16).astype(np.float32))
    assert (data.kind, data.levels) == ("grey", None)


def test_continuous_values_in_0_1_have_no_levels() -> None:
    data = from_arrays(np.random.default_rng(0).random((200, 6)).astype(np.float32))
    assert (data.kind, data.levels) == ("grey", None)
