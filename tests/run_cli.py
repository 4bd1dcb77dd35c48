"""The real ``vaekit`` command in a subprocess, for the command-line tests of several packages."""

from __future__ import annotations

import os
import subprocess
import sys


def vaekit(*args: object, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m vaekit ARGS`` on one thread; the finished process, text output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vaekit", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
