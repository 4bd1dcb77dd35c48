"""Make the README's pictures from a real MNIST run: samples and the 2-D latent map.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python scripts/readme_figures.py

Trains a VAE with a 2-D latent on MNIST (dynamically binarized, 784-400-2, 30 epochs; a few
minutes on 2 CPU cores) through the public API, keeps the run folder (config, metrics,
checkpoint, report.html) in ``runs/readme-mnist``, and writes ``docs/mnist_samples.png`` and
``docs/mnist_latent_map.png``. Nothing here is drawn by hand: rerun it to regenerate them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from vaekit import api, plots, report
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset

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
    args = parser.parse_args()
    data_dir = os.environ.get("VAEKIT_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    torch.set_num_threads(min(2, torch.get_num_threads()))

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

    args.docs.mkdir(parents=True, exist_ok=True)
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
