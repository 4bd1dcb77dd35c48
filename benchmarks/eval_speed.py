"""How close the k=5000 importance-sampled evaluation comes to its fp32 compute floor.

The IWAE paper's one-stochastic-layer model (784-200-200-50, tanh; untrained: the cost does not
depend on the weights) evaluates statically binarized MNIST's test set with k=5000. The floor is
the time torch.mm needs for the FLOPs of the matmuls the evaluation runs, at the exact shapes it
runs them (the encoder once per example, the decoder on chunk * batch rows, k times per example),
each shape timed on its own (best of repeats). The ratio measured / floor is the figure of merit;
everything else (sampling, tanh, the Bernoulli log-likelihood, log-sum-exp) is overhead.

    VAEKIT_DATA_DIR=../shared/data python benchmarks/eval_speed.py --n 2048

On a machine shared with other jobs, ``--threads 1 --clock cpu`` times this process's own CPU
seconds, for evaluation and floor alike. ``--n`` times a random subset of the 10k test set; the
full-set time is extrapolated linearly (the work per example is fixed). ``--fast-tanh`` swaps
nn.Tanh for 2 sigmoid(2x) - 1 (the same function, a faster kernel in eager PyTorch) to size that
change.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter

import torch
from torch import Tensor, nn

from vaekit.config import ModelConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.model.estimate import chunk_size, importance_sample
from vaekit.model.vae import VAE

Shape = tuple[int, int, int]  # (rows, inner, cols) of one torch.mm
clock = time.perf_counter  # --clock cpu: time.process_time, robust on a shared machine


class FastTanh(nn.Module):
    """tanh(x) = 2 sigmoid(2x) - 1 (eager torch's tanh kernel is several times slower)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(2 * x).mul_(2).sub_(1)


def linears(net: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]


def matmul_shapes(model: VAE, n: int, k: int, batch_size: int) -> Counter[Shape]:
    """How many times the evaluation of n examples runs each matmul shape."""
    shapes: Counter[Shape] = Counter()
    width = max([784, *model.config.hidden])  # as importance_sample sizes its chunks
    for b in [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else []):
        for i, o in linears(model.encoder):
            shapes[(b, i, o)] += 1
        chunk = chunk_size(k, b, width)
        for start in range(0, k, chunk):
            for i, o in linears(model.decoder):
                shapes[(min(chunk, k - start) * b, i, o)] += 1
    return shapes


def mm_gflops(shape: Shape, repeats: int = 7, min_time: float = 0.05) -> float:
    """Best-of-``repeats`` torch.mm throughput at ``shape``, GFLOP/s (fp32)."""
    m, i, o = shape
    a, b = torch.randn(m, i), torch.randn(i, o)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        reps, start = 0, clock()
        while (elapsed := clock() - start) < min_time:
            torch.mm(a, b)
            reps += 1
        best = min(best, elapsed / reps)
    return 2 * m * i * o / best / 1e9


def floor_seconds(shapes: Counter[Shape]) -> tuple[float, float, dict[Shape, float]]:
    """(floor time in s, total GFLOP, GFLOP/s per shape) for the matmuls in ``shapes``."""
    rates = {s: mm_gflops(s) for s in shapes}
    gflop = sum(c * 2 * s[0] * s[1] * s[2] / 1e9 for s, c in shapes.items())
    seconds = sum(c * 2 * s[0] * s[1] * s[2] / 1e9 / rates[s] for s, c in shapes.items())
    return seconds, gflop, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="test examples to time")
    parser.add_argument("--k", type=int, default=5000, help="importance samples per example")
    parser.add_argument("--batch-size", type=int, default=256, help="examples per batch")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or this process's CPU time (with --threads 1 on a busy machine)",
    )
    parser.add_argument("--fast-tanh", action="store_true", help="tanh as 2 sigmoid(2x) - 1")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.manual_seed(0)

    data = load_dataset(DataConfig("binarized-mnist"))
    idx = torch.randperm(len(data.x_test))[: args.n]
    x = data.x_test[idx]  # (n, 1, 28, 28) in {0, 1}
    config = ModelConfig(
        latent_dim=50, hidden=(200, 200), activation="tanh", likelihood="bernoulli"
    )
    model = VAE(config, data.shape, data.kind).eval()
    if args.fast_tanh:
        for net in (model.encoder.net, model.decoder.net):
            for j, layer in enumerate(net):
                if isinstance(layer, nn.Tanh):
                    net[j] = FastTanh()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} clock, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"model 784-200-200-50 tanh{' (fast tanh)' if args.fast_tanh else ''}, "
        f"Bernoulli; {len(x)} static-binarized MNIST test examples, k={args.k}, "
        f"batch {args.batch_size}, chunk {chunk_size(args.k, args.batch_size, 784)} samples"
    )

    importance_sample(model, x[:8], k=64)  # warm-up
    start = clock()
    for xb in x.split(args.batch_size):
        importance_sample(model, xb, args.k)
    measured = clock() - start

    shapes = matmul_shapes(model, len(x), args.k, args.batch_size)
    floor, gflop, rates = floor_seconds(shapes)
    for (m, i, o), rate in sorted(rates.items()):
        print(
            f"  torch.mm ({m:>6} x {i:>3}) @ ({i:>3} x {o:>3}): {rate:6.1f} GFLOP/s, "
            f"{shapes[(m, i, o)]} calls"
        )
    scale = len(data.x_test) / len(x)
    print(
        f"matmul work {gflop:.0f} GFLOP; floor {floor:.1f} s; measured {measured:.1f} s "
        f"({gflop / measured:.0f} GFLOP/s effective)"
    )
    print(f"ratio measured / floor: {measured / floor:.2f}")
    print(
        f"full 10k test set (extrapolated x{scale:.2f}): {measured * scale:.0f} s measured, "
        f"{floor * scale:.0f} s floor"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
