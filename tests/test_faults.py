"""Fault injection: a training killed (SIGKILL, SIGINT, SIGTERM) at each write point of its
checkpoints resumes to exactly the uninterrupted result, or refuses with one clear line.

The real CLI runs in warm forked children (run_cli), the uninterrupted reference in a plain
subprocess; ``VAEKIT_FAULT_AT`` (the test hook of :mod:`vaekit.runs`)
makes the process signal itself at the N-th time a file reaches a stage of its atomic write.
The short variant (always on) kills at 9 points; the slow one at all 36 (3 files x 4 stages x
3 epochs), every signal at every file and epoch.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import run_cli
import torch
from safetensors.torch import load_file

from vaekit import runs

TRAIN = ("train", "--dataset", "digits", "--hidden", "8", "--latent-dim", "2", "--epochs", "3")
TRAIN += ("--batch-size", "256", "--quiet")
FILES = (runs.STATE, runs.MODEL, runs.METRICS)  # in the order each epoch writes them
STAGES = ("open", "written", "renamed", "synced")
SIGNALS = ("KILL", "INT", "TERM")
ALL = [
    (file, stage, epoch, SIGNALS[i % 3])
    for i, (epoch, file, stage) in enumerate(itertools.product((1, 2, 3), FILES, STAGES))
]
SHORT = [
    (runs.STATE, "open", 1, "KILL"),  # before any state: nothing to resume, refused
    (runs.STATE, "written", 2, "INT"),
    (runs.STATE, "renamed", 3, "TERM"),  # the last state is saved, its model not yet
    (runs.STATE, "synced", 3, "INT"),
    (runs.MODEL, "open", 3, "KILL"),
    (runs.MODEL, "written", 3, "INT"),
    (runs.MODEL, "renamed", 2, "TERM"),
    (runs.METRICS, "written", 3, "KILL"),
    (runs.METRICS, "synced", 3, "INT"),
]


def vaekit(*args: str, cwd: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    """The command in a warm forked child (run_cli) that signals itself at ``fault``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("VAEKIT_FAULT_AT", None)
    if fault:
        env["VAEKIT_FAULT_AT"] = fault
    return run_cli.vaekit(*args, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run, by a real ``python -m vaekit``: the forked runs must match it."""
    folder = tmp_path_factory.mktemp("faults")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("VAEKIT_FAULT_AT", None)
    command = [sys.executable, "-m", "vaekit", *TRAIN, "--out", "ref"]
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return folder / "ref"


def saved_epoch(file: str, stage: str, epoch: int) -> int:
    """The epoch whose training state is on disk when the kill comes."""
    state_done = file != runs.STATE or stage in ("renamed", "synced")
    return epoch if state_done else epoch - 1


def kill_and_resume(reference: Path, point: tuple[str, str, int, str], folder: Path) -> str:
    """Kill a training at ``point`` in ``folder``, resume it; a description of anything wrong
    ('' if none)."""
    file, stage, epoch, sig = point
    name = f"{file}-{stage}-{epoch}-{sig}"
    killed = vaekit(*TRAIN, "--out", name, cwd=folder, fault=f"{file}:{stage}:{epoch}:{sig}")
    code = {"KILL": -signal.SIGKILL, "TERM": -signal.SIGTERM, "INT": 130}[sig]
    if killed.returncode != code:
        return f"{name}: exit {killed.returncode}, expected {code}: {killed.stderr[-300:]}"
    saved = saved_epoch(file, stage, epoch)
    if sig == "INT":  # the Ctrl-C message names the epoch that is really saved
        want = f"epoch {saved} is saved" if saved else "no epoch was saved"
        if want not in killed.stderr:
            return f"{name}: the message {killed.stderr.strip()!r} does not say {want!r}"
    resumed = vaekit("train", "--resume", "--out", name, "--quiet", cwd=folder)
    if saved == 0:  # nothing to resume: refused, one line, exit 2
        lines = resumed.stderr.strip().splitlines()
        ok = resumed.returncode == 2 and len(lines) == 1 and "nothing to resume" in lines[0]
        return "" if ok else f"{name}: not refused cleanly: {resumed.stderr[-300:]}"
    if resumed.returncode != 0:
        return f"{name}: resume failed: {resumed.stderr[-300:]}"
    return differences(reference, folder / name, name)


def differences(reference: Path, run: Path, name: str) -> str:
    want, got = (load_file(str(r / runs.MODEL)) for r in (reference, run))
    if want.keys() != got.keys() or not all(torch.equal(want[k], got[k]) for k in want):
        return f"{name}: the resumed weights differ from the uninterrupted run's"
    histories = [runs.RunFolder(r).history() for r in (reference, run)]
    for h in histories:
        for record in h:
            record.pop("seconds")
    if histories[0] != histories[1]:
        return f"{name}: the resumed metrics differ: {json.dumps(histories[1])[:200]}"
    leftovers = list(run.glob(f"{runs.TEMP_PREFIX}*"))
    return f"{name}: temp files left: {leftovers}" if leftovers else ""


def check(reference: Path, points: list[tuple[str, str, int, str]], folder: Path) -> None:
    with ThreadPoolExecutor(2) as pool:  # two subprocesses at a time
        done = pool.map(lambda q: kill_and_resume(reference, q, folder), points)
        problems = [p for p in done if p]
    assert not problems, "\n".join(problems)


def test_short_variant_kills_at_nine_points_of_every_file(reference: Path, tmp_path: Path) -> None:
    assert {p[0] for p in SHORT} == set(FILES) and {p[3] for p in SHORT} == set(SIGNALS)
    check(reference, SHORT, tmp_path)


@pytest.mark.slow
def test_every_write_point_of_every_epoch_with_every_signal(
    reference: Path, tmp_path: Path
) -> None:
    assert len(ALL) == 36 and {(f, s) for f, _, _, s in ALL} == set(
        itertools.product(FILES, SIGNALS)
    )
    check(reference, ALL, tmp_path)
