"""The named datasets: digits (embedded), mnist, fashion-mnist and binarized-mnist.

Each loader returns a :class:`Source` with the dataset's official splits; the files of the MNIST
family come from ``<data_dir>/<name>/`` (see :mod:`vaekit.data.download`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vaekit.data.binarized import load_binarized_mnist
from vaekit.data.download import ensure_files
from vaekit.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from vaekit.data.splits import Source
from vaekit.errors import ConfigError

DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "binarized-mnist")

DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def normalize_name(name: str) -> str:
    """``"Fashion_MNIST"`` -> ``"fashion-mnist"``: case and dashes do not matter."""
    return name.strip().lower().replace("_", "-")


def unknown_name_error(name: str) -> ConfigError:
    """A :class:`ConfigError` for an unknown name, with the closest known one suggested."""
    close = difflib.get_close_matches(normalize_name(name), DATASETS, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(
        f"unknown dataset {name!r}{hint}; known datasets: {', '.join(DATASETS)}; or give the "
        f"path of a .npy, .npz or .csv file or of a folder of images"
    )


def load_digits() -> Source:
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16 -> [0, 1]); no network."""
    from sklearn.datasets import load_digits as sklearn_digits  # slow import: only when used

    bunch = sklearn_digits()
    x = bunch.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    return Source(
        "digits",
        x,
        bunch.target.astype(np.int64),
        value_scale=16.0,
        kind="grey",
        classes=DIGIT_CLASSES,
    )


def _load_idx_family(
    name: str, folder: Path, allow_download: bool, classes: tuple[str, ...]
) -> Source:
    paths = ensure_files(name, folder, allow_download)
    x = read_idx(paths["train-images-idx3-ubyte.gz"], IMAGES_MAGIC)  # (60000, 28, 28) uint8
    y = read_idx(paths["train-labels-idx1-ubyte.gz"], LABELS_MAGIC)  # (60000,)
    x_test = read_idx(paths["t10k-images-idx3-ubyte.gz"], IMAGES_MAGIC)  # (10000, 28, 28)
    y_test = read_idx(paths["t10k-labels-idx1-ubyte.gz"], LABELS_MAGIC)
    return Source(
        name,
        x[:, None],
        y,
        x_test=x_test[:, None],
        y_test=y_test,
        value_scale=255.0,
        kind="grey",
        classes=classes,
    )


def load_mnist(folder: Path, allow_download: bool = True) -> Source:
    """MNIST 60k/10k 28x28 grey (uint8 / 255), from ``folder`` = ``<data_dir>/mnist``."""
    return _load_idx_family("mnist", folder, allow_download, DIGIT_CLASSES)


def load_fashion_mnist(folder: Path, allow_download: bool = True) -> Source:
    """Fashion-MNIST 60k/10k 28x28 grey, from ``folder`` = ``<data_dir>/fashion-mnist``."""
    return _load_idx_family("fashion-mnist", folder, allow_download, FASHION_CLASSES)


def load_binarized(folder: Path, allow_download: bool = True) -> Source:
    """Static binarized MNIST with its official 50k/10k/10k split; no labels."""
    arrays = load_binarized_mnist(folder, allow_download)
    side = math.isqrt(arrays["train"].shape[1])  # 784 pixels -> 28 x 28
    x, x_val, x_test = (arrays[s].reshape(-1, 1, side, side) for s in ("train", "valid", "test"))
    return Source("binarized-mnist", x, x_val=x_val, x_test=x_test, kind="binary")


def load_named(name: str, data_dir: Path, allow_download: bool = True) -> Source:
    """The :class:`Source` of the named dataset ``name`` (one of :data:`DATASETS`)."""
    loaders: dict[str, Callable[[Path, bool], Source]] = {
        "mnist": load_mnist,
        "fashion-mnist": load_fashion_mnist,
        "binarized-mnist": load_binarized,
    }
    key = normalize_name(name)
    if key == "digits":
        return load_digits()
    if key not in loaders:
        raise unknown_name_error(name)
    return loaders[key](data_dir / key, allow_download)
