"""The live server under concurrent load: a small version of benchmarks/serve_load.py (no
errors allowed), and seeded samples that stay the same however requests interleave."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx2")

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser: `make test-fast` skips them

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def test_200_decodes_from_8_clients_without_errors(live_url: str) -> None:
    spec = importlib.util.spec_from_file_location("serve_load", BENCHMARK)
    serve_load = importlib.util.module_from_spec(spec)
    sys.modules["serve_load"] = serve_load  # its dataclass looks itself up there
    spec.loader.exec_module(serve_load)
    result = serve_load.load(live_url, requests=200, clients=8, latent_dim=5)
    assert result.errors == 0 and len(result.latencies) == 200
    assert "200 requests, 0 errors" in result.summary()


def test_concurrent_seeded_samples_are_repeatable(live_url: str) -> None:
    def draw(seed: int) -> list:
        body = {"n": 4, "seed": seed}
        return httpx.post(live_url + "/api/sample", json=body, timeout=30).json()["x"]

    expected = {seed: draw(seed) for seed in range(4)}
    got: dict[int, list[list]] = {i: [] for i in range(8)}

    def client(i: int) -> None:  # no assert here: a thread's AssertionError never reaches pytest
        for _ in range(5):
            got[i].append(draw(i % 4))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for i, draws in got.items():
        assert len(draws) == 5, f"client {i} stopped after {len(draws)} of 5 draws"
        for k, x in enumerate(draws):
            assert x == expected[i % 4], f"client {i}, draw {k}: not the seed's samples"
