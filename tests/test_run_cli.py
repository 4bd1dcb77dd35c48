"""The test harness run_cli: a command in a warm forked child behaves as ``python -m vaekit``
(same output, exit status and environment) and a hung one is killed at its time-out."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import run_cli

pytestmark = pytest.mark.slow  # one real interpreter start per comparison


def real(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vaekit", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    "args",
    [("--help",), ("info", "no-such-run"), ("train", "--epochs", "two"), ("nonsense",)],
    ids=["help", "missing run", "bad value", "unknown command"],
)
def test_a_forked_command_matches_the_real_one(args: tuple[str, ...], tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1", "COLUMNS": "90"}
    env["VAEKIT_DATA_DIR"] = str(tmp_path)
    want, got = real(*args, env=env), run_cli.vaekit(*args, env=env)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
    assert 0 < got.maxrss_kib < 1 << 21  # KiB: the child's own peak, under 2 GB


def test_the_environment_and_folder_are_the_requests(tmp_path) -> None:
    env = {**os.environ, "VAEKIT_DATA_DIR": str(tmp_path / "nowhere")}
    done = run_cli.vaekit("train", "--dataset", "mnist", "--no-download", cwd=tmp_path, env=env)
    assert done.returncode == 2 and str(tmp_path / "nowhere") in done.stderr


def test_a_hung_command_is_killed_at_its_time_out(tmp_path) -> None:
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli.vaekit("train", "--epochs", "100000", "--out", tmp_path / "run", timeout=3)
    assert time.monotonic() - start < 30
    done = run_cli.vaekit("info", "no-such-run")  # the zygote still serves
    assert done.returncode == 2
