"""Fixtures of the data tests: the offline dataset copies and a local HTTP server.

No test here touches the real network: an autouse fixture points every mirror at a closed port
on 127.0.0.1, and download tests serve files from a server on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vaekit.data import download

SHARED = Path(__file__).resolve().parents[2] / "../shared/data"
STALL_HEADERS = "stall-before-headers"  # route value: accept, then send nothing
STALL_BODY = "stall-in-body"  # route value: promise 1000 bytes, then send nothing


ENV_DATA_DIR = os.environ.get("VAEKIT_DATA_DIR")  # read before no_network removes it


def _shared_dir(sub: str) -> Path:
    for root in ([Path(ENV_DATA_DIR)] if ENV_DATA_DIR else []) + [SHARED]:
        if (root / sub).is_dir():
            return root.resolve()
    pytest.skip(f"offline copy of {sub}/ not found (set VAEKIT_DATA_DIR to ../shared/data)")


@pytest.fixture
def shared_dir() -> Callable[[str], Path]:
    """``shared_dir("mnist")``: the folder of offline copies holding ``mnist/``, else skip.

    Looked up in $VAEKIT_DATA_DIR, then ../shared/data beside the repository.
    """
    return _shared_dir


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mirror refuses connections unless a test points it at its local server."""
    url = closed_port_url()
    monkeypatch.setattr(download, "MIRRORS", {name: [url] for name in download.FILES})
    monkeypatch.setattr(download, "TIMEOUT_S", 2.0)
    monkeypatch.delenv("VAEKIT_DATA_DIR", raising=False)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = self.server.routes.get(self.path.lstrip("/"))
        self.server.hits.append(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
        elif body == STALL_HEADERS:
            self.server.release.wait(10)
        elif body == STALL_BODY:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            self.server.release.wait(10)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, bytes | str]
    hits: list[str]
    release: threading.Event


class LocalServers:
    """``servers(routes)`` -> base URL of a server on 127.0.0.1 answering ``GET /<route>``.

    A route's value is the file's bytes, or STALL_HEADERS / STALL_BODY for a server that hangs.
    ``hits`` lists the paths requested from every server started.
    """

    STALL_HEADERS = STALL_HEADERS
    STALL_BODY = STALL_BODY

    def __init__(self) -> None:
        self.hits: list[str] = []
        self._running: list[tuple[_Server, threading.Thread]] = []

    def __call__(self, routes: dict[str, bytes | str]) -> str:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.routes, server.hits, server.release = routes, self.hits, threading.Event()
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        self._running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    def close(self) -> None:
        for server, thread in self._running:
            server.release.set()
            server.shutdown()
            server.server_close()
            thread.join(5)


@pytest.fixture
def serve() -> Iterator[LocalServers]:
    """Start local HTTP servers; all are shut down after the test."""
    servers = LocalServers()
    yield servers
    servers.close()
