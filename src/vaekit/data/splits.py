"""From raw arrays to a :class:`Dataset`: seeded splits, the value kind, standardization stats.

Every reader (named datasets, array files, CSV, image folders) returns a :class:`Source`;
:func:`build_dataset` turns it into tensors the same way for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vaekit.data.config import DataConfig
from vaekit.data.dataset import Dataset
from vaekit.errors import ConfigError, DataError


@dataclass
class Source:
    """Raw data as read from disk, before splitting.

    ``x`` is ``(N, *shape)`` of any numeric dtype and its values are ``x / value_scale``
    (255 for 8-bit images). Official splits, where the data has them, go in ``x_val`` / ``x_test``
    and are used as they are. ``kind`` is fixed by named datasets; None means "detect it".
    ``columns`` names the features of tabular data.
    """

    name: str
    x: np.ndarray
    y: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    value_scale: float = 1.0
    kind: str | None = None
    classes: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None


def check_finite(x: np.ndarray, where: str, missing: bool = False) -> None:
    """Raise :class:`DataError` naming ``where`` and the first row holding NaN or inf (inf only
    with ``missing``: NaN marks a missing value then)."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    ok = np.isfinite(x) | (missing & np.isnan(x))
    if ok.all():
        return
    bad = ~ok.reshape(len(x), -1)  # (N, D)
    row = int(np.flatnonzero(bad.any(axis=1))[0])
    col = int(np.flatnonzero(bad[row])[0])
    hint = "" if missing else '; allow missing values with missing="allow"'
    raise DataError(
        f"{where}: row {row} contains NaN or inf (first at feature {col}; "
        f"{int(bad.any(axis=1).sum())} rows do){hint}"
    )


F32_MAX = float(np.finfo(np.float32).max)  # vaekit computes in float32


def check_float32(x: np.ndarray, where: str) -> None:
    """Raise :class:`DataError` naming the first row holding a value beyond float32's range."""
    if x.dtype.kind != "f" or x.dtype.itemsize <= 4 or x.size == 0:
        return
    if max(float(x.max()), -float(x.min())) <= F32_MAX:  # no temporary copy in the usual case
        return
    flat = x.reshape(len(x), -1)  # (N, D)
    big = np.abs(flat) > F32_MAX  # (N, D)
    if big.any():
        row, column = (int(i[0]) for i in np.nonzero(big))
        value = flat[row, column]
        raise DataError(
            f"{where}: row {row} holds {value:.4g}, beyond float32's range (+-{F32_MAX:.4g}) "
            f"in which vaekit computes; rescale the data"
        )


def check_standardizable(xs: list[torch.Tensor], loc: torch.Tensor, name: str) -> None:
    """Raise :class:`DataError` if ``x - loc`` overflows float32 in some split ``(N, *shape)``."""
    for x in xs:
        if x.numel() == 0:
            continue
        if bool(torch.isnan(x).any()):  # missing values (missing="allow") do not spread
            x = torch.where(torch.isnan(x), loc.to(x.dtype), x)
        lo, hi = x.amin(dim=0).double(), x.amax(dim=0).double()  # (*shape), no copy of x
        spread = torch.maximum(hi - loc.double(), loc.double() - lo)  # max |x - loc|, (*shape)
        if not bool((spread <= F32_MAX).all()):
            j = int(torch.argmax(spread.flatten()))
            raise DataError(
                f"{name}: feature {j} spreads {float(spread.flatten()[j]):.4g} from its mean, "
                f"beyond float32's range (+-{F32_MAX:.4g}): it cannot be standardized; rescale "
                f"the data"
            )


def has_observed(x: np.ndarray | torch.Tensor) -> bool:
    """Whether ``x`` holds a value that is not missing (NaN); its max is NaN where any value is
    missing, so complete data costs one pass."""
    if isinstance(x, torch.Tensor):
        return x.numel() > 0 and (not torch.isnan(x.max()) or not bool(torch.isnan(x).all()))
    if x.size == 0:
        return False
    return x.dtype.kind != "f" or not np.isnan(x.max()) or not np.isnan(x).all()


def detect_kind(arrays: list[np.ndarray], value_scale: float = 1.0) -> str:
    """``"binary"`` if every value is 0 or 1, ``"grey"`` if all lie in [0, 1], else ``"real"``;
    missing values (NaN) and arrays of nothing else are left out."""
    arrays = [a for a in arrays if has_observed(a)]
    lo = min(float(np.nanmin(a)) for a in arrays) / value_scale  # NaN: missing values
    hi = max(float(np.nanmax(a)) for a in arrays) / value_scale
    if lo < 0 or hi > 1:
        return "real"
    binary = all((np.isin(a, (0, value_scale)) | np.isnan(a)).all() for a in arrays)
    return "binary" if binary else "grey"


def detect_levels(arrays: list[np.ndarray], value_scale: float) -> int | None:
    """The number of equally spaced levels k/(L-1) in [0, 1] the values lie on, or None.

    Integer arrays scaled by an integer ``value_scale`` (8-bit pixels / 255, digits / 16) lie on
    value_scale + 1 levels; float values in [0, 1] that are all multiples of 1/255 (8-bit data
    saved as floats) on 256; anything else is continuous (None): other float grids stay
    continuous, so a model of them scores values between the levels (outlier detection).
    """
    arrays = [a for a in arrays if a.size]

    def on_grid(a: np.ndarray, n: float) -> bool:
        return a.dtype.kind in "biu" or bool(np.abs(a * n - np.round(a * n)).max() < 1e-4)

    if value_scale > 1 and float(value_scale).is_integer():
        return int(value_scale) + 1 if all(on_grid(a, 1.0) for a in arrays) else None
    if all(on_grid(a, 255.0) for a in arrays):  # 8-bit data saved as floats in [0, 1]
        return 256
    return None


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded disjoint ``(train, val, test)`` row indices of ``n`` rows, each sorted.

    The held-out sizes are ``round(fraction * n)``; the same seed gives the same split.
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    test, val, train = np.split(perm, [n_test, n_test + n_val])
    return np.sort(train), np.sort(val), np.sort(test)


def _labels(y: np.ndarray | None, idx: np.ndarray | None) -> torch.Tensor | None:
    if y is None:
        return None
    y = y if idx is None else y[idx]
    return torch.from_numpy(np.array(y, dtype=np.int64))


def _values(x: np.ndarray, idx: np.ndarray | None, value_scale: float) -> torch.Tensor:
    """Rows ``idx`` of ``x`` (all if None) as a new contiguous float32 tensor / ``value_scale``."""
    if not (x.flags.writeable and x.flags.c_contiguous and x.dtype.isnative):
        x = np.array(x, dtype=x.dtype.newbyteorder("="), order="C")  # torch needs all three
    t = torch.from_numpy(x)
    if idx is not None:
        t = t.index_select(0, torch.from_numpy(idx))
    out = t.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    return out.div_(value_scale) if value_scale != 1.0 else out


def observed_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-feature mean and standard deviation (N in the denominator) of the observed
    entries of ``x`` (N, *shape), missing ones (NaN) left out: each (*shape), NaN for a feature
    with no observed entry."""
    loc = x.nanmean(dim=0)  # (*shape)
    return loc, (x - loc).square().nanmean(dim=0).sqrt()


def standardization(x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The train split's per-feature mean and standard deviation, each ``(*shape)``.

    The data stays in its own units; the model standardizes with these statistics internally,
    so its outputs and densities are in the data's units. Constant features get scale 1.
    Missing values (NaN) are left out of the statistics.
    """
    x = x_train.double()  # (N, *shape)
    if x.isnan().any():
        loc, scale = observed_moments(x)
        loc, scale = loc.nan_to_num(0.0), scale.nan_to_num(0.0)  # an all-missing feature: 0, 1
        scale[scale == 0] = 1.0
        return loc.float(), scale.float()
    loc = x.mean(dim=0)
    scale = x.std(dim=0, correction=0)
    scale[(x == x[:1]).all(dim=0)] = 1.0
    return loc.float(), scale.float()


def build_dataset(source: Source, config: DataConfig) -> Dataset:
    """Split ``source`` (seeded), fix its kind, measure real data's statistics: a Dataset.

    Without an official test split, ``test_fraction`` of all rows is held out; without an official
    validation split, ``val_fraction`` of the rows read as training data (all rows when there is
    no official test split either) goes to validation.
    """
    x, scale = source.x, source.value_scale
    parts = [a for a in (x, source.x_val, source.x_test) if a is not None]
    if not any(has_observed(a) for a in parts):
        raise DataError(f"{source.name}: every value is missing (NaN): nothing to learn from")
    kind = source.kind or detect_kind(parts, scale)
    levels = detect_levels(parts, scale) if kind == "grey" else None
    if kind == "grey" and x.ndim == 4 and x.shape[1] == 3:
        kind = "rgb"
    val_frac = 0.0 if source.x_val is not None else config.val_fraction
    test_frac = 0.0 if source.x_test is not None else config.test_fraction
    train, val, test = split_indices(len(x), val_frac, test_frac, config.seed)
    if len(train) == 0:
        raise DataError(f"{source.name}: {len(x)} rows leave no training data after the split")

    xs, ys = [_values(x, train, scale)], [_labels(source.y, train)]
    for idx, x_official, y_official in (
        (val, source.x_val, source.y_val),
        (test, source.x_test, source.y_test),
    ):
        if x_official is not None:
            xs.append(_values(x_official, None, scale))
            ys.append(_labels(y_official, None))
        else:
            xs.append(_values(x, idx, scale))
            ys.append(_labels(source.y, idx))

    if not has_observed(xs[0]):
        raise DataError(
            f"{source.name}: the training split ({len(xs[0])} of {len(x)} rows) holds no "
            "observed value: every entry is missing (NaN); give it rows with observed values"
        )
    loc = std = None
    if kind == "real":
        loc, std = standardization(xs[0])
        check_standardizable(xs, loc, source.name)

    binarize = False
    if config.binarize:
        if kind == "real":
            raise ConfigError(
                f"binarize needs values in [0, 1], but {source.name} is real-valued "
                f"(it is standardized by the model instead); turn binarize off"
            )
        binarize = kind in ("grey", "rgb")  # already-binary data stays as it is
        if binarize and any(np.isnan(a).any() for a in parts if a.dtype.kind == "f"):
            raise ConfigError(f"binarize cannot draw the missing values of {source.name}")
        kind, levels = "binary", None

    return Dataset(
        name=source.name,
        x_train=xs[0],
        x_val=xs[1],
        x_test=xs[2],
        y_train=ys[0],
        y_val=ys[1],
        y_test=ys[2],
        shape=tuple(x.shape[1:]),
        kind=kind,
        binarize=binarize,
        loc=loc,
        scale=std,
        classes=source.classes,
        levels=levels,
        columns=source.columns,
    )


def encode_labels(values: np.ndarray, where: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Labels ``(N,)`` -> ``(int64 codes, class names or None)``.

    Integers (or integral floats) are kept as they are, with no names; strings are mapped to
    0..K-1 in sorted order and the names are returned.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise DataError(f"{where}: labels must be one value per row, got shape {values.shape}")
    if values.dtype.kind in "biu":
        return values.astype(np.int64), None
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{where}: label in row {row} is {values[row]}, not an integer")
        return values.astype(np.int64), None
    if values.dtype.kind in "USO":
        names = np.array([str(v) for v in values])
        classes, codes = np.unique(names, return_inverse=True)
        return codes.astype(np.int64), tuple(str(c) for c in classes)
    raise DataError(f"{where}: labels of type {values.dtype} are neither integers nor strings")


def recode_labels(
    y: np.ndarray,
    names: tuple[str, ...] | None,
    classes: tuple[str, ...] | None,
    where: str,
) -> np.ndarray:
    """Labels ``y`` (N,) coded by a file's own class ``names`` (0..K-1 in sorted order; None for
    integer labels) -> codes of the ``classes`` a model was trained with (None: integer labels),
    so that a file holding only some of the classes means the same classes.

    :class:`DataError` for a name the model does not know, or names where the model was trained
    on integers (and the reverse).
    """
    if names is None and classes is None:
        return np.asarray(y, dtype=np.int64)
    if classes is None:
        raise DataError(
            f"{where}: the labels are class names ({_few(names or ())}), but the model was "
            "trained on integer labels (or by a vaekit that kept no class names: retrain it)"
        )
    if names is None:
        raise DataError(
            f"{where}: the labels are integers, but the model was trained on the class names "
            f"{_few(classes)}: give those names"
        )
    unknown = sorted(set(names) - set(classes))
    if unknown:
        label = "labels" if len(unknown) > 1 else "label"
        raise DataError(
            f"{where}: {label} {_few([repr(n) for n in unknown])} not among the model's classes "
            f"({_few(classes)})"
        )
    table = np.array([classes.index(n) for n in names], dtype=np.int64)  # file code -> model's
    return table[np.asarray(y, dtype=np.int64)]


def _few(names: Sequence[str], n: int = 10) -> str:
    """``names`` for a message: the first ``n``, then how many in all."""
    shown = ", ".join(names[:n])
    return shown if len(names) <= n else f"{shown}, ... ({len(names)} in all)"


def relabel(data: Dataset, classes: tuple[str, ...] | None) -> Dataset:
    """``data`` (read from a new file) with its labels coded as the ``classes`` a model was
    trained with (:func:`recode_labels`); unchanged without labels."""
    if data.y_train is None:
        return data

    def recode(y: torch.Tensor | None) -> torch.Tensor:
        assert y is not None  # labels are given for all splits or for none
        return torch.from_numpy(recode_labels(y.numpy(), data.classes, classes, data.name))

    y_train, y_val, y_test = (recode(y) for y in (data.y_train, data.y_val, data.y_test))
    return dataclasses.replace(data, y_train=y_train, y_val=y_val, y_test=y_test, classes=classes)


def reorder_columns(data: Dataset, trained: tuple[str, ...] | None) -> Dataset:
    """A table's ``data`` with its columns in the order a run was ``trained`` on, matched by
    their header names (:func:`column_order`); unchanged where there is nothing to match."""
    order = column_order(data.name, data.columns, trained)
    if order is None or data.columns is None:
        return data
    index = torch.tensor(order)
    return dataclasses.replace(
        data,
        x_train=data.x_train[:, index].contiguous(),
        x_val=data.x_val[:, index].contiguous(),
        x_test=data.x_test[:, index].contiguous(),
        loc=None if data.loc is None else data.loc[index],
        scale=None if data.scale is None else data.scale[index],
        columns=tuple(data.columns[i] for i in order),
    )


def column_order(
    where: str, names: tuple[str, ...] | None, trained: tuple[str, ...] | None
) -> list[int] | None:
    """The indices that put a file's columns, named ``names`` by its header (None: no header),
    in the order a run was ``trained`` on; None when they are in it already or a side has no
    names; :class:`DataError` when the names are not the run's."""
    if names is None or trained is None or names == trained:
        return None
    if sorted(names) == sorted(trained) and len(set(names)) == len(names):
        return [names.index(name) for name in trained]
    missing = [n for n in trained if n not in names]
    extra = [n for n in names if n not in trained]
    differ = "; ".join(
        [f"missing: {', '.join(missing)}"] * bool(missing)
        + [f"not the model's: {', '.join(extra) or '(unnamed)'}"] * bool(extra)
    )
    raise DataError(
        f"{where}: its header does not name the columns the model was trained on "
        f"({', '.join(trained)}): {differ or 'a name is repeated'}"
    )
