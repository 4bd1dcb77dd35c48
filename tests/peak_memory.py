"""The peak memory of a command, measured right: a small launcher forks it and reports its maxrss.

Linux charges a forked child with the resident size its parent had at the fork (``ru_maxrss``
survives ``exec``), so a command started straight from pytest, which grows to about 1 GB over
the whole suite, would report pytest's size whatever it did. The launcher is a fresh small
Python process: the command it forks reports its own peak.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

LAUNCHER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


def measured(command: list[str], report: Path) -> list[str]:
    """``command`` (its first item a path to an executable) run by the launcher, which writes
    the command's peak resident size (KiB) to ``report`` and exits with its exit status. Start
    it with ``start_new_session=True`` so :func:`kill` ends both."""
    return [sys.executable, "-c", LAUNCHER, str(report), *command]


def kill(pid: int) -> None:
    """Kill the launcher ``pid`` and the command it started (its process group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def peak_kib(report: Path) -> int:
    """The peak resident size the launcher reported, KiB (0 when it was killed first)."""
    try:
        return int(report.read_text())
    except (OSError, ValueError):
        return 0
