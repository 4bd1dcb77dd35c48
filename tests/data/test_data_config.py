"""DataConfig checks, the cache folder, seeded splits and the Dataset container."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.data import DataConfig, Dataset, default_data_dir
from vaekit.data.config import parse_image_size
from vaekit.data.splits import split_indices
from vaekit.errors import ConfigError, DataError


def test_every_field_has_one_line_help():
    for f in dataclasses.fields(DataConfig):
        assert f.metadata["help"] and "\n" not in f.metadata["help"], f.name


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"val_fraction": -0.1}, r"val_fraction must be in \[0, 1\)"),
        ({"test_fraction": 1.0}, r"test_fraction must be in \[0, 1\)"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be < 1 to leave training data"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"image_size": "big"}, "image_size must look like 'HxW'"),
        ({"image_size": "0x4"}, "at least 1x1"),
        ({"dataset": " "}, "dataset must be"),
        ({"label_column": ""}, "label_column must be"),
    ],
)
def test_config_rejects_bad_values(kw, match):
    with pytest.raises(ConfigError, match=match):
        DataConfig(**kw)


def test_image_size_forms():
    assert parse_image_size("28x32") == (28, 32) and parse_image_size("16") == (16, 16)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("VAEKIT_DATA_DIR", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    assert DataConfig(data_dir=str(tmp_path / "e")).root == tmp_path / "e"
    monkeypatch.delenv("VAEKIT_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert DataConfig().root == tmp_path / "cache" / "vaekit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == Path.home() / ".cache" / "vaekit"


def test_split_indices_are_disjoint_complete_and_seeded():
    train, val, test = split_indices(101, 0.2, 0.1, seed=5)
    assert (len(train), len(val), len(test)) == (71, 20, 10)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(101))
    assert all(
        np.array_equal(a, b)
        for a, b in zip((train, val, test), split_indices(101, 0.2, 0.1, seed=5), strict=True)
    )
    assert not np.array_equal(test, split_indices(101, 0.2, 0.1, seed=6)[2])


def make(**kw) -> Dataset:
    x = torch.rand(10, 2)
    fields = dict(
        name="t",
        x_train=x,
        x_val=x[:0],
        x_test=x[:3],
        y_train=None,
        y_val=None,
        y_test=None,
        shape=(2,),
        kind="grey",
    )
    return Dataset(**{**fields, **kw})


def test_dataset_helpers():
    data = make(shape=[2])
    assert data.shape == (2,) and data.n_features == 2
    assert data.split("test")[0].shape == (3, 2) and data.split("val")[1] is None
    with pytest.raises(ConfigError, match="split must be one of"):
        data.split("valid")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kind": "colour"}, "kind must be one of"),
        ({"x_val": torch.zeros(2, 3)}, "x_val must be float32 of shape"),
        ({"x_test": torch.zeros(2, 2, dtype=torch.float64)}, "x_test must be float32"),
        ({"y_train": torch.zeros(10, dtype=torch.int64)}, "for all splits or for none"),
        ({"x_train": torch.zeros(0, 2)}, "training split is empty"),
        ({"kind": "real"}, "loc and scale"),
    ],
)
def test_dataset_rejects_inconsistent_fields(kw, match):
    with pytest.raises((DataError, ConfigError), match=match):
        make(**kw)


def test_an_image_size_over_2_26_pixels_is_refused_before_anything_is_read() -> None:
    assert parse_image_size("8192x8192") == (8192, 8192)
    for text in ("8193x8192", "100000x100000", "3000000000x1"):
        with pytest.raises(ConfigError, match="over 2\\^26 pixels"):
            parse_image_size(text)
