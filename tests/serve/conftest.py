"""Fixtures of the explorer's tests: two tiny digits runs (2-D and 5-D latents), their
explorers, an in-process client and a live server on 127.0.0.1 in a background thread.

The web packages are the ``serve`` extra: without them these tests are skipped, not failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import vaekit
from vaekit.config import ModelConfig, TrainConfig

pytest.importorskip("fastapi", reason="vaekit serve needs the serve extra")
pytest.importorskip("uvicorn", reason="vaekit serve needs the serve extra")


def train_run(folder: Path, latent_dim: int) -> Path:
    vaekit.fit(
        "digits",
        ModelConfig(latent_dim=latent_dim, hidden=(32,)),
        TrainConfig(epochs=2, batch_size=256),
        out=folder,
        progress=False,
    )
    return folder


@pytest.fixture(scope="session")
def run2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(tmp_path_factory.mktemp("serve") / "run2", 2)


@pytest.fixture(scope="session")
def run5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(tmp_path_factory.mktemp("serve") / "run5", 5)


@pytest.fixture(scope="session")
def explorer2(run2: Path):
    from vaekit.serve.explorer import Explorer

    return Explorer.open(run2)


@pytest.fixture(scope="session")
def explorer5(run5: Path):
    from vaekit.serve.explorer import Explorer

    return Explorer.open(run5)


@pytest.fixture(scope="session")
def client(explorer2):
    from fastapi.testclient import TestClient

    from vaekit.serve.app import create_app

    return TestClient(create_app(explorer2), base_url="http://127.0.0.1")


@pytest.fixture(scope="session")
def live_url(explorer5) -> Iterator[str]:
    """The URL of a live uvicorn server of the 5-D run on a free port of 127.0.0.1."""
    import uvicorn

    from vaekit.serve.app import bind, create_app

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(explorer5), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()
