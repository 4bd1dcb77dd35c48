"""The user's arrays: .npy / .npz files and in-memory arrays (from_arrays)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.data import DataConfig, from_arrays, load_dataset
from vaekit.errors import ConfigError, DataError, DataNotFoundError


def load(path, **kw):
    return load_dataset(DataConfig(str(path), **kw))


def test_real_values_keep_their_units_with_train_statistics(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal([10.0, -3.0, 0.0], [5.0, 0.1, 1.0], size=(200, 3))
    x[:, 2] = 7.0  # a constant column
    np.save(tmp_path / "x.npy", x)
    data = load(tmp_path / "x.npy")
    assert data.kind == "real" and data.shape == (3,) and data.y_train is None
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (160, 20, 20)
    assert torch.allclose(data.loc, data.x_train.double().mean(0).float(), atol=1e-5)
    assert torch.allclose(data.scale[:2], data.x_train[:, :2].std(0, correction=0), atol=1e-5)
    assert data.scale[2] == 1.0 and data.loc[2] == 7.0  # constant: shifted, not divided by 0
    every = torch.cat([data.x_train, data.x_val, data.x_test])  # the data in its own units
    assert torch.allclose(every.sort(0).values, torch.tensor(x).float().sort(0).values, atol=1e-4)


@pytest.mark.parametrize(("values", "kind"), [([0.0, 0.5, 1.0], "grey"), ([0, 1, 1], "binary")])
def test_unit_interval_data_is_not_standardized(tmp_path, values, kind):
    np.save(tmp_path / "x.npy", np.array([values] * 10))
    data = load(tmp_path / "x.npy")
    assert data.kind == kind and data.loc is None and data.scale is None


def test_uint8_images_are_pixels_over_255(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 5, 6), dtype=np.uint8)
    np.save(tmp_path / "img.npy", x)
    data = load(tmp_path / "img.npy", binarize=True)
    assert data.shape == (1, 5, 6) and data.kind == "binary" and data.binarize
    assert data.x_train.max() <= 1.0


def test_channels_last_images_move_to_channels_first(tmp_path):
    np.save(tmp_path / "rgb.npy", np.zeros((10, 8, 6, 3), dtype=np.float32))
    assert load(tmp_path / "rgb.npy").shape == (3, 8, 6)


@pytest.mark.parametrize(
    ("shape", "event"),
    [
        ((6, 4, 4, 3), (3, 4, 4)),  # a 4x4 RGB image, channels last
        ((6, 8, 8, 2), (2, 8, 8)),  # grey + alpha, channels last
        ((6, 3, 8, 8), (3, 8, 8)),  # RGB, channels first
        ((6, 1, 5, 7), (1, 5, 7)),
        ((6, 5, 7, 1), (1, 5, 7)),
    ],
)
def test_the_channel_axis_is_found_for_small_images(tmp_path, shape, event):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.uint8))
    assert load_dataset(DataConfig(str(tmp_path / "x.npy"))).shape == event


def test_npz_with_x_and_string_labels(tmp_path):
    x = np.random.default_rng(0).random((30, 4))
    y = np.array(["cat", "dog", "emu"] * 10)
    np.savez(tmp_path / "d.npz", x=x, y=y, notes=np.zeros(2))
    data = load(tmp_path / "d.npz", seed=3)
    assert data.classes == ("cat", "dog", "emu") and data.kind == "grey"
    rows = torch.cat([data.x_train, data.x_val, data.x_test])
    labels = torch.cat([data.y_train, data.y_val, data.y_test])
    for row, label in zip(rows, labels, strict=True):  # each row kept its own label
        i = int(np.flatnonzero(np.isclose(x, row.numpy()).all(1))[0])
        assert data.classes[label] == y[i]


def test_npz_official_splits_are_kept(tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.random((50, 3)), rng.random((7, 3))
    np.savez(
        tmp_path / "s.npz",
        train=train,
        test=test,
        y_train=np.arange(50) % 2,
        y_test=np.arange(7) % 2,
    )
    data = load(tmp_path / "s.npz", val_fraction=0.2, test_fraction=0.5)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (40, 10, 7)
    assert torch.allclose(data.x_test, torch.tensor(test, dtype=torch.float32))


def test_npz_single_array_is_the_data(tmp_path):
    np.savez(tmp_path / "one.npz", whatever=np.ones((10, 2)))
    assert load(tmp_path / "one.npz").kind == "binary"


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"a": np.ones((4, 2)), "b": np.ones((4, 2))}, r"cannot tell which array.*\['a', 'b'\]"),
        ({"x": np.ones((4, 2)), "y": np.arange(3)}, "3 labels in 'y' for 4 rows in 'x'"),
        ({"train": np.ones((4, 2)), "test": np.ones((4, 3))}, "different example shapes"),
        (
            {"train": np.ones((4, 2)), "test": np.ones((2, 2)), "y_train": np.arange(4)},
            "some splits but not all",
        ),
        ({"x": np.ones((4, 2)), "y": np.array([0.0, 1.5, 1.0, 0.0])}, "row 1 is 1.5"),
    ],
)
def test_bad_npz(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load(tmp_path / "bad.npz")


def test_nan_names_file_and_row(tmp_path):
    x = np.ones((6, 3))
    x[4, 1] = np.inf
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(DataError, match=r"nan\.npy.*row 4 contains NaN or inf"):
        load(tmp_path / "nan.npy")


def test_nan_is_a_missing_value_only_when_allowed(tmp_path):
    x = np.arange(18.0).reshape(6, 3)
    x[2, 1] = np.nan
    np.save(tmp_path / "holes.npy", x)
    with pytest.raises(DataError, match=r"row 2 contains NaN.*feature 1.*missing=.allow."):
        load(tmp_path / "holes.npy")
    data = load(tmp_path / "holes.npy", missing="allow", val_fraction=0.0, test_fraction=0.0)
    assert torch.isnan(data.x_train[2, 1]) and data.kind == "real"
    assert torch.isfinite(data.loc).all() and torch.isfinite(data.scale).all()
    with pytest.raises(ConfigError, match="missing must be 'error' or 'allow'"):
        DataConfig("x.npy", missing="yes")


def test_unreadable_and_non_numeric_files(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="junk.npy: not a readable"):
        load(tmp_path / "junk.npy")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match="expected numbers"):
        load(tmp_path / "s.npy")


def test_missing_path_and_unsupported_type(tmp_path):
    with pytest.raises(DataNotFoundError, match="nope.npy"):
        load(tmp_path / "nope.npy")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataError, match="unsupported file type '.json'"):
        load(tmp_path / "x.json")


def test_binarize_real_data_is_a_config_error(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(20.0).reshape(10, 2))
    with pytest.raises(ConfigError, match="binarize needs values in"):
        load(tmp_path / "x.npy", binarize=True)


def test_from_arrays_takes_tensors():
    x = torch.rand(40, 1, 3, 3)
    data = from_arrays(x, torch.arange(40) % 4, config=DataConfig(test_fraction=0.0), name="t")
    assert data.name == "t" and data.shape == (1, 3, 3) and len(data.x_test) == 0
    assert data.y_train.dtype == torch.int64 and data.classes is None
