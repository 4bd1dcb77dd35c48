"""fp32 against bf16 training: epoch time and test ELBO on grey-level MNIST, side by side.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/precision.py [--epochs 10]
        [--threads 2] [--precisions fp32,bf16] [--device cpu]

Setting of benchmarks/mnist_quality.py: the 60,000 MNIST training images, 784-400-20 MLP,
Bernoulli likelihood, Adam 1e-3, batch 128, the same seed for every precision. Per precision:
the median and mean seconds per epoch of the training steps, and the test ELBO (nats per image,
one posterior sample each, evaluated in fp32). The precisions train one after the other, so on a
shared machine the load may change between them: compare the median and minimum epoch.
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
from vaekit.training.loop import train


def bf16_flags() -> str:
    """The bfloat16 flags of this CPU (from /proc/cpuinfo), or 'none'."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    found = sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})
    return ", ".join(found) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DataConfig("mnist", data_dir=str(data_dir()), val_fraction=0.0))
    print(
        f"machine: {machine()}; bf16 flags: {bf16_flags()}; device {args.device}\n"
        f"data: MNIST grey, train {len(data.x_train)}, test {len(data.x_test)}; "
        f"784-400-20, Adam 1e-3, batch 128, {args.epochs} epochs",
        flush=True,
    )
    for p in args.precisions.split(","):
        torch.manual_seed(0)
        model = VAE(ModelConfig(latent_dim=20, hidden=(400,)), data.shape, data.kind)
        model = model.to(args.device)
        config = TrainConfig(epochs=args.epochs, batch_size=128, precision=p, device=args.device)
        start = time.perf_counter()
        state = train(model, data.x_train, None, config, progress=False)
        wall = time.perf_counter() - start
        model.eval()
        torch.manual_seed(0)
        terms = model.elbo(data.x_test)
        seconds = [r["seconds"] for r in state.history]
        print(
            f"{p}: test ELBO {terms.elbo.mean().item():.2f} nats "
            f"(log p(x|z) {terms.log_px_z.mean().item():.2f}, KL {terms.kl_z.mean().item():.2f}); "
            f"epoch median {statistics.median(seconds):.2f} s, mean {statistics.mean(seconds):.2f}"
            f" s, min {min(seconds):.2f} s; wall {wall:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
