"""Seconds per MNIST epoch on one GPU: vaekit's trainer beside pytorch/examples' step loop.

    VAEKIT_DATA_DIR=../shared/data python benchmarks/gpu_epoch.py [--epochs 6] [--device cuda]

The MNIST benchmark model of ``train_speed.py`` (784-400-20 MLP, Bernoulli-logits likelihood,
Adam 1e-3, batch 128, the 60,000 grey training images), with the data held on the GPU:
  (a) vaekit: ``vaekit.train`` on the device, the ``seconds`` of each epoch record, with
      each full step replayed as a CUDA graph (the default) and with eager steps;
  (b) reference: pytorch/examples' model and loss (sigmoid + BCE(sum) + KL), batched by index
      from the same on-device tensor (its DataLoader would only add host-side work).
Prints the median over the epochs after the first (which includes CUDA start-up).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import data_dir, machine
from train_speed import ReferenceVAE

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.model.vae import VAE
from vaekit.training.loop import train


def reference_epochs(x: torch.Tensor, epochs: int) -> list[float]:
    torch.manual_seed(1)
    model = ReferenceVAE().to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for idx in torch.randperm(len(x), device=x.device).split(128):
            xb = x[idx]
            recon, mu, logvar = model(xb)
            bce = F.binary_cross_entropy(recon, xb.view(-1, 784), reduction="sum")
            loss = bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    data = load_dataset(DataConfig("mnist", data_dir=str(data_dir()), val_fraction=0.0))
    x = data.x_train.to(args.device)
    print(f"machine: {machine()}; device {torch.cuda.get_device_name(args.device)}")
    rows = {}
    for name, graph in (("vaekit, CUDA graph", True), ("vaekit, eager", False)):
        torch.manual_seed(0)
        config = ModelConfig(latent_dim=20, hidden=(400,), likelihood="bernoulli")
        model = VAE(config, data.shape, data.kind).to(args.device)
        train_config = TrainConfig(
            epochs=args.epochs, batch_size=128, device=args.device, cuda_graph=graph
        )
        state = train(model, x, None, train_config, progress=False)
        rows[name] = [r["seconds"] for r in state.history]
        print(f"{name}: final train ELBO {state.history[-1]['train_elbo']:.2f} nats")
    rows["reference (pytorch/examples)"] = reference_epochs(x, args.epochs)
    for name, times in rows.items():
        print(
            f"{name:30s} s/epoch: {statistics.median(times[1:]):.3f}  "
            f"(all: {', '.join(f'{t:.3f}' for t in times)})"
        )


if __name__ == "__main__":
    main()
