"""Seconds per MNIST epoch over several epochs, with and without flushing subnormals to zero.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/denormals.py [--epochs 6]

The setting of ``train_speed.py`` (784-400-20, Adam 1e-3, batch 128, the 60,000 MNIST training
images), trained for ``--epochs`` epochs twice, in fresh processes, alternately: once as vaekit
trains (subnormals flushed on every thread, :mod:`vaekit._fast.fpenv`) and once with
``VAEKIT_FLUSH_DENORMALS=0`` (IEEE gradual underflow). Adam's moments of rarely-nonzero
gradients decay into the subnormal range after the first few hundred steps, so the difference
shows from the second epoch on. Prints each epoch's seconds and the final train ELBO of both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import data_dir, machine, median

RUN = """
import json, sys, torch
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.model.vae import VAE
from vaekit.training.loop import train
x = load_dataset(DataConfig("mnist", data_dir=sys.argv[1], val_fraction=0.0)).x_train
torch.manual_seed(0)
model = VAE(ModelConfig(latent_dim=20, hidden=(400,), likelihood="bernoulli"), tuple(x.shape[1:]))
state = train(model, x, None, TrainConfig(epochs=int(sys.argv[2]), batch_size=128), progress=False)
print(json.dumps([[h["seconds"], h["train_elbo"]] for h in state.history]))
"""


def run(flush: bool, epochs: int) -> list[list[float]]:
    env = {**os.environ, "VAEKIT_FLUSH_DENORMALS": "1" if flush else "0"}
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(data_dir().resolve()), str(epochs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {machine()}\ndata: MNIST train, 784-400-20, batch 128, {args.epochs} epochs")
    later: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.rounds):
        for flush in (True, False):
            history = run(flush, args.epochs)
            seconds = [s for s, _ in history]
            later[flush] += seconds[1:]
            print(
                f"round {r + 1}, {'flushed' if flush else 'gradual'}: epochs "
                + " ".join(f"{s:.2f}" for s in seconds)
                + f" s; final train ELBO {history[-1][1]:.4f}"
            )
    on, off = median(later[True]), median(later[False])
    print(f"median of epochs 2-{args.epochs}: flushed {on:.2f} s, gradual {off:.2f} s", end=" ")
    print(f"({off / on:.2f}x)")


if __name__ == "__main__":
    main()
