"""The real ``vaekit`` command, started warm: a zygote process imports torch and vaekit's CLI
once, then forks one child per command, which runs ``vaekit.cli.main(argv)`` as
``python -m vaekit ARGS`` would (its own session, working folder, environment, standard
streams, exit status, ``atexit`` hooks) without paying the ~2 s of imports each time.

The zygote never runs a torch operation (no thread pool exists to break at the fork) and checks
that it has one thread when it forks. :func:`vaekit` has the interface of ``subprocess.run``
(``capture_output=True, text=True``) plus the child's peak resident size. Tests that need the
interpreter start itself (``--devices`` under torchrun, a server) still use ``subprocess``.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: what every command imports; the zygote pays for it once
PRELOAD = ("torch", "numpy", "vaekit.cli", "vaekit.cli.commands", "vaekit.cli.train")
PRELOAD += ("vaekit.api", "vaekit.viz.plots", "sklearn.datasets", "safetensors.torch")


class Finished(subprocess.CompletedProcess):
    """A finished command: ``returncode`` (negative: killed by that signal), ``stdout``,
    ``stderr`` (text) and ``maxrss_kib``, the child's peak resident size (which counts the
    zygote's imports it shares, as a real ``python -m vaekit`` would hold them too)."""

    def __init__(self, args: list[str], code: int, out: str, err: str, maxrss_kib: int) -> None:
        super().__init__(args, code, out, err)
        self.maxrss_kib = maxrss_kib


class _Slot:
    def __init__(self) -> None:
        self.started, self.done = threading.Event(), threading.Event()
        self.pid, self.code, self.maxrss, self.reported = 0, 0, 0, False


class _Client:
    """The pytest side: one zygote, any number of threads calling :meth:`run` at once."""

    def __init__(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            start_new_session=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if json.loads(ready or b"{}").get("ready") is not True:
            self.log.seek(0)
            raise RuntimeError(f"the zygote did not start: {self.log.read().decode()[-2000:]}")
        self.lock, self.slots, self.next_id = threading.Lock(), dict[int, _Slot](), 0
        self.alive = True
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            slot = self.slots[message["id"]]
            if "pid" in message:
                slot.pid = message["pid"]
                slot.started.set()
            else:
                slot.code, slot.maxrss, slot.reported = message["code"], message["maxrss"], True
                slot.done.set()
        self.alive = False
        for slot in list(self.slots.values()):  # the zygote died: wake every caller
            slot.started.set(), slot.done.set()

    def run(self, argv: list[str], request: dict[str, Any], timeout: float) -> _Slot:
        with self.lock:
            self.next_id += 1
            ident, slot = self.next_id, _Slot()
            self.slots[ident] = slot
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"id": ident, "argv": argv, **request}).encode())
            self.proc.stdin.write(b"\n")
            self.proc.stdin.flush()
        if not slot.done.wait(timeout):
            slot.started.wait()
            if slot.pid > 0:  # never 0: that would be this process group
                kill(slot.pid)
            slot.done.wait()
            raise subprocess.TimeoutExpired(["vaekit", *argv], timeout)
        del self.slots[ident]
        if not slot.reported:
            self.log.seek(0)
            raise RuntimeError(f"the zygote died: {self.log.read().decode()[-2000:]}")
        return slot

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(60)


_client: _Client | None = None
_start = threading.Lock()


def client() -> _Client:
    global _client
    with _start:
        if _client is None or not _client.alive:
            _client = _Client()
            atexit.register(_client.close)
        return _client


def kill(pid: int) -> None:
    """Kill a child and whatever it started (its own session)."""
    for send in (os.killpg, os.kill):
        try:
            send(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def vaekit(
    *args: object,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 300,
) -> Finished:
    """Run ``vaekit ARGS`` in a warm forked child (one thread, no colour by default); ``env``
    replaces the environment as in ``subprocess.run``."""
    argv = [str(a) for a in args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"} if env is None else env
    with tempfile.TemporaryDirectory(prefix="vaekit-cli-") as tmp:
        streams = {name: str(Path(tmp, name)) for name in ("stdin", "stdout", "stderr")}
        Path(streams["stdin"]).write_text(input or "")
        request = {"cwd": str(cwd or os.getcwd()), "env": dict(env), **streams}
        slot = client().run(argv, request, timeout)
        out, err = (Path(streams[n]).read_text(errors="replace") for n in ("stdout", "stderr"))
    return Finished(["vaekit", *argv], slot.code, out, err, slot.maxrss)


# -- the zygote ------------------------------------------------------------------------------
def _serve() -> dict[str, Any]:
    """Import, then fork one child per request line; report each child's pid and end. Returns
    the request in a child; exits at the end of input."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0), os.dup2(null, 1)  # a stray print cannot break the protocol
    os.close(null)

    def reply(message: dict[str, Any]) -> None:
        os.write(replies, json.dumps(message).encode() + b"\n")

    reply({"ready": True})
    children: dict[int, int] = {}
    buffer = b""
    while True:
        readable, _, _ = select.select([requests], [], [], 0.01 if children else None)
        if readable:
            chunk = os.read(requests, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                threads = len(os.listdir("/proc/self/task"))
                assert threads == 1, f"the zygote has {threads} threads: forking is unsafe"
                pid = os.fork()
                if pid == 0:
                    os.close(requests), os.close(replies)
                    return request
                children[pid] = request["id"]
                reply({"id": request["id"], "pid": pid})
        while children:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            code = os.waitstatus_to_exitcode(status)
            reply({"id": children.pop(pid), "code": code, "maxrss": usage.ru_maxrss})
    for pid in children:
        os.waitpid(pid, 0)
    raise SystemExit(0)


def _child(request: dict[str, Any]) -> None:
    """Become ``python -m vaekit ARGV`` as the request describes."""
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        flags = os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        opened = os.open(request[name], flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import torch

    from vaekit import __main__ as entry
    from vaekit.cli import main

    threads = int(os.environ.get("OMP_NUM_THREADS") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    sys.argv = [entry.__file__, *request["argv"]]
    try:
        code: object = main(request["argv"])
    except SystemExit as stop:  # argparse's errors and --help
        code = stop.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    _exit(code or 0)


def _exit(code: int) -> None:
    """End as the interpreter would (threads joined, ``atexit`` hooks, streams flushed) but
    without tearing down every module, which costs torch half a second."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    _child(_serve())
