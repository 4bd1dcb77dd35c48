"""Benchmark: a bounded load test of ``vaekit serve`` on 127.0.0.1.

Starts ``vaekit serve RUN`` in a subprocess on a free port, sends ``--requests`` decode requests
(one random z each) from ``--clients`` concurrent clients (one keep-alive connection each), and
prints p50/p99 latency and throughput. Any error (a non-200 answer or a failed connection) makes
the run fail. Run from the repository root:

    .venv/bin/python benchmarks/serve_load.py [--run RUN] [--requests 2000] [--clients 8]

Without ``--run`` it first trains the model it serves: MNIST (784-400-20, one epoch; the offline
copies are found via $VAEKIT_DATA_DIR, else ../shared/data). The clients share the machine's
cores with the server, so the figures are for both on one machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]  # seconds, one per successful request

    def summary(self) -> str:
        ms = sorted(1000 * t for t in self.latencies)
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else float("nan")
        return (
            f"{self.requests} requests, {self.errors} errors, {self.seconds:.2f} s: "
            f"{self.requests / self.seconds:.0f} requests/s, "
            f"p50 {statistics.median(ms) if ms else float('nan'):.1f} ms, p99 {p99:.1f} ms"
        )


def load(url: str, requests: int, clients: int, latent_dim: int, seed: int = 0) -> Result:
    """Send ``requests`` POST /api/decode (one z (1, L) each) from ``clients`` threads."""
    z = np.random.default_rng(seed).normal(size=(requests, 1, latent_dim)).tolist()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for k in range(i, requests, clients):
                start = time.perf_counter()
                try:
                    response = http.post("/api/decode", json={"z": z[k]})
                    ok = response.status_code == 200 and len(response.json()["x"]) == 1
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies[i].append(time.perf_counter() - start)
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return Result(requests, sum(errors), seconds, [t for ts in latencies for t in ts])


def free_port() -> int:
    from vaekit.serve.app import bind

    with bind("127.0.0.1", 0) as sock:
        return sock.getsockname()[1]


def train_mnist(out: Path) -> Path:
    from common import data_dir

    import vaekit

    config = vaekit.DataConfig(dataset="mnist", data_dir=str(data_dir()))
    vaekit.fit(
        config,
        vaekit.ModelConfig(latent_dim=20, hidden=(400,), likelihood="bernoulli"),
        vaekit.TrainConfig(epochs=1),
        out=out,
        progress=False,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run folder to serve (default: train MNIST)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    from common import machine

    from vaekit.api import read_config

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train_mnist(Path(tmp) / "mnist")
        latent_dim = read_config(run)["model"].latent_dim
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "vaekit", "serve", str(run), "--port", str(port)],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/api/card", timeout=5).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit("the server did not start")
                    time.sleep(0.2)
            load(url, 50, args.clients, latent_dim)  # warm-up, not counted
            result = load(url, args.requests, args.clients, latent_dim)
        finally:
            server.terminate()
            server.wait(10)
    print(f"machine: {machine()}")
    print(f"model: {run} ({latent_dim}-D latent); {args.clients} concurrent clients")
    print(result.summary())
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
