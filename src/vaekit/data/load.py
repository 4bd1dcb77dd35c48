"""``load_dataset``: a name or a path in, a split :class:`Dataset` out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.data.config import DataConfig
from vaekit.data.dataset import Dataset
from vaekit.data.files import arrays_source, read_arrays
from vaekit.data.images import read_image_folder
from vaekit.data.named import DATASETS, load_named, normalize_name, unknown_name_error
from vaekit.data.splits import Source, build_dataset
from vaekit.data.tables import read_csv
from vaekit.errors import ConfigError, DataError, DataNotFoundError

ARRAY_SUFFIXES = (".npy", ".npz")
TABLE_SUFFIXES = (".csv", ".tsv", ".tab")


def _looks_like_path(text: str) -> bool:
    path = Path(text).expanduser()
    return (
        path.exists()
        or any(sep in text for sep in ("/", "\\"))
        or path.suffix.lower() in ARRAY_SUFFIXES + TABLE_SUFFIXES
    )


def read_path(path: Path, config: DataConfig) -> Source:
    """Read the user's file or folder at ``path`` into a :class:`Source`."""
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if config.label_column is not None and (path.is_dir() or suffix not in TABLE_SUFFIXES):
        raise ConfigError(f"label_column applies to CSV files only, not to {path}")
    if config.image_size is not None and not path.is_dir():
        raise ConfigError(f"image_size applies to image folders only, not to {path}")
    missing = config.missing == "allow"  # NaN (empty CSV cells) mark missing entries
    if path.is_dir():
        return read_image_folder(path, config.image_size)
    if suffix in ARRAY_SUFFIXES:
        return read_arrays(path, missing)
    if suffix in TABLE_SUFFIXES:
        return read_csv(path, config.label_column, missing)
    raise DataError(
        f"{path}: unsupported file type {path.suffix!r}; use .npy, .npz, .csv or a folder of images"
    )


def load_dataset(config: DataConfig) -> Dataset:
    """Load the dataset ``config.dataset`` names, split it, and return it in memory.

    A known name (:data:`DATASETS`) wins over a file of the same name; anything that looks like a
    path (it exists, contains a slash, or ends in .npy/.npz/.csv) is read as the user's data.
    Raises :class:`ConfigError` for an unknown name (with a suggestion), :class:`DataNotFoundError`
    for missing files, :class:`DataError` for malformed ones and :class:`ChecksumError` for corrupt
    downloads.
    """
    name = normalize_name(config.dataset)
    if name in DATASETS:
        if config.label_column is not None or config.image_size is not None:
            raise ConfigError(f"label_column and image_size apply to your own files, not to {name}")
        source = load_named(name, config.root, config.download)
    elif _looks_like_path(config.dataset):
        source = read_path(Path(config.dataset).expanduser(), config)
    else:
        raise unknown_name_error(config.dataset)
    return build_dataset(source, config)


def from_arrays(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor | None = None,
    *,
    config: DataConfig | None = None,
    name: str | None = None,
) -> Dataset:
    """A :class:`Dataset` from in-memory examples ``x`` ``(N, ...)`` and labels ``y`` ``(N,)``.

    The rules of a ``.npy`` file apply (shapes, uint8 pixels, kind detection, standardization);
    ``config`` gives the split fractions, seed and ``binarize`` (its ``dataset`` is only a name).
    """
    config = config or DataConfig(dataset="array")
    name = name or config.dataset

    def numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
        return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)

    parts = {"x": ("x", numpy(x)), "y": None if y is None else ("y", numpy(y))}
    missing = config.missing == "allow"
    return build_dataset(arrays_source(name, parts, name, missing), config)
