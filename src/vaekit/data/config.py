"""Where the data comes from and how it is split: :class:`DataConfig` and the cache folder."""

from __future__ import annotations

import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaekit.config import check_types
from vaekit.errors import ConfigError

ENV_DATA_DIR = "VAEKIT_DATA_DIR"


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


def default_data_dir() -> Path:
    """The folder named datasets are read from and downloaded into.

    ``$VAEKIT_DATA_DIR`` when set, else the per-user cache: ``$XDG_CACHE_HOME/vaekit``
    (``~/.cache/vaekit`` when unset; ``%LOCALAPPDATA%\\vaekit`` on Windows).
    """
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser().absolute()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "vaekit"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser().absolute() / "vaekit"


def parse_image_size(text: str) -> tuple[int, int]:
    """``"HxW"`` (or a single ``"S"`` for S x S) -> ``(H, W)``; :class:`ConfigError` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX*,]\s*(\d+)\s*)?", text)
    if not match:
        raise ConfigError(f"image_size must look like 'HxW' (for example '28x28'), got {text!r}")
    h = int(match.group(1))
    w = int(match.group(2) or h)
    if h < 1 or w < 1:
        raise ConfigError(f"image_size must be at least 1x1, got {text!r}")
    if h * w > 2**26:  # images.MAX_PIXELS: what a file may hold, a resize may not exceed
        raise ConfigError(f"image_size {h}x{w} is over 2^26 pixels (8192 x 8192)")
    return h, w


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split.

    Every field's type is checked (:func:`vaekit.config.check_types`); ``dataset`` and
    ``data_dir`` also take a path (``pathlib.Path``), and ``label_column`` an integer index,
    both kept as strings.
    """

    dataset: str = _help(
        "a name (digits, mnist, fashion-mnist, binarized-mnist) or a path "
        "(.npy, .npz, .csv, or a folder of images)",
        "digits",
    )
    data_dir: str | None = _help(
        "folder of named datasets, used as is when it holds them, else downloaded into "
        "(default: $VAEKIT_DATA_DIR, else ~/.cache/vaekit)",
        None,
    )
    binarize: bool = _help(
        "dynamic binarization: a fresh Bernoulli draw each time a batch is taken ([0,1] data)",
        False,
    )
    val_fraction: float = _help(
        "fraction held out for validation, seeded (ignored where an official split exists)", 0.1
    )
    test_fraction: float = _help(
        "fraction held out for testing, for data without an official test split", 0.1
    )
    seed: int = _help("seed of the train/validation/test split", 0)
    label_column: str | None = _help("CSV: name or 0-based index of the label column", None)
    image_size: str | None = _help(
        "image folders: 'HxW' size every image is resized to (default: the first image's size)",
        None,
    )
    download: bool = _help("allow downloading named datasets that are missing", True)
    missing: str = field(
        default="error",
        metadata={
            "help": "missing values (NaN, empty CSV cells): error, or allow them (the model is "
            "then trained on the observed entries only: MIWAE)",
            "choices": ("error", "allow"),
        },
    )

    def __post_init__(self) -> None:
        for name in ("dataset", "data_dir"):  # a path is a string here (and in config.json)
            if isinstance(getattr(self, name), os.PathLike):
                object.__setattr__(self, name, os.fspath(getattr(self, name)))
        if isinstance(self.label_column, numbers.Integral) and not isinstance(
            self.label_column, bool
        ):
            object.__setattr__(self, "label_column", str(self.label_column))  # an index
        check_types(self)
        if not self.dataset.strip():
            raise ConfigError("dataset must be a dataset name or a path, got an empty string")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                f"val_fraction + test_fraction must be < 1 to leave training data, got "
                f"{self.val_fraction} + {self.test_fraction}"
            )
        if self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.image_size is not None:
            parse_image_size(self.image_size)
        if self.missing not in ("error", "allow"):
            raise ConfigError(f"missing must be 'error' or 'allow', got {self.missing!r}")
        if self.label_column is not None and not self.label_column.strip():
            raise ConfigError("label_column must be a column name or index, got an empty string")

    @property
    def root(self) -> Path:
        """The resolved data folder: ``data_dir`` if given, else :func:`default_data_dir`."""
        if self.data_dir:
            return Path(self.data_dir).expanduser().absolute()
        return default_data_dir()
