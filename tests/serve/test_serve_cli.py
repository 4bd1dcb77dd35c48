"""``vaekit serve`` run for real in a subprocess: it serves, warns when asked to listen beyond
this machine, refuses Host headers naming other servers, and fails in one line on a busy port or
without the serve extra."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx2")

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser: `make test-fast` skips them

from vaekit.cli import build_parser  # noqa: E402
from vaekit.serve.app import bind  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


def vaekit(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vaekit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def test_serve_defaults_to_this_machine_only() -> None:
    args = build_parser().parse_args(["serve", "RUN"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)


def test_serve_serves_the_run_and_warns_off_loopback(run2: Path) -> None:
    with bind("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
    proc = vaekit("serve", str(run2), "--host", "0.0.0.0", "--port", str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                card = httpx.get(f"http://127.0.0.1:{port}/api/card", timeout=5).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.2)
        assert card["latent_dim"] == 2
        url = f"http://127.0.0.1:{port}/api/card"
        for host, status in (("evil.example", 400), (f"0.0.0.0:{port}", 200), ("10.1.2.3", 200)):
            assert httpx.get(url, headers={"Host": host}, timeout=5).status_code == status, host
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=20)
    assert f"http://0.0.0.0:{port}/" in stdout
    assert "vaekit: warning: serving on 0.0.0.0" in stderr


def test_serve_on_a_busy_port_is_one_line(run2: Path) -> None:
    with bind("127.0.0.1", 0) as sock:
        port = str(sock.getsockname()[1])
        proc = vaekit("serve", str(run2), "--port", port)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert stderr.strip().splitlines() == ["vaekit: error: Address already in use"]


def test_serve_without_the_extra_says_how_to_install_it(run2: Path) -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; from vaekit.cli import main; "
        f"sys.exit(main(['serve', {str(run2)!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "vaekit: error: vaekit serve needs the web packages (fastapi is missing): "
        "pip install 'vaekit[serve]'"
    ]
