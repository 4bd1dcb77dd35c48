"""Every file vaekit writes goes through an atomic writer: a scan of the package's source for
direct writes (``Path.write_text``, ``open(..., "w")``, ``np.save``, ``savefig``, ``Image.save``,
...) that do not write into the temp file of :func:`vaekit.runs.atomic_write`, and a check that
the user-facing outputs found this way keep the old file on a full disk."""

from __future__ import annotations

import ast
import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from vaekit import runs
from vaekit.errors import RunWriteError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vaekit"
WRITERS = {"write_text", "write_bytes", "savefig", "save", "savetxt", "savez", "savez_compressed"}
OPENERS = {"open", "fdopen"}
# the writers themselves: runs.atomic_write and the binarized-MNIST cache (mkstemp + replace)
OWN_TEMP = {"tmp", "fd", "f"}


def _name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _writes_a_temp_file(call: ast.Call) -> bool:
    """Whether ``call`` writes into a temp file (or an open file object) rather than a path."""
    func = call.func
    target = call.args[0] if call.args else None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):  # Path(tmp).write_*
        target = func.value.args[0] if func.value.args else None
    return target is not None and ast.unparse(target) in OWN_TEMP


def _is_write(call: ast.Call) -> bool:
    name = _name(call)
    if name in OPENERS:
        mode = call.args[1] if len(call.args) > 1 else None
        mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
        return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
    if name == "write_text" and isinstance(call.func, ast.Attribute):
        receiver = ast.unparse(call.func.value)
        return receiver != "runs"  # runs.write_text is the atomic one
    return name in WRITERS and isinstance(call.func, ast.Attribute)


def direct_writes() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and _is_write(node) and not _writes_a_temp_file(node):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_writes_a_file_except_through_a_temp_file() -> None:
    assert direct_writes() == []


def test_the_scan_finds_a_direct_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "vaekit"
    module.mkdir()
    (module / "bad.py").write_text(
        "def f(path, fig, x, np):\n"
        "    path.write_text('x')\n"
        "    fig.savefig(path)\n"
        "    np.save(path, x)\n"
        "    open(path, 'w')\n"
        "    runs.write_text(path, 'fine')\n"
        "    open(tmp, 'wb')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", module)
    assert [line.split(":")[1] for line in direct_writes()] == ["2", "3", "4", "5"]


def full_disk(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def small_table():  # a CSV with a header and one hole per row
    from vaekit.cli.impute import Table

    x = np.array([[1.0, np.nan], [np.nan, 4.0]])
    return Table(x=x, y=None, rows=[["a", "b"], ["1", ""], ["", "4"]], columns=[0, 1])


def test_an_imputed_table_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    from vaekit.cli.impute import write_table

    out = tmp_path / "completed.csv"
    out.write_text("old\n")
    table = small_table()
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(RunWriteError, match="completed.csv.*previous file is kept"):
        write_table(table, np.zeros((2, 2)), out, draws=0)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["completed.csv"]  # no temp file left


def test_an_imputed_table_is_written_whole(tmp_path) -> None:
    from vaekit.cli.impute import write_table

    table = small_table()
    write_table(table, np.array([[9.0, 2.5], [3.5, 9.0]]), tmp_path / "t.csv", draws=0)
    assert (tmp_path / "t.csv").read_text().splitlines() == ["a,b", "1,2.5", "3.5,4"]
    write_table(table, np.array([[9.0, 2.5], [3.5, 9.0]]), tmp_path / "t.npy", draws=0)
    assert np.array_equal(np.load(tmp_path / "t.npy"), [[1.0, 2.5], [3.5, 4.0]])
    assert runs.TEMP_PREFIX not in " ".join(p.name for p in tmp_path.iterdir())
