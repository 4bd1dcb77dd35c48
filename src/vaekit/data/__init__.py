"""Datasets: a name (digits, mnist, fashion-mnist, binarized-mnist) or a path, in memory.

>>> from vaekit.data import DataConfig, load_dataset
>>> data = load_dataset(DataConfig("mnist", binarize=True))
>>> data.x_train.shape, data.kind                    # (54000, 1, 28, 28), "binary"

Named datasets are read from ``<data_dir>/<name>/`` (default ``$VAEKIT_DATA_DIR``, else
``~/.cache/vaekit``) and downloaded there, verified, when missing. ``digits`` is embedded in
scikit-learn and needs no network.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vaekit.data.config import DataConfig, default_data_dir

if TYPE_CHECKING:
    from vaekit.data.dataset import Dataset
    from vaekit.data.load import from_arrays, load_dataset
    from vaekit.data.named import DATASETS

#: Imported on first use (PEP 562): the config alone needs no torch (the CLI's --help).
_EXPORTS = {
    "Dataset": "vaekit.data.dataset",
    "from_arrays": "vaekit.data.load",
    "load_dataset": "vaekit.data.load",
    "DATASETS": "vaekit.data.named",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vaekit.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "DATASETS",
    "DataConfig",
    "Dataset",
    "default_data_dir",
    "from_arrays",
    "load_dataset",
]
