"""A reader that closes the pipe early (``vaekit evaluate RUN --out F | head -1``) neither fails
the command nor loses its files (a real interpreter: the pipe is its standard output)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import vaekit

pytestmark = pytest.mark.slow


def test_a_closed_stdout_still_writes_the_output_file(tmp_path) -> None:
    run = tmp_path / "run"
    vaekit.fit("digits", vaekit.ModelConfig(hidden=(8,)), vaekit.TrainConfig(epochs=1), out=run)
    out = tmp_path / "evaluation.json"
    command = [sys.executable, "-m", "vaekit", "evaluate", run, "--k", "2", "--no-probes"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*map(str, command), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command prints anything: every print meets a closed pipe
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(120) == 0, stderr
    assert "error" not in stderr and out.is_file()
