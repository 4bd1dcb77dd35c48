"""Class-conditional MNIST samples, judged by a digit classifier trained here.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/conditional_mnist.py [--device cuda]

A conditional VAE (by default convolutional: channels 32, 64, a dense layer of 256, a 16-D latent,
conditioned on the one-hot digit; ``--latent-dim``, ``--hidden``, ``--network mlp`` change it),
Bernoulli likelihood on grey MNIST, Adam 1e-3, batch 128, 30 epochs, is trained on the 60,000
training images. A separate classifier (784-256-256-10 MLP,
10 epochs, Adam) is trained on the same images and checked on the 10,000 test images.
Then the VAE draws ``--per-class`` samples of each digit (decoder means for
z ~ N(0, I) and the requested label) and the classifier says which digit each one shows: the
score is how often it agrees with the requested digit (target >= 90%).
"""

from __future__ import annotations

import argparse
import time

import torch
from common import data_dir, machine
from torch import nn

from vaekit.api import build
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.training.loop import train


def classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 10) -> nn.Module:
    """A small MLP digit classifier trained on images x (N, 1, 28, 28) in [0, 1]."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(x[0].numel(), 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    ).to(x.device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(128):
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((net(x).argmax(1) == y).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--hidden", default="256", help="comma-separated hidden sizes")
    parser.add_argument("--network", default="conv", choices=("mlp", "conv"))
    parser.add_argument("--eager", action="store_true", help="no CUDA graphs on a GPU")
    args = parser.parse_args()
    data = load_dataset(DataConfig("mnist", data_dir=str(data_dir()), val_fraction=0.0))
    print(
        f"machine: {machine()}, device {args.device}\ndata: grey MNIST, train "
        f"{len(data.x_train)}, test {len(data.x_test)}"
    )
    start = time.perf_counter()
    x_train, y_train = data.x_train.to(args.device), data.y_train.to(args.device)
    x_test, y_test = data.x_test.to(args.device), data.y_test.to(args.device)
    net = classifier(x_train, y_train)
    test_acc = accuracy(net, x_test, y_test)
    print(f"classifier: test accuracy {test_acc:.4f} ({time.perf_counter() - start:.0f} s)")

    torch.manual_seed(0)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    config = ModelConfig(
        latent_dim=args.latent_dim,
        hidden=hidden,
        network=args.network,
        conditional=True,
        likelihood="bernoulli",  # the published figures it compares with are Bernoulli
    )
    print(f"model: {config}")
    model = build(config, data, args.device)
    start = time.perf_counter()
    train(
        model,
        x_train,
        None,
        TrainConfig(
            epochs=args.epochs, batch_size=128, device=args.device, cuda_graph=not args.eager
        ),
        y_train=y_train,
        progress=False,
    )
    model.eval()
    elbo = float(model.elbo(x_test, y=y_test).elbo.mean())
    print(
        f"conditional VAE: {args.epochs} epochs in {time.perf_counter() - start:.0f} s; "
        f"test ELBO log p(x|y) >= {elbo:.2f} nats"
    )
    rows = []
    for digit in range(10):
        x = model.sample(args.per_class, seed=digit, y=digit)  # (n, 1, 28, 28)
        rows.append(accuracy(net, x, torch.full((len(x),), digit, device=x.device)))
    print("\n| requested digit | " + " | ".join(map(str, range(10))) + " | all |")
    print("| --- " * 12 + "|")
    overall = sum(rows) / len(rows)
    print(
        "| classifier agrees | "
        + " | ".join(f"{100 * a:.1f}%" for a in rows)
        + f" | **{100 * overall:.1f}%** |"
    )


if __name__ == "__main__":
    main()
