"""fp32 against bf16 training on grey-level MNIST: step speed and test ELBO, side by side.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/precision.py [--epochs 10]
        [--rounds 5] [--steps 100] [--threads 1] [--precisions fp32,bf16] [--device cpu]

Setting of benchmarks/mnist_quality.py: 784-400-20 MLP, Bernoulli likelihood, Adam 1e-3, batch
128, through vaekit's own training loop.

1. Speed, robust to a shared machine's drifting load: ``--rounds`` interleaved rounds; in each,
   every precision trains one epoch over the first ``--steps`` batches of MNIST and reports the
   seconds of its training steps (wall) and the process's CPU seconds of the whole call (which,
   with one thread, counts the work and not the waits of a crowded machine). Printed: every
   round, the medians per precision and the medians of the per-round ratios to the first.
2. Quality: per precision, a fresh model (same seed) trained ``--epochs`` epochs on the 60,000
   training images (each epoch's seconds printed as it ends), then the test ELBO (nats per image,
   one posterior sample each, evaluated in fp32 for every precision).

Prints whether the CPU multiplies bfloat16 natively (its avx512_bf16, amx_bf16 flags).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from common import data_dir, machine

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.model.vae import VAE
from vaekit.training.loop import LoopState, train


def bf16_flags() -> str:
    """The bfloat16 flags of this CPU (from /proc/cpuinfo), or 'none'."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    return ", ".join(sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})) or "none"


def model_for(data, device: str) -> VAE:
    torch.manual_seed(0)
    return VAE(ModelConfig(latent_dim=20, hidden=(400,)), data.shape, data.kind).to(device)


def speed(data, precisions: list[str], rounds: int, steps: int, device: str) -> None:
    x = data.x_train[: steps * 128]
    models = {p: model_for(data, device) for p in precisions}
    wall: dict[str, list[float]] = {p: [] for p in precisions}
    cpu: dict[str, list[float]] = {p: [] for p in precisions}
    for r in range(rounds + 1):  # round 0 warms up (allocations, oneDNN's kernel choice)
        for p in precisions:
            config = TrainConfig(epochs=1, batch_size=128, precision=p, device=device)
            start = time.process_time()
            seconds = train(models[p], x, None, config, progress=False).history[-1]["seconds"]
            if r:
                wall[p].append(seconds)
                cpu[p].append(time.process_time() - start)
        if r:
            print(
                f"round {r}: "
                + ", ".join(
                    f"{p} {wall[p][-1]:.2f} s (cpu {cpu[p][-1]:.2f} s)" for p in precisions
                ),
                flush=True,
            )
    base = precisions[0]
    for p in precisions:
        ratio = statistics.median(a / b for a, b in zip(wall[p], wall[base], strict=True))
        ratio_cpu = statistics.median(a / b for a, b in zip(cpu[p], cpu[base], strict=True))
        print(
            f"speed {p}: median {statistics.median(wall[p]):.2f} s wall, "
            f"{statistics.median(cpu[p]):.2f} s cpu per {steps} steps; median ratio to {base}: "
            f"{ratio:.3f} wall, {ratio_cpu:.3f} cpu",
            flush=True,
        )


def quality(data, p: str, epochs: int, device: str) -> None:
    model = model_for(data, device)
    config = TrainConfig(epochs=epochs, batch_size=128, precision=p, device=device)

    def show(state: LoopState) -> None:
        r = state.history[-1]
        print(f"  {p} epoch {r['epoch']}: train ELBO {r['train_elbo']:.2f}, {r['seconds']:.1f} s")

    state = train(model, data.x_train, None, config, hooks=[show], progress=False)
    model.eval()
    torch.manual_seed(0)
    terms = model.elbo(data.x_test)
    seconds = [r["seconds"] for r in state.history]
    print(
        f"quality {p}: test ELBO {terms.elbo.mean().item():.2f} nats "
        f"(log p(x|z) {terms.log_px_z.mean().item():.2f}, KL {terms.kl_z.mean().item():.2f}) "
        f"after {epochs} epochs; epoch median {statistics.median(seconds):.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DataConfig("mnist", data_dir=str(data_dir()), val_fraction=0.0))
    precisions = args.precisions.split(",")
    print(
        f"machine: {machine()}; bf16 flags: {bf16_flags()}; device {args.device}\n"
        f"data: MNIST grey, train {len(data.x_train)}, test {len(data.x_test)}; "
        f"784-400-20, Adam 1e-3, batch 128",
        flush=True,
    )
    start = time.perf_counter()
    speed(data, precisions, args.rounds, args.steps, args.device)
    for p in precisions:
        quality(data, p, args.epochs, args.device)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
