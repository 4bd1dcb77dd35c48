"""Terminal output and file checks for the CLI: colours (on terminals only), tables, one-line
errors, output paths checked before any work is done, and array writers by file extension."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from vaekit.errors import VaekitError
from vaekit.runs import CONFIG

ARRAY_FORMATS = (".npy", ".csv")
IMAGE_FORMATS = (".png",)


class UsageError(VaekitError):
    """A command-line request that cannot be carried out (bad path, unknown extension, ...)."""


def colour(text: str, code: str, stream: TextIO) -> str:
    """``text`` in ANSI colour ``code`` (``"1"`` bold, ``"31"`` red, ...) on a terminal only."""
    if os.environ.get("NO_COLOR") or not stream.isatty():
        return text
    return f"\033[{code}m{text}\033[0m"


def launched_rank() -> int | None:
    """This process's rank when torchrun started it as one of several, else None."""
    try:
        several = int(os.environ.get("WORLD_SIZE", "1")) > 1
        return int(os.environ["RANK"]) if several else None
    except (KeyError, ValueError):
        return None


def error_line(message: str) -> str:
    """The one line printed for an error: ``vaekit: error: <message>``, newlines folded; under
    torchrun ``vaekit: error: rank R: <message>``."""
    text = " ".join(str(message).split())
    rank = launched_rank()
    where = f"rank {rank}: " if rank is not None else ""
    return f"{colour('vaekit: error:', '1;31', sys.stderr)} {where}{text}"


def table(rows: Iterable[tuple[str, Any]], title: str = "") -> str:
    """Two aligned columns, keys and values, under an optional bold title."""
    rows = [(str(k), _fmt(v)) for k, v in rows]
    width = max((len(k) for k, _ in rows), default=0)
    lines = [colour(title, "1", sys.stdout)] if title else []
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) if len(value) <= 12 else f"[{len(value)} values]"
    return str(value)


def writable_folder(folder: Path) -> Path:
    """Create ``folder`` if needed and check a file can be written in it, or :class:`UsageError`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise UsageError(f"cannot write to the folder {folder}: {reason}") from e
    return folder


def output_path(path: str | Path, formats: Sequence[str]) -> Path:
    """Check an output file's extension and that its folder is writable, before any work."""
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise UsageError(
            f"unknown output extension {path.suffix or '(none)'!r} in {path}; "
            f"use {', '.join(formats)}"
        )
    writable_folder(path.parent)
    return path


def csv_cell(text: str) -> str:
    """``text`` as one CSV cell: quoted when it holds a comma, quote or newline."""
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_array(x: np.ndarray, path: Path, columns: list[str] | None = None) -> None:
    """Write ``x`` as ``.npy`` (shape kept) or ``.csv`` (one row per example, flattened, headed
    by ``columns`` when they name every value, else v0, v1, ...), atomically
    (:func:`vaekit.runs.atomic_write`)."""
    from vaekit.runs import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            if path.suffix.lower() == ".npy":
                np.save(f, x)
            else:
                flat = x.reshape(len(x), -1)
                names = columns
                if names is None or len(names) != flat.shape[1]:
                    names = [f"v{j}" for j in range(flat.shape[1])]
                header = ",".join(csv_cell(c) for c in names)
                np.savetxt(f, flat, delimiter=",", header=header, comments="", fmt="%.7g")

    atomic_write(path, write)


def progress(args: argparse.Namespace) -> bool | None:
    """Progress bars: off with --quiet, else on when stderr is a terminal (None lets tqdm users
    decide by that)."""
    return False if args.quiet else None


def run_folder(path: str | Path) -> Path:
    """``path`` if it is a vaekit run folder, else a one-line :class:`UsageError`."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"no run folder at {path}")
    if not (path / CONFIG).is_file():
        raise UsageError(f"{path} is not a vaekit run folder (no {CONFIG})")
    return path


class PipeSafe:
    """Standard output that a reader closing early (``vaekit info RUN | head -1``) cannot break:
    the command goes on and writes its files; what it still prints goes to /dev/null."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._discard()

    def _discard(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
