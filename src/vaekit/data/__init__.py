"""Datasets: a name (digits, mnist, fashion-mnist, binarized-mnist) or a path, in memory.

>>> from vaekit.data import DataConfig, load_dataset
>>> data = load_dataset(DataConfig("mnist", binarize=True))
>>> data.x_train.shape, data.kind                    # (54000, 1, 28, 28), "binary"

Named datasets are read from ``<data_dir>/<name>/`` (default ``$VAEKIT_DATA_DIR``, else
``~/.cache/vaekit``) and downloaded there, verified, when missing. ``digits`` is embedded in
scikit-learn and needs no network.
"""

from vaekit.data.config import DataConfig, default_data_dir
from vaekit.data.dataset import Dataset
from vaekit.data.load import from_arrays, load_dataset
from vaekit.data.named import DATASETS

__all__ = [
    "DATASETS",
    "DataConfig",
    "Dataset",
    "default_data_dir",
    "from_arrays",
    "load_dataset",
]
