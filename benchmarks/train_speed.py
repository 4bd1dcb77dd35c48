"""Seconds per MNIST epoch: vaekit's trainer vs a pytorch/examples-style loop vs the compute floor.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/train_speed.py [--rounds 5]

Model 784-400-20 (MLP), Bernoulli-logits likelihood, Adam 1e-3, batch 128, the 60,000 MNIST
training images. Each round times, interleaved:
  (a) vaekit: ``vaekit.training.loop`` (in-memory fast path), the ``seconds`` of its epoch record;
  (b) reference: the loop of pytorch/examples' VAE (a shuffled DataLoader over a Dataset that
      converts each uint8 image to a float tensor per item, sigmoid + BCE(sum) + KL);
  (c) floor: measured fp32 torch.mm time at every matmul shape of the epoch (forward + backward);
  (d) oneDNN floor: the same products through oneDNN, the GEMM vaekit's layers use on CPUs that
      are not Intel's (``vaekit._fast.kernels``), for transparency: where oneDNN beats torch.mm, (c)
      can be beaten by the choice of kernel alone;
  (e) GEMM + Adam bound: a loop that runs only the step's matmuls (torch.mm, preallocated
      outputs, batches taken from the data in turn) and the fused Adam update: a lower bound on
      any fp32 Adam trainer's epoch, against which (c) is the bare arithmetic.
Reports medians over rounds (after ``--warmup`` uncounted rounds) and the ratios to the floor (c).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import data_dir, floor_seconds, gemm_adam_seconds, machine, median, mlp_step_matmuls
from torch import nn

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.model.vae import VAE
from vaekit.training.loop import train

B, H, L = 128, 400, 20


class ReferenceVAE(nn.Module):
    """pytorch/examples' VAE, as written there."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, H), nn.Linear(H, L), nn.Linear(H, L)
        self.fc3, self.fc4 = nn.Linear(L, H), nn.Linear(H, 784)

    def forward(self, x):
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


class PerItemImages(torch.utils.data.Dataset):
    """Like torchvision's MNIST + ToTensor: one uint8 image -> float tensor per item."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.images[i]).float().div(255).unsqueeze(0), 0


def reference_epoch(images: np.ndarray) -> float:
    model = ReferenceVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(PerItemImages(images), batch_size=B, shuffle=True)
    start = time.perf_counter()
    for x, _ in loader:
        recon, mu, logvar = model(x)
        bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        opt.zero_grad()
        (bce + kld).backward()
        opt.step()
    return time.perf_counter() - start


def vaekit_epoch(x: torch.Tensor) -> float:
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=L, hidden=(H,), likelihood="bernoulli"), tuple(x.shape[1:]))
    state = train(model, x, None, TrainConfig(epochs=1, batch_size=B), progress=False)
    return state.history[-1]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--warmup", type=int, default=1, help="rounds run first and not counted (one-time costs)"
    )
    args = parser.parse_args()
    data = load_dataset(DataConfig("mnist", data_dir=str(data_dir()), val_fraction=0.0))
    x = data.x_train  # (60000, 1, 28, 28) in [0, 1]
    images = (x * 255).round().to(torch.uint8).squeeze(1).numpy()
    steps = math.ceil(len(x) / B)
    shapes = mlp_step_matmuls([784, H, 2 * L], B) + mlp_step_matmuls([L, H, 784], B)
    print(f"machine: {machine()}\ndata: MNIST train, {len(x)} images; model 784-{H}-{L}, batch {B}")
    nets = [[784, H, 2 * L], [L, H, 784]]
    rows: dict[str, list[float]] = {
        "vaekit": [],
        "reference": [],
        "floor": [],
        "onednn floor": [],
        "gemm+adam": [],
    }
    for _ in range(args.warmup):
        floor_seconds(shapes, onednn=True)
        vaekit_epoch(x)
        reference_epoch(images)
        gemm_adam_seconds(nets, x, B)
    for r in range(args.rounds):
        rows["floor"].append(floor_seconds(shapes) * steps)
        rows["vaekit"].append(vaekit_epoch(x))
        rows["gemm+adam"].append(gemm_adam_seconds(nets, x, B, steps=steps) * steps)
        rows["reference"].append(reference_epoch(images))
        rows["onednn floor"].append(floor_seconds(shapes, onednn=True) * steps)
        print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()))
    floor = median(rows["floor"])
    print("\nmedian seconds per epoch (ratio to the compute floor):")
    for name, values in rows.items():
        print(f"  {name:12s} {median(values):6.2f} s  ({median(values) / floor:.2f}x)")
    ratios = [v / f for v, f in zip(rows["vaekit"], rows["floor"], strict=True)]
    print(f"vaekit / floor per round: {', '.join(f'{q:.2f}' for q in ratios)}")
    dnnl = [v / f for v, f in zip(rows["vaekit"], rows["onednn floor"], strict=True)]
    print(f"vaekit / oneDNN floor per round: {', '.join(f'{q:.2f}' for q in dnnl)}")
    bound = [b / f for b, f in zip(rows["gemm+adam"], rows["floor"], strict=True)]
    print(f"GEMM + Adam bound / floor per round: {', '.join(f'{q:.2f}' for q in bound)}")


if __name__ == "__main__":
    main()
