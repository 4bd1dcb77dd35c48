"""Missing values (NaN in the data): the checks, and the MIWAE encoder's input.

A model made for incomplete data (``ModelConfig.mask_input``, Mattei & Frellsen 2019) reads NaN
as a missing entry: its encoder sees the zero-filled data beside the mask of observed entries,
and its likelihood scores the observed entries only
(:func:`vaekit.model.objectives.log_prob_observed`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaekit.errors import DataError


def masked_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The encoder's input shape for data of ``shape`` and its mask, side by side along the first
    event axis (channels, or features); (H, W) images gain a channel axis: (2, H, W)."""
    return (2, *shape) if len(shape) == 2 else (2 * shape[0], *shape[1:])


def with_mask(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``x`` (B, *shape) with NaN for missing entries -> concat(x * mask, mask), (B,
    *masked_shape): the zero-filled data (0: the mean of standardised data) beside the mask."""
    mask = ~torch.isnan(x)  # (B, *shape)
    parts = [torch.where(mask, x, 0.0), mask.to(x.dtype)]
    return torch.stack(parts, 1) if len(shape) == 2 else torch.cat(parts, 1)


def check_finite(x: Tensor, name: str, missing: bool) -> None:
    """:class:`DataError` naming the first infinite entry of ``x`` (N, ...), or the first NaN
    (a missing value) unless ``missing`` allows them."""
    bad = torch.isinf(x) if missing else ~torch.isfinite(x)
    if not bad.any():
        return
    first = int(bad.flatten().nonzero()[0].item())
    example, entry = divmod(first, math.prod(x.shape[1:]))
    where = f"example {example}, feature {entry}"
    if not torch.isnan(x.flatten()[first]):
        raise DataError(f"{name} contains an infinite value ({where})")
    raise DataError(
        f"{name} has a missing value (NaN) at {where}; to train on or impute incomplete data, "
        'allow them: missing="allow"'
    )
