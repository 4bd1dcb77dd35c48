"""Make the README's pictures from real MNIST runs: samples, the 2-D latent map, and
class-conditional samples.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python scripts/readme_figures.py [--what conditional]

Trains a VAE with a 2-D latent on MNIST (dynamically binarized, 784-400-2, 30 epochs; a few
minutes on 2 CPU cores) through the public API, keeps the run folder (config, metrics,
checkpoint, report.html) in ``runs/readme-mnist``, and writes ``docs/mnist_samples.png`` and
``docs/mnist_latent_map.png``. The conditional picture, ``docs/mnist_conditional.png``, comes
from a convolutional conditional VAE (the default model of ``benchmarks/conditional_mnist.py``,
grey MNIST, 30 epochs; ``--device cuda`` for a GPU): one row of samples per requested digit.
Nothing here is drawn by hand: rerun it to regenerate them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.viz import plots, report

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default: 30)")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "runs" / "readme-mnist",
        help="run folder (default: runs/readme-mnist)",
    )
    parser.add_argument(
        "--docs", type=Path, default=ROOT / "docs", help="where the pictures go (default: docs/)"
    )
    parser.add_argument("--what", choices=("all", "plain", "conditional"), default="all")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data_dir = os.environ.get("VAEKIT_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    args.docs.mkdir(parents=True, exist_ok=True)
    if args.what in ("all", "conditional"):
        conditional_figure(data_dir, args.docs, args.device)
    if args.what in ("all", "plain"):
        plain_figures(data_dir, args)


def conditional_figure(data_dir: str, docs: Path, device: str) -> None:
    data_config = DataConfig(dataset="mnist", data_dir=data_dir, download=False)
    data = load_dataset(data_config)
    config = ModelConfig(
        latent_dim=16, hidden=(256,), network="conv", conditional=True, likelihood="bernoulli"
    )
    start = time.perf_counter()
    model = api.fit(data, config, TrainConfig(epochs=30, seed=0, device=device), progress=False)
    print(f"conditional VAE: 30 epochs in {(time.perf_counter() - start) / 60:.1f} min")
    y = torch.arange(10).repeat_interleave(10)  # (100,): ten of each digit
    fig = plots.images_figure(
        model.sample(100, seed=0, y=y), "Conditional VAE: row d asks for the digit d", ncols=10
    )
    plots.save_figure(fig, docs / "mnist_conditional.png")
    print(f"wrote {docs / 'mnist_conditional.png'}")


def plain_figures(data_dir: str, args: argparse.Namespace) -> None:

    data_config = DataConfig(dataset="mnist", data_dir=data_dir, binarize=True, download=False)
    data = load_dataset(data_config)
    start = time.perf_counter()
    model = api.fit(
        data,
        ModelConfig(latent_dim=2, hidden=(400,)),
        TrainConfig(epochs=args.epochs, batch_size=128, lr=1e-3, seed=0),
        data_config=data_config,
        out=args.out,
    )
    minutes = (time.perf_counter() - start) / 60
    last = model.history[-1]
    print(f"trained {last['epoch']} epochs in {minutes:.1f} min: val ELBO {last['val_elbo']:.2f}")
    report.write_report(model, data, args.out)

    samples = model.sample(100, seed=0)  # (100, 1, 28, 28)
    fig = plots.images_figure(samples, "MNIST: 100 samples from a 2-D latent VAE", ncols=10)
    plots.save_figure(fig, args.docs / "mnist_samples.png")
    x, y = data.x_test[:5000], data.y_test[:5000]
    fig = plots.latent_map_figure(model.encode(x), y, data.classes)
    fig.axes[0].set_title(f"MNIST test set: latent means of {len(x)} digits (2-D latent)")
    plots.save_figure(fig, args.docs / "mnist_latent_map.png")
    print(f"wrote {args.docs / 'mnist_samples.png'} and {args.docs / 'mnist_latent_map.png'}")


if __name__ == "__main__":
    main()
