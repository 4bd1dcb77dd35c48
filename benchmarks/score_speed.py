"""Seconds to score the first ``--n`` test images of a run with one method (default: regret),
batched, on ``--threads`` CPU threads: wall-clock and process CPU time, in one go.

    python benchmarks/score_speed.py runs/ood-mnist --n 10000 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from common import data_dir, machine

import vaekit
from vaekit.data import DataConfig, load_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--method", default="regret")
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    os.environ.setdefault("VAEKIT_DATA_DIR", str(data_dir()))
    torch.set_num_threads(args.threads)
    print(machine(), flush=True)
    model = vaekit.load(args.run)
    x = load_dataset(DataConfig(dataset=vaekit.api.read_config(args.run)["data"].dataset)).x_test
    x = x[: args.n]
    wall, cpu = time.perf_counter(), time.process_time()
    s = model.score(x, args.method, args.k)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{args.method} on {len(s)} images of {tuple(model.shape)}: {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU ({args.threads} threads, load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
