"""Untrusted JSON values (run files, checkpoint metadata, .vkz headers): types and bounds are
checked before a value is used, so a file can neither crash vaekit nor size an allocation."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any

from vaekit.errors import CheckpointError


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: upper bounds of sizes read from files: a file may not make vaekit allocate without limit
LIMITS = {"latent_dim": 4096, "hidden": 1 << 16, "components": 1 << 16, "channels": 4096}
LIMITS |= {"epochs": 10**7, "batch_size": 1 << 24, "k": 1 << 16, "warmup": 10**7}
LIMITS |= {"patience": 10**7, "seed": 2**63 - 1}
MAX_ITEMS, MAX_TEXT = 64, 4096


def checked(cls: type, values: Any, where: str) -> Any:
    """The config dataclass ``cls`` from untrusted ``values`` (JSON): every field's type and
    bounds are checked first, so a file can neither crash nor size an allocation."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{where} must be a JSON object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise CheckpointError(f"{where}: unknown field {unknown[0]!r}")
    for name, value in values.items():
        if not fits(hints[name], value, LIMITS.get(name)):
            raise CheckpointError(f"{where}: {name} = {shorten(value)} is not a valid value")
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{where}: {e}") from None


def fits(hint: Any, value: Any, limit: int | None) -> bool:
    """Whether a JSON ``value`` is of the type ``hint`` (int, float, str, bool, tuples of them,
    optional), and any integer in it within ``limit``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return (value is None and type(None) in args) or any(
            fits(a, value, limit) for a in args if a is not type(None)
        )
    if origin is tuple:
        return (
            isinstance(value, list | tuple)
            and len(value) <= MAX_ITEMS
            and all(fits(args[0], v, limit) for v in value)
        )
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return is_number(value) and isinstance(value, int) and abs(value) <= (limit or 2**63 - 1)
    if hint is float:
        return is_number(value) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str) and len(value) <= MAX_TEXT
    return False


def shorten(value: Any) -> str:
    """``value`` as JSON, cut to 40 characters for a one-line message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
