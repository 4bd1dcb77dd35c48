"""Command-line options generated from the config dataclasses, so the two never drift apart.

Each field becomes one option: ``latent_dim`` -> ``--latent-dim``; ``tuple[int, ...]`` is read
from ``400,400``; a ``bool`` defaulting to False is a flag (``--binarize``), one defaulting to True
a ``--x/--no-x`` pair; ``X | None`` takes an X (or ``none``). The help is the field's one-line
``help`` plus its default. Options not given stay out of the namespace (``argparse.SUPPRESS``),
so :func:`given` tells what the user asked for and a config is built from defaults plus that.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

PREFIX = "config:"  # namespace keys of generated options: "config:<Class>.<field>"


def parse_ints(text: str) -> tuple[int, ...]:
    """``"400,400"`` -> ``(400, 400)``; ``""`` -> ``()``."""
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 400,400, got {text!r}"
        ) from None


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        return None if text.strip().lower() in ("none", "off", "") else parse(text)

    read.__name__ = getattr(parse, "__name__", "value")  # argparse names it in its errors
    return read


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def option_name(field: str, rename: Mapping[str, str]) -> str:
    """The command-line name of a config field: ``latent_dim`` -> ``--latent-dim``."""
    return "--" + rename.get(field, field).replace("_", "-")


def dest(cls: type, field: str) -> str:
    return f"{PREFIX}{cls.__name__}.{field}"


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    rename: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
    default_text: Mapping[str, str] | None = None,
    metavars: Mapping[str, str] | None = None,
) -> None:
    """Add one option per field of the dataclass ``cls`` to ``parser``.

    ``rename`` maps field names to option names (``{"seed": "data_seed"}``); ``only`` keeps a
    subset of fields; ``default_text`` replaces the shown default of a field (for commands where
    the default comes from elsewhere, e.g. a run's saved config).
    """
    rename, default_text, metavars = rename or {}, default_text or {}, metavars or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        hint, optional = _unwrap(hints[f.name])
        help_text = f.metadata.get("help", "")
        shown = default_text.get(f.name, _show(f.default))
        if f.name in default_text:  # the shown default replaces the field's own
            help_text = re.sub(r"\s*\(default: [^)]*\)", "", help_text)
        if "(default:" not in help_text:
            help_text = f"{help_text} (default: {shown})"
        name = option_name(f.name, rename)
        common: dict[str, Any] = {"dest": dest(cls, f.name), "default": argparse.SUPPRESS}
        if hint is bool:
            action = "store_true" if f.default is False else argparse.BooleanOptionalAction
            parser.add_argument(name, action=action, help=help_text, **common)
            continue
        if typing.get_origin(hint) is tuple:
            parse: Callable[[str], Any] = parse_ints
            metavar = "N,N,..."
        elif hint in (int, float, str):
            parse = hint
            metavar = {int: "N", float: "X", str: "NAME"}[hint]
        else:  # a new field type needs a parser here
            raise TypeError(f"no command-line parser for {cls.__name__}.{f.name}: {hint}")
        choices = f.metadata.get("choices")
        parser.add_argument(
            name,
            type=_optional(parse) if optional else parse,
            metavar=metavars.get(f.name, "{" + ",".join(choices) + "}" if choices else metavar),
            choices=choices,
            help=help_text,
            **common,
        )


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` the user set on the command line, as ``{field: value}``."""
    start = f"{PREFIX}{cls.__name__}."
    return {k[len(start) :]: v for k, v in vars(args).items() if k.startswith(start)}


def build(args: argparse.Namespace, cls: type, base: Any = None) -> Any:
    """An instance of ``cls``: ``base`` (or the defaults) with the user's options applied."""
    values = given(args, cls)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)
