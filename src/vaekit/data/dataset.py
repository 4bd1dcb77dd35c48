"""The in-memory dataset every model trains on: three splits of float32 tensors plus metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from vaekit.errors import ConfigError, DataError

KINDS = ("binary", "grey", "rgb", "real")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test splits held in memory.

    ``x_*`` are float32, contiguous, of shape ``(rows, *shape)``; ``y_*`` are int64 ``(rows,)`` or
    all None. ``kind`` says what the values are: ``"binary"`` ({0, 1}), ``"grey"`` ([0, 1]),
    ``"rgb"`` ([0, 1] colour images, shape (3, H, W)) or ``"real"`` (any reals, in their own
    units; ``loc``/``scale`` are the train split's per-feature mean and standard deviation, with
    which the model standardizes internally). ``levels``: the number of values k/(levels-1) that
    [0, 1] data lie on (256 for 8-bit pixels), None for continuous values. ``columns``: the
    feature names of tabular data (the CSV header), in order. With ``binarize``
    the stored values are grey and each drawn batch is replaced by a Bernoulli draw
    (by the trainer, as it draws batches), so the model sees binary data.
    """

    name: str
    x_train: Tensor  # (N, *shape)
    x_val: Tensor  # (M, *shape), M may be 0
    x_test: Tensor  # (T, *shape), T may be 0
    y_train: Tensor | None  # (N,) int64
    y_val: Tensor | None  # (M,)
    y_test: Tensor | None  # (T,)
    shape: tuple[int, ...]
    kind: str
    binarize: bool = False
    loc: Tensor | None = None  # (*shape), "real" data only
    scale: Tensor | None = None  # (*shape), "real" data only
    classes: tuple[str, ...] | None = None
    levels: int | None = None
    columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"dataset kind must be one of {KINDS}, got {self.kind!r}")
        shape = tuple(int(s) for s in self.shape)
        object.__setattr__(self, "shape", shape)
        labels = [self.y_train, self.y_val, self.y_test]
        if any(y is None for y in labels) and not all(y is None for y in labels):
            raise DataError(f"{self.name}: labels must be given for all splits or for none")
        for split in SPLITS:
            x, y = self.split(split)
            if x.dtype != torch.float32 or tuple(x.shape[1:]) != shape:
                raise DataError(
                    f"{self.name}: x_{split} must be float32 of shape (rows, *{shape}), "
                    f"got {x.dtype} {tuple(x.shape)}"
                )
            if y is not None and (y.dtype != torch.int64 or tuple(y.shape) != (len(x),)):
                raise DataError(
                    f"{self.name}: y_{split} must be int64 of shape ({len(x)},), "
                    f"got {y.dtype} {tuple(y.shape)}"
                )
        if len(self.x_train) == 0:
            raise DataError(f"{self.name}: the training split is empty")
        if (self.kind == "real") != (self.loc is not None and self.scale is not None):
            raise DataError(f"{self.name}: loc and scale are given exactly for 'real' data")

    @property
    def n_features(self) -> int:
        """Number of values per example, ``prod(shape)``."""
        return math.prod(self.shape)

    @property
    def channels(self) -> int:
        """Colour channels of image data (C of (C, H, W)); 1 for vectors and grey images."""
        return self.shape[0] if len(self.shape) == 3 else 1

    def describe(self) -> dict[str, object]:
        """What the values are: ``kind``, ``channels``, ``levels`` (for run files and reports)."""
        return {"kind": self.kind, "channels": self.channels, "levels": self.levels}

    def split(self, name: str) -> tuple[Tensor, Tensor | None]:
        """``(x, y)`` of the split ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (the three
        concatenated: file order for data loaded without held-out fractions); y None without
        labels."""
        if name == "all":
            parts = [self.split(s) for s in SPLITS]
            x = torch.cat([p[0] for p in parts])
            y = None if self.y_train is None else torch.cat([p[1] for p in parts])  # type: ignore[misc]
            return x, y
        if name not in SPLITS:
            raise ConfigError(f"split must be one of {(*SPLITS, 'all')}, got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
