"""A conv VAE with a VampPrior on static binarized MNIST, trained for bits-back compression.

    VAEKIT_DATA_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/static_mnist_conv.py --out runs/static-conv

The bits-back rate is the model's -ELBO (not its NLL), so this model is trained on the ELBO:
strided conv encoder/decoder (32 and 64 channels, a dense layer of 512), latent 32, a VampPrior
of ``--components`` pseudo-inputs, Bernoulli likelihood; Adam 1e-3 falling exponentially to 1e-4
over ``--epochs`` epochs, batch 100, KL warm-up over ``--warmup`` epochs, early stopping on the
10,000 validation images (patience 8, the best validation ELBO kept), seed 0. Data: the 50,000
training images of the static binarization (Larochelle & Murray). The run folder ``--out`` is
what ``benchmarks/compress.py --model`` reads; the script prints the test -ELBO (5 samples per
image, all 10,000 test images).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import data_dir, lr_decay, machine

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.training.hooks import LoopState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--prior", default="vampprior")
    parser.add_argument("--components", type=int, default=50)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", required=True, help="the run folder to write")
    args = parser.parse_args()
    data = load_dataset(DataConfig("binarized-mnist", data_dir=str(data_dir())))
    print(f"machine: {machine()}\ndata: {data.describe()}", flush=True)
    model_config = ModelConfig(
        latent_dim=args.latent_dim,
        network="conv",
        channels=(32, 64),
        hidden=(512,),
        prior=args.prior,
        components=args.components,
    )

    def show(state: LoopState) -> None:  # a progress line per epoch
        print(state.history[-1], flush=True)

    train_config = TrainConfig(
        epochs=args.epochs, batch_size=100, lr=1e-3, patience=8, warmup=args.warmup
    )
    start = time.perf_counter()
    model = api.fit(
        data,
        model_config,
        train_config,
        progress=False,
        hooks=[lr_decay(1e-3, 10, args.epochs), show],
        out=args.out,
    )
    seconds = time.perf_counter() - start
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model.elbo(data.x_test).elbo for _ in range(5)]).mean()
    print(json.dumps({**vars(args), "train_s": seconds, "test_neg_elbo": -float(elbo)}))


if __name__ == "__main__":
    main()
