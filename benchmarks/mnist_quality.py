"""Test negative ELBO on grey-level MNIST, vaekit vs the pytorch/examples VAE, same budget.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/mnist_quality.py [--epochs 10]

Setting of pytorch/examples' VAE: the 60,000 MNIST training images with grey values in [0, 1],
784-400-20 MLP, Bernoulli-logits likelihood (cross-entropy with grey targets), Adam 1e-3,
batch 128, 10 epochs; the score is the negative ELBO per test image in nats (one posterior
sample per image, averaged over the 10,000 test images). The reference loop is run beside it
(``--no-reference`` skips it). Also prints the importance-sampled NLL (k=1000) of vaekit's model.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from common import data_dir, machine
from train_speed import ReferenceVAE

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.model.vae import VAE
from vaekit.training.loop import train


def reference(x_train: torch.Tensor, x_test: torch.Tensor, epochs: int) -> float:
    """pytorch/examples' training loop (in memory here: speed is not the point) and test loss."""
    torch.manual_seed(1)
    model = ReferenceVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss(x):
        recon, mu, logvar = model(x)
        bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
        return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    for _ in range(epochs):
        for idx in torch.randperm(len(x_train)).split(128):
            opt.zero_grad()
            loss(x_train[idx]).backward()
            opt.step()
    with torch.no_grad():
        return sum(loss(xb).item() for xb in x_test.split(1000)) / len(x_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    data = load_dataset(DataConfig("mnist", data_dir=str(data_dir()), val_fraction=0.0))
    print(
        f"machine: {machine()}\ndata: MNIST grey, train {len(data.x_train)}, "
        f"test {len(data.x_test)}; 784-400-20, Adam 1e-3, batch 128, {args.epochs} epochs"
    )
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=20, hidden=(400,), likelihood="bernoulli"), data.shape)
    start = time.perf_counter()
    state = train(
        model, data.x_train, None, TrainConfig(epochs=args.epochs, batch_size=128), progress=False
    )
    wall = time.perf_counter() - start
    model.eval()
    torch.manual_seed(0)
    terms = model.elbo(data.x_test)
    nll = -model.log_likelihood(data.x_test, k=1000).mean().item()
    print(
        f"vaekit:    test -ELBO {-terms.elbo.mean().item():.2f} nats "
        f"(log p(x|z) {terms.log_px_z.mean().item():.2f}, KL {terms.kl_z.mean().item():.2f}); "
        f"IS NLL k=1000 {nll:.2f} nats; train {wall:.0f} s "
        f"({sum(r['seconds'] for r in state.history) / args.epochs:.2f} s/epoch)"
    )
    if not args.no_reference:
        print(
            f"reference: test loss {reference(data.x_train, data.x_test, args.epochs):.2f} "
            "nats (pytorch/examples' BCE + KLD per image)"
        )


if __name__ == "__main__":
    main()
