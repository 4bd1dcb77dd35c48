"""The named datasets: digits (embedded, offline), MNIST, Fashion-MNIST, binarized MNIST."""

from __future__ import annotations

import socket

import pytest
import torch

from vaekit.data import DATASETS, DataConfig, load_dataset
from vaekit.data.idx import IMAGES_MAGIC, read_idx
from vaekit.errors import ConfigError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_digits_default_works_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    data = load_dataset(DataConfig())  # the default: digits
    assert data.name == "digits" and data.shape == (1, 8, 8) and data.kind == "grey"
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 1797
    assert (len(data.x_val), len(data.x_test)) == (180, 180)
    assert data.x_train.min() == 0 and data.x_train.max() == 1
    assert data.x_train.dtype == torch.float32 and data.x_train.is_contiguous()
    assert data.classes == tuple("0123456789") and data.loc is None and not data.binarize
    all_y = torch.cat([data.y_train, data.y_val, data.y_test])
    assert all_y.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_split_is_seeded():
    a, b = load_dataset(DataConfig(seed=1)), load_dataset(DataConfig(seed=1))
    c = load_dataset(DataConfig(seed=2))
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_test, c.x_test)


def test_digits_dynamic_binarization_draws_fresh_values():
    data = load_dataset(DataConfig(binarize=True, val_fraction=0.0))
    assert data.kind == "binary" and data.binarize and len(data.x_val) == 0
    # the stored values stay grey: the trainer draws fresh binary values per batch
    assert len(data.x_train.unique()) > 2


@pytest.mark.parametrize("name", ["mnsit", "fashion", "binarised-mnist", "digit"])
def test_unknown_name_suggests_the_closest(name):
    with pytest.raises(ConfigError, match="did you mean") as err:
        load_dataset(DataConfig(name))
    assert all(known in str(err.value) for known in DATASETS)


def test_names_ignore_case_and_underscores():
    assert load_dataset(DataConfig("DIGITS")).name == "digits"


def test_named_dataset_rejects_file_options():
    with pytest.raises(ConfigError, match="label_column"):
        load_dataset(DataConfig("digits", label_column="label"))


def test_mnist_from_offline_copy(shared_dir):
    root = shared_dir("mnist")
    data = load_dataset(DataConfig("mnist", data_dir=str(root), download=False))
    assert data.shape == (1, 28, 28) and data.kind == "grey" and not data.binarize
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (54000, 6000, 10000)
    train_y = torch.cat([data.y_train, data.y_val])
    assert train_y.bincount().tolist() == MNIST_TRAIN_COUNTS
    assert data.y_test.bincount().tolist() == MNIST_TEST_COUNTS
    # the official test set is untouched: same images, same order, uint8 / 255
    raw = read_idx(root / "mnist" / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)
    assert torch.equal(data.x_test[:, 0], torch.tensor(raw, dtype=torch.float32) / 255)
    assert data.x_train.max() == 1.0 and data.x_train.min() == 0.0


def test_mnist_dynamic_binarization(shared_dir):
    root = shared_dir("mnist")
    data = load_dataset(DataConfig("mnist", data_dir=str(root), binarize=True, val_fraction=0))
    assert data.kind == "binary" and data.binarize and len(data.x_train) == 60000
    assert data.x_train.shape == (60000, 1, 28, 28) and data.y_train.shape == (60000,)


def test_fashion_mnist_from_offline_copy(shared_dir):
    root = shared_dir("fashion-mnist")
    data = load_dataset(DataConfig("fashion-mnist", data_dir=str(root), download=False))
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert torch.cat([data.y_train, data.y_val]).bincount().tolist() == [6000] * 10
    assert data.y_test.bincount().tolist() == [1000] * 10


def test_binarized_mnist_official_split(shared_dir):
    root = shared_dir("binarized-mnist")
    data = load_dataset(
        DataConfig(
            "binarized-mnist", data_dir=str(root), download=False, val_fraction=0.5, binarize=True
        )
    )
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (50000, 10000, 10000)
    assert data.kind == "binary" and not data.binarize and data.y_train is None
    assert data.x_train.sum().item() == 5_118_041 and data.x_test.sum().item() == 1_038_896
