"""What torch's per-call optimizer wrapper costs a small model's step, and what vaekit saves.

    .venv/bin/python benchmarks/optimizer_overhead.py [--rounds 50]

The 784-400-20 MNIST VAE's training step (batch 128, random binary images of MNIST's shape; the
speed does not depend on the values), run two ways in one process, in short blocks in shuffled
order: with ``Adam.update`` and its lean ``zero_grad``, as ``vaekit.training.loop`` steps, and with
``torch.optim.Optimizer``'s wrapped ``step()`` and its ``zero_grad`` (profiler labels, hooks; the
arithmetic is the same). Prints the median milliseconds per step of each and the median of the
per-round ratios.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import torch
from common import machine, median

from vaekit._fast import fpenv
from vaekit._fast.optim import Adam
from vaekit.config import ModelConfig
from vaekit.model.vae import VAE

B, H, L = 128, 400, 20


def make_step(lean: bool) -> Callable[[torch.Tensor], None]:
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=L, hidden=(H,), likelihood="bernoulli"), (1, 28, 28))
    optimizer = Adam(model.parameters(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        t = model(x, 1.0, 1, eps=torch.randn(len(x), L))
        loss = -t.objective.sum() / len(x)
        if lean:
            optimizer.zero_grad()
        else:
            torch.optim.Optimizer.zero_grad(optimizer, set_to_none=True)
        loss.backward()
        optimizer.update() if lean else optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--steps", type=int, default=40, help="steps per block")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    x = torch.rand(60000, 1, 28, 28).round()  # (N, 1, 28, 28)
    perm = torch.randperm(len(x))
    batches = [x.index_select(0, idx) for idx in perm.split(B)[: len(x) // B]]
    ms: dict[str, list[float]] = {"vaekit (update)": [], "torch (step)": []}
    with fpenv.flush_denormals():  # as vaekit.training.loop runs
        steps = {"vaekit (update)": make_step(True), "torch (step)": make_step(False)}
        for name in ms:
            for xb in batches[:20]:
                steps[name](xb)
        for r in range(args.rounds):
            order = list(ms)
            random.Random(r).shuffle(order)
            for name in order:
                start = time.perf_counter()
                for i in range(args.steps):
                    steps[name](batches[(r * args.steps + i) % len(batches)])
                ms[name].append((time.perf_counter() - start) / args.steps * 1e3)
    for name, values in ms.items():
        print(f"  {name:16s} {median(values):.3f} ms per step")
    ratios = [a / b for a, b in zip(ms["vaekit (update)"], ms["torch (step)"], strict=True)]
    print(f"vaekit / torch per round, median: {median(ratios):.3f}")


if __name__ == "__main__":
    main()
