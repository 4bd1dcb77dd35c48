"""Every config field's type is checked against its annotation before its range: one ConfigError
naming the field, the value and the type expected (ModelConfig, TrainConfig and DataConfig)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import vaekit
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig
from vaekit.errors import ConfigError


@pytest.mark.parametrize(
    ("cls", "kw", "message"),
    [
        (TrainConfig, {"epochs": "2"}, "epochs must be an integer, got '2'"),
        (TrainConfig, {"epochs": 1.5}, "epochs must be an integer, got 1.5"),
        (TrainConfig, {"epochs": True}, "epochs must be an integer, got True"),
        (TrainConfig, {"seed": "abc"}, "seed must be an integer, got 'abc'"),
        (TrainConfig, {"lr": "0.1"}, "lr must be a finite number, got '0.1'"),
        (TrainConfig, {"lr": float("inf")}, "lr must be a finite number, got inf"),
        (TrainConfig, {"beta": None}, "beta must be a finite number, got None"),
        (TrainConfig, {"patience": 2.5}, "patience must be an integer or None, got 2.5"),
        (TrainConfig, {"clip_norm": "1"}, "clip_norm must be a finite number or None, got '1'"),
        (TrainConfig, {"dreg": 1}, "dreg must be True or False, got 1"),
        (TrainConfig, {"device": 0}, "device must be a string, got 0"),
        (
            ModelConfig,
            {"hidden": 8},
            "hidden must be a list or tuple of at most 64 integers, got 8",
        ),
        (
            ModelConfig,
            {"hidden": "abc"},
            "hidden must be a list or tuple of .* integers, got 'abc'",
        ),
        (ModelConfig, {"hidden": (8, 2.5)}, r"hidden must be .* integers, got \(8, 2.5\)"),
        (ModelConfig, {"channels": [16, None]}, r"channels must be .*, got \[16, None\]"),
        (ModelConfig, {"latent_dim": 2.5}, "latent_dim must be an integer, got 2.5"),
        (ModelConfig, {"levels": 2.0}, "levels must be an integer or None, got 2.0"),
        (ModelConfig, {"gaussian_scale": "big"}, "gaussian_scale must be a finite number or None"),
        (ModelConfig, {"activation": None}, "activation must be a string, got None"),
        (ModelConfig, {"conditional": "yes"}, "conditional must be True or False, got 'yes'"),
        (DataConfig, {"seed": 1.5}, "seed must be an integer, got 1.5"),
        (DataConfig, {"val_fraction": "0.1"}, "val_fraction must be a finite number, got '0.1'"),
        (DataConfig, {"dataset": None}, "dataset must be a string, got None"),
        (DataConfig, {"binarize": "no"}, "binarize must be True or False, got 'no'"),
        (DataConfig, {"label_column": True}, "label_column must be a string or None, got True"),
        (DataConfig, {"image_size": (28, 28)}, "image_size must be a string or None"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_the_type_expected(cls, kw, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        cls(**kw)


@pytest.mark.parametrize("cls", [ModelConfig, TrainConfig, DataConfig])
def test_every_field_is_type_checked(cls):
    """A new field gets the check too: an object of no config type is refused by name."""
    for f in dataclasses.fields(cls):
        with pytest.raises(ConfigError, match=f"^{f.name} must be "):
            cls(**{f.name: object()})


def test_numbers_of_other_types_become_the_field_type():
    model = ModelConfig(latent_dim=np.int64(3), hidden=[np.int32(8), 4], levels=np.uint8(16))
    assert (model.latent_dim, model.hidden, model.levels) == (3, (8, 4), 16)
    assert type(model.latent_dim) is int and all(type(h) is int for h in model.hidden)
    train = TrainConfig(epochs=np.int64(2), lr=1, beta=np.float32(0.5), clip_norm=2)
    assert (train.epochs, train.lr, train.beta, train.clip_norm) == (2, 1.0, 0.5, 2.0)
    assert type(train.epochs) is int and type(train.lr) is float and type(train.beta) is float
    assert vaekit.config.from_dict(TrainConfig, vaekit.config.to_dict(train)) == train


def test_data_config_takes_paths_and_column_indices(tmp_path):
    config = DataConfig(tmp_path / "x.csv", data_dir=Path(tmp_path), label_column=np.int64(0))
    assert config.dataset == str(tmp_path / "x.csv") and config.data_dir == str(tmp_path)
    assert config.label_column == "0"
    assert DataConfig(val_fraction=np.float64(0.25), seed=np.int64(3)).seed == 3


def test_a_float_epoch_count_is_refused_before_training():
    x = np.random.default_rng(0).random((40, 3))
    with pytest.raises(ConfigError, match="epochs must be an integer, got 1.5"):
        vaekit.fit(x, train_config=TrainConfig(epochs=1.5))
