"""Optional extras: features whose packages are not part of the core install.

:func:`require` imports them on first use and turns a missing one into one clear
:class:`~vaekit.errors.MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vaekit.errors import MissingExtraError


def require(extra: str, what: str, *modules: str) -> list[ModuleType]:
    """Import ``modules`` (packages of ``extra``) for the feature ``what``, or raise
    :class:`MissingExtraError`: "``what`` needs the 'extra' extra: pip install 'vaekit[extra]'"."""
    try:
        return [importlib.import_module(m) for m in modules]
    except ImportError as e:
        missing = e.name or "a package"
        raise MissingExtraError(
            f"{what} needs the '{extra}' extra ({missing} is missing): "
            f"pip install 'vaekit[{extra}]'"
        ) from None
