"""The user's own arrays: ``.npy`` and ``.npz`` files.

Rows are examples. The array's shape decides the event shape: ``(N,)`` -> ``(1,)``,
``(N, D)`` -> ``(D,)``, ``(N, H, W)`` -> grey images ``(1, H, W)``, ``(N, C, H, W)`` as it is, and
``(N, H, W, C)`` with C in {1, 2, 3, 4} and a second axis other than 1 or 3 (grey or RGB channels
first) is moved to channels-first.
uint8 arrays with values above 1 are 8-bit pixels and are divided by 255.

``.npz`` rule, first match wins:

1. an array ``x``: the data, with labels ``y`` if present (other arrays are ignored);
2. an array ``train``: official splits ``train`` / ``valid`` (or ``val``) / ``test``, with labels
   ``y_train`` / ``y_valid`` (or ``y_val``) / ``y_test`` if present; a split that is absent is
   drawn from ``train`` with the configured fraction;
3. exactly one array: the data, without labels.

Files are untrusted: :mod:`vaekit.data.npy` checks every header against the bytes that hold the
data before allocating, and values must be finite and within float32's range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.data.npy import read_npy, read_npz
from vaekit.data.splits import Source, check_finite, check_float32, encode_labels
from vaekit.errors import DataError


def as_examples(x: np.ndarray, where: str, missing: bool = False) -> np.ndarray:
    """Validate a numeric array of examples and give it shape ``(N, *event_shape)``; NaN
    (missing values) only with ``missing``."""
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: expected numbers, got an array of type {x.dtype}")
    if x.ndim == 0 or x.size == 0:
        what = "rows" if x.ndim == 0 or len(x) == 0 else "values in a row"
        raise DataError(f"{where}: no {what} (shape {x.shape})")
    if x.ndim > 4:
        raise DataError(f"{where}: expected at most 4 dimensions (N, C, H, W), got {x.shape}")
    check_finite(x, where, missing)
    check_float32(x, where)  # NaN passes: it is checked above
    if x.dtype.kind == "b":
        x = x.astype(np.uint8)
    if x.ndim in (1, 3):
        return x[:, None]  # (N,) -> (N, 1); (N, H, W) -> (N, 1, H, W)
    if x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 2, 3, 4):
        # (N, H, W, C) -> (N, C, H, W): a last axis of 1 to 4 is channels unless the second is
        # 1 or 3 (grey or RGB channels first); a 4x4 RGB image (N, 4, 4, 3) is channels-last
        return x.transpose(0, 3, 1, 2)
    return x


def _load(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """The array of an .npy file, or the arrays of an .npz, headers checked before allocating."""
    return read_npz(path) if path.suffix.lower() == ".npz" else read_npy(path)


def _pick(arrays: dict[str, np.ndarray], *keys: str) -> tuple[str, np.ndarray] | None:
    for key in keys:
        if key in arrays:
            return key, arrays[key]
    return None


def read_arrays(path: Path, missing: bool = False) -> Source:
    """Read a ``.npy`` or ``.npz`` file of examples (see the module docstring for the rules);
    NaN entries (missing values) only with ``missing``."""
    loaded = _load(path)
    arrays = {"x": loaded} if isinstance(loaded, np.ndarray) else loaded
    if "x" in arrays:
        parts = {"x": ("x", arrays["x"]), "y": _pick(arrays, "y")}
    elif "train" in arrays:
        parts = {
            "x": ("train", arrays["train"]),
            "y": _pick(arrays, "y_train"),
            "x_val": _pick(arrays, "valid", "val"),
            "y_val": _pick(arrays, "y_valid", "y_val"),
            "x_test": _pick(arrays, "test"),
            "y_test": _pick(arrays, "y_test"),
        }
    elif len(arrays) == 1:
        parts = {"x": next(iter(arrays.items()))}
    else:
        raise DataError(
            f"{path}: cannot tell which array holds the data among {sorted(arrays)}; name it "
            f"'x' (labels 'y'), or give 'train' / 'valid' / 'test' splits"
        )
    return arrays_source(path.name, parts, str(path), missing)


Part = tuple[str, np.ndarray]


def arrays_source(
    name: str, parts: dict[str, Part | None], where: str, missing: bool = False
) -> Source:
    """A Source from named arrays: slots ``x``, ``y``, ``x_val``, ``y_val``, ``x_test``, ``y_test``.

    Each slot holds ``(name in the file, array)`` or None; ``where`` prefixes error messages.
    """
    given = {slot: part for slot, part in parts.items() if part is not None}
    xs: dict[str, np.ndarray] = {}
    for slot in ("x", "x_val", "x_test"):
        if slot in given:
            key, value = given[slot]
            xs[slot] = as_examples(value, f"{where}: array {key!r}", missing)
    shapes = {slot: x.shape[1:] for slot, x in xs.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"{where}: the splits have different example shapes {shapes}")

    value_scale = 1.0
    if all(x.dtype == np.uint8 for x in xs.values()) and max(x.max() for x in xs.values()) > 1:
        value_scale = 255.0  # 8-bit pixel intensities

    ys: dict[str, np.ndarray | None] = {}
    classes = None
    present = [slot for slot in ("y", "y_val", "y_test") if slot in given]
    wanted = ["y" if slot == "x" else "y" + slot[1:] for slot in xs]
    if present and sorted(present) != sorted(wanted):
        raise DataError(f"{where}: labels are given for some splits but not all ({present})")
    all_labels = [np.asarray(given[slot][1]) for slot in present]
    for slot, y in zip(present, all_labels, strict=True):
        if y.ndim != 1:
            raise DataError(f"{where}: labels {given[slot][0]!r} must be 1-D, got shape {y.shape}")
    if present:
        codes, classes = encode_labels(np.concatenate(all_labels), f"{where}: labels")
        offsets = np.cumsum([0] + [len(y) for y in all_labels])
        for i, slot in enumerate(present):
            ys[slot] = y = codes[offsets[i] : offsets[i + 1]]
            x_slot = "x" if slot == "y" else "x" + slot[1:]
            if len(y) != len(xs[x_slot]):
                raise DataError(
                    f"{where}: {len(y)} labels in {given[slot][0]!r} for "
                    f"{len(xs[x_slot])} rows in {given[x_slot][0]!r}"
                )
    return Source(
        name,
        xs["x"],
        ys.get("y"),
        x_val=xs.get("x_val"),
        y_val=ys.get("y_val"),
        x_test=xs.get("x_test"),
        y_test=ys.get("y_test"),
        value_scale=value_scale,
        classes=classes,
    )
