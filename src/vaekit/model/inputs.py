"""Examples as a model takes them: any array of the right shape, in its units, on its device."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from vaekit.errors import DataError


def as_examples(
    x: Tensor | np.ndarray, shape: tuple[int, ...], device: torch.device, name: str = "x"
) -> Tensor:
    """``x`` as float32 examples (N, *shape) on ``device``, or :class:`DataError` naming ``name``.

    Accepts (N, *shape) or flat (N, prod(shape)); uint8 values above 1 are 8-bit pixels and
    become k/255, as when data is loaded, so the model sees the same values either way. A shape
    with one column too many suggests the label column.
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    eight_bit = t.dtype == torch.uint8 and t.numel() > 0 and int(t.max()) > 1
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
