"""Importance-sampled test NLL on statically binarized MNIST: the IWAE paper's protocol.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/static_mnist_nll.py \\
        --minutes 120 --k-eval 5000

The one-stochastic-layer model of Burda et al. (2015): 784-200-200-50 with tanh, Bernoulli
likelihood, trained on the 50,000 training images of the static binarization (Larochelle &
Murray), (a) as a VAE (the ELBO), (b) with the IWAE bound at k=5 and (c) at k=50; Adam, batch
100, each model within the same wall-time budget (``--minutes``), keeping the weights with the
best validation ELBO (10,000 validation images). Each is then evaluated with k=5000 importance
samples per image on the 10,000 test images (``--k-eval``, ``--n-test`` for quicker runs).
Published figures on the same data (nats): IWAE paper appendix, one stochastic layer, VAE k=1
88.71 (their k=1 IWAE and VAE coincide), IWAE k=5 87.63, k=50 87.10; pythae's VAE 89.78 and
VampPrior 85.79.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import data_dir, machine

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.evaluate import log_likelihood_estimate, nll_summary
from vaekit.model import VAE
from vaekit.train import LoopState, train

PUBLISHED = (
    "IWAE paper: VAE 88.71, IWAE k=5 87.63, IWAE k=50 87.10; pythae: VAE 89.78, VampPrior 85.79"
)


def budget(minutes: float):
    """A hook that ends training once ``minutes`` of wall time have passed."""
    start = time.perf_counter()

    def hook(state: LoopState) -> None:
        state.stop = state.stop or time.perf_counter() - start > 60 * minutes

    return hook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="training budget per model")
    parser.add_argument("--k-eval", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--ks", default="1,5,50", help="training k of each model")
    args = parser.parse_args()
    data = load_dataset(DataConfig("binarized-mnist", data_dir=str(data_dir())))
    x_test = data.x_test[: args.n_test]
    print(
        f"machine: {machine()}\ndata: static binarized MNIST, train {len(data.x_train)}, "
        f"valid {len(data.x_val)}, test {len(x_test)}; 784-200-200-50 tanh, Adam 1e-3, "
        f"batch 100, {args.minutes:g} min per model, k={args.k_eval} for the test NLL"
    )
    rows = []
    for k in (int(v) for v in args.ks.split(",")):
        torch.manual_seed(0)
        config = ModelConfig(latent_dim=50, hidden=(200, 200), activation="tanh")
        model = VAE(config, data.shape, data.kind)
        start = time.perf_counter()
        state = train(
            model,
            data.x_train,
            data.x_val,
            TrainConfig(epochs=100_000, batch_size=100, k=k, patience=10**9),
            hooks=[budget(args.minutes)],
            progress=False,
        )
        wall = time.perf_counter() - start
        model.eval()
        torch.manual_seed(0)
        start = time.perf_counter()
        est = log_likelihood_estimate(model, x_test, k=args.k_eval)
        summary = nll_summary(est.log_px)
        rows.append(
            (
                k,
                state.epoch,
                wall,
                state.best_epoch,
                -float(est.elbo.mean()),
                summary["nll"],
                summary["nll_stderr"],
                time.perf_counter() - start,
            )
        )
        print(
            f"k={k}: {state.epoch} epochs in {wall / 60:.1f} min (best validation epoch "
            f"{state.best_epoch}); test -ELBO {rows[-1][4]:.2f}, NLL {summary['nll']:.2f} "
            f"± {summary['nll_stderr']:.2f} nats; evaluation {rows[-1][7]:.0f} s",
            flush=True,
        )
    print(f"\n| training | epochs | minutes | test -ELBO | test NLL (k={args.k_eval}) |")
    print("| --- | --- | --- | --- | --- |")
    for k, epochs, wall, _, nelbo, nll, se, _ in rows:
        name = "VAE (ELBO)" if k == 1 else f"IWAE k={k}"
        print(f"| {name} | {epochs} | {wall / 60:.1f} | {nelbo:.2f} | {nll:.2f} ± {se:.2f} |")
    print(f"\npublished on the same data: {PUBLISHED}")


if __name__ == "__main__":
    main()
