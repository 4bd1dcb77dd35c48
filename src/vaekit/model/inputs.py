"""What users pass to a model's methods, checked: examples as a model takes them (any numeric
array of the right shape, in its units, on its device), condition labels, and the counts, ``k``
and seeds of its methods. Bad data is a :class:`DataError`, a bad setting a :class:`ConfigError`,
each naming the argument."""

from __future__ import annotations

import math
import numbers
import reprlib
from typing import TypeGuard

import numpy as np
import torch
from torch import Tensor

from vaekit.errors import ConfigError, DataError

#: the seeds torch takes (``torch.manual_seed``): 64-bit, signed or unsigned
SEED_RANGE = (-(2**63), 2**64 - 1)


def as_tensor(x: object, name: str = "x") -> Tensor:
    """``x`` (a tensor, a NumPy array or nested lists of numbers) as a tensor of its own dtype,
    or :class:`DataError` naming ``name`` for anything else (strings, None, objects, complex
    numbers, rows of different lengths)."""
    if isinstance(x, Tensor):
        if x.is_complex():
            raise DataError(f"{name} must hold real numbers, got a tensor of {x.dtype}")
        return x
    try:
        a = np.asarray(x)
    except (ValueError, TypeError):  # rows of different lengths
        raise DataError(f"{name} must be an array of numbers with rows of one length") from None
    if a.dtype.kind not in "buif":
        got = f"an array of {a.dtype}" if a.ndim else reprlib.repr(x)
        raise DataError(
            f"{name} must be an array of numbers (a tensor, a NumPy array or lists), got {got}"
        )
    return torch.as_tensor(a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("=")))


def as_examples(
    x: object, shape: tuple[int, ...], device: torch.device, name: str = "x", binary: bool = False
) -> Tensor:
    """``x`` as float32 examples (N, *shape) on ``device``, or :class:`DataError` naming ``name``.

    Accepts (N, *shape) or flat (N, prod(shape)); uint8 values are 8-bit pixels and become
    k/255, as when data is loaded, so the model sees the same values either way; for a
    ``binary`` model, uint8 0/1 stay 0/1 (0/255 become 0/1). The rule depends on the model,
    never on the other rows of the batch. A shape with one column too many suggests the label
    column.
    """
    t = as_tensor(x, name)
    eight_bit = t.dtype == torch.uint8 and not (binary and (t.numel() == 0 or int(t.max()) <= 1))
    t = t.to(device=device, dtype=torch.float32)
    t = t / 255 if eight_bit else t
    n_features = math.prod(shape)
    if t.ndim >= 1 and t.shape[0] == 0:
        raise DataError(f"{name} is empty: no examples to process")
    if tuple(t.shape[1:]) != shape:
        if t.ndim == 2 and t.shape[1] == n_features:
            t = t.reshape(-1, *shape)
        else:
            shapes = {f"(N, {', '.join(map(str, shape))})", f"(N, {n_features})"}
            hint = ""
            if t.ndim == 2 and t.shape[1] == n_features + 1:
                hint = (
                    "; one column too many: if it holds the labels, name it with "
                    'label_column="NAME" (or its 0-based index)'
                )
            raise DataError(
                f"{name} has shape {tuple(t.shape)}, but this model expects "
                f"{' or '.join(sorted(shapes))}{hint}"
            )
    return t


def is_one(given: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether an array of shape ``given`` is one example of event shape ``shape``, (*shape) or
    flat (prod(shape),), not a batch."""
    one = given == shape or given == (math.prod(shape),)
    return one or (len(given) == len(shape) - 1 and (1, *given) == shape)


def as_conditions(
    y: object, n: int, y_dim: int, device: torch.device, check: bool = True
) -> Tensor | None:
    """The condition vectors (n, y_dim) of a model with ``y_dim`` classes for ``y``: see
    :meth:`vaekit.model.vae.VAE.condition`."""
    if not y_dim:
        if y is not None:
            raise DataError("this model is not conditional: drop y (or train with conditional)")
        return None
    if y is None:
        raise DataError(
            f"this model is conditional: pass y, labels 0..{y_dim - 1} or vectors of {y_dim} values"
        )
    t = as_tensor(y, "y").to(device)
    if not t.is_floating_point():
        t = t.reshape(-1).expand(n) if t.numel() == 1 else t
        if t.shape != (n,):
            raise DataError(f"y has shape {tuple(t.shape)}, expected ({n},) labels")
        if check and ((t < 0).any() or (t >= y_dim).any()):
            raise DataError(
                f"labels must lie in 0..{y_dim - 1}, got values in [{int(t.min())}, {int(t.max())}]"
            )
        return torch.nn.functional.one_hot(t.long(), y_dim).float()  # (n, C)
    t = t.float()
    if t.shape != (n, y_dim):
        raise DataError(f"y has shape {tuple(t.shape)}, expected ({n}, {y_dim}) vectors")
    if check and not torch.isfinite(t).all():
        raise DataError("y contains NaN or infinite values")
    return t


def check_count(name: str, value: object, least: int) -> int:
    """``value`` as an int if it is an integer >= ``least`` (a NumPy integer too, never a bool),
    else :class:`ConfigError` naming ``name``."""
    if not is_integer(value) or value < least:
        raise ConfigError(f"{name} must be an integer >= {least}, got {reprlib.repr(value)}")
    return int(value)


def check_seed(seed: object) -> int | None:
    """``seed`` as an int, or None, or :class:`ConfigError` for anything else."""
    return None if seed is None else check_int_seed(seed, "a 64-bit integer or None")


def check_int_seed(seed: object, expected: str = "a 64-bit integer") -> int:
    """``seed`` as an int if it is an integer torch can seed with (``torch.manual_seed``), else
    :class:`ConfigError` saying it must be ``expected``."""
    low, high = SEED_RANGE
    if not is_integer(seed) or not low <= seed <= high:
        raise ConfigError(f"seed must be {expected}, got {reprlib.repr(seed)}")
    return int(seed)


def check_arguments(
    draws: object, k: object, batch_size: object, seed: object
) -> tuple[int, int, int, int | None]:
    """``draws``, ``k``, ``batch_size`` and ``seed`` as ints (seed: or None), or
    :class:`ConfigError` unless ``draws`` >= 0, ``k`` >= 1 and ``batch_size`` >= 1 are integers
    and ``seed`` is a 64-bit integer or None."""
    return (
        check_count("draws", draws, 0),
        check_count("k", k, 1),
        check_count("batch_size", batch_size, 1),
        check_seed(seed),
    )


def is_integer(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an integer (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a real number (Python's or NumPy's, NaN and inf too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
