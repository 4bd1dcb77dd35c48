"""The corruption suite through the real command: ``vaekit train --dataset DAMAGED`` must exit 2
with exactly one ``vaekit: error:`` line naming the file, no traceback, within a deadline and
under 1 GB of peak memory (each child's own maxrss, from wait4).

A representative subset of test_data_hostile.py's files, run two at a time in warm forked
children (run_cli): a short set of one file of each kind always, the rest marked slow. Data of
+-3e38 must train and write its report (its histogram used to fail).
"""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import run_cli
from hostile_files import (
    EPS,
    Builder,
    claiming,
    csv_text,
    folder_with,
    npy_of,
    npz,
    png_claiming,
    spread_beyond_float32,
    with_value,
    write,
)
from test_data_hostile import CASES

DEADLINE_S = 120  # per case
PARALLEL = 2
GIB = 2**30
pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, SIGALRM, wait4: POSIX")

SHORT = [  # always run: one of each kind of input
    "npy-claims-1e12",
    "png-bomb-100000",
    "fifo-named-png",
    "csv-utf16",
    "cli-eps-named-png",
    "cli-spread-beyond-float32",
]
LONG = [  # marked slow
    "npy-truncated-data",
    "npz-header-claims-1e12",
    "npz-crc-mismatch",
    "csv-nan-cell",
    "values-1e300",
    "link-loop",
    "cli-npy-1e12-f8",
    "cli-minus-1e39",
    "cli-png-over-limit",
    "cli-npz-text-member",
    "cli-csv-ragged",
]
EXTRA: list[tuple[str, Builder, str]] = [
    ("cli-npy-1e12-f8", write("x.npy", claiming((10**12,), "<f8")), "truncated"),
    ("cli-spread-beyond-float32", npy_of("x.npy", spread_beyond_float32()), "standardized"),
    ("cli-minus-1e39", npy_of("x.npy", with_value(-1e39)), "float32"),
    ("cli-eps-named-png", folder_with("1.png", EPS), "none of PNG"),
    ("cli-png-over-limit", folder_with("1.png", png_claiming(9000, 9000)), "2\\^26"),
    ("cli-npz-text-member", npz("x.npz", {"a.txt": b"hi"}), "not an .npy array"),
    ("cli-csv-ragged", csv_text("1,2,3\n4,5\n"), "line 2 has 2 columns"),
]
BY_NAME = {c[0]: c for c in CASES + EXTRA}


def command(path: Path, out: Path) -> list[str]:
    return ["train", "--dataset", str(path), "--epochs", "1", "--hidden", "8"] + [
        *("--batch-size", "16", "--out", str(out), "--quiet")
    ]


def run_one(argv: list[str]) -> tuple[int | None, str, int]:
    """(exit status, stderr, maxrss bytes) of ``vaekit ARGV`` in a warm forked child; a command
    still running after DEADLINE_S is killed and reported with status None."""
    try:
        done = run_cli.vaekit(*argv, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        return None, "", 0
    return done.returncode, done.stderr, done.maxrss_kib * 1024  # Linux: KiB


def run_all(commands: dict[str, list[str]]) -> dict[str, tuple[int | None, str, int]]:
    """Run the commands, PARALLEL at a time: ``{name: (exit status, stderr, maxrss bytes)}``."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(commands, pool.map(run_one, commands.values()), strict=True))


def run_cases(names: list[str], folder: Path, plus_3e38: bool = False) -> dict:
    """``{name: (exit status, stderr, maxrss bytes, path given)}`` of the named cases."""
    paths, commands = {}, {}
    for name in names:
        (folder / name).mkdir()
        paths[name] = BY_NAME[name][1](folder / name)
        commands[name] = command(paths[name], folder / name / "run")
    if plus_3e38:
        x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
        x[:, 0] = np.where(x[:, 0] > 0, 3e38, -3e38)
        np.save(folder / "pm3e38.npy", x)
        paths["pm3e38"] = folder / "pm3e38.npy"
        commands["pm3e38"] = command(paths["pm3e38"], folder / "pm3e38_run")
    return {name: (*found, paths[name]) for name, found in run_all(commands).items()}


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_cases(SHORT, tmp_path_factory.mktemp("hostile_cli"), plus_3e38=True)


@pytest.fixture(scope="module")
def long(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_cases(LONG, tmp_path_factory.mktemp("hostile_cli_long"))


def check_one_error_line(found: tuple, case: str) -> None:
    code, stderr, maxrss, path = found
    assert code is not None, f"{case}: still running after {DEADLINE_S} s"
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error: "), stderr
    assert "Traceback" not in stderr and "a bug in vaekit" not in stderr, stderr
    assert path.name in lines[0], lines[0]
    assert re.search(BY_NAME[case][2], lines[0]), lines[0]
    assert maxrss < GIB, f"{case}: peak memory {maxrss / GIB:.2f} GiB"


@pytest.mark.parametrize("case", SHORT)
def test_the_command_gives_one_error_line(short: dict, case: str) -> None:
    check_one_error_line(short[case], case)


@pytest.mark.slow
@pytest.mark.parametrize("case", LONG)
def test_the_command_gives_one_error_line_long(long: dict, case: str) -> None:
    check_one_error_line(long[case], case)


def test_data_of_plus_minus_3e38_trains_and_reports(short: dict) -> None:
    """The report's histogram used to fail on samples that overflow to inf (exit 1)."""
    code, stderr, maxrss, path = short["pm3e38"]
    assert code == 0, stderr
    assert (path.parent / "pm3e38_run" / "report.html").is_file()
    assert maxrss < GIB
