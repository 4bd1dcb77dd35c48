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

``--models`` lists the models as PRIOR:K (``normal:1,vampprior:1,normal:5,vampprior:5``
compares the standard prior with the VampPrior, ``--components`` pseudo-inputs, under ELBO and
IWAE k=5 training); ``--dreg`` trains k > 1 with the DReG gradient; ``--lr-decay F`` lowers the
learning rate exponentially in wall time, by F over the budget; ``--device cuda`` trains on a GPU.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import data_dir, machine

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.evaluation.evaluate import log_likelihood_estimate, nll_summary
from vaekit.model.vae import VAE
from vaekit.training import checkpoint
from vaekit.training.loop import LoopState, train

PUBLISHED = (
    "IWAE paper: VAE 88.71, IWAE k=5 87.63, IWAE k=50 87.10; pythae: VAE 89.78, VampPrior 85.79"
)


def budget(minutes: float):
    """A hook that ends training once ``minutes`` of wall time have passed."""
    start = time.perf_counter()

    def hook(state: LoopState) -> None:
        state.stop = state.stop or time.perf_counter() - start > 60 * minutes

    return hook


def lr_decay(lr: float, factor: float, minutes: float):
    """A hook that sets the learning rate to lr * factor ** -(elapsed / budget) after each epoch."""
    start = time.perf_counter()

    def hook(state: LoopState) -> None:
        done = min(1.0, (time.perf_counter() - start) / (60 * minutes))
        for group in state.optimizer.param_groups:
            group["lr"] = lr * factor**-done

    return hook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="training budget per model")
    parser.add_argument("--k-eval", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--models", default="normal:1,normal:5,normal:50", help="PRIOR:K,...")
    parser.add_argument("--components", type=int, default=500, help="VampPrior pseudo-inputs")
    parser.add_argument("--dreg", action="store_true", help="DReG gradients for k > 1")
    parser.add_argument("--lr-decay", type=float, default=1.0, help="lr decay over the budget")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the table's rows to this JSON file")
    parser.add_argument("--save", help="save each trained model here as PRIOR_K.safetensors")
    args = parser.parse_args()
    data = load_dataset(DataConfig("binarized-mnist", data_dir=str(data_dir())))
    x_test = data.x_test[: args.n_test]
    print(
        f"machine: {machine()}\ndata: static binarized MNIST, train {len(data.x_train)}, "
        f"valid {len(data.x_val)}, test {len(x_test)}; 784-200-200-50 tanh, Adam 1e-3, "
        f"batch 100, {args.minutes:g} min per model, k={args.k_eval} for the test NLL, "
        f"device {args.device}, lr decay {args.lr_decay:g}x over the budget"
        + (", DReG" if args.dreg else "")
    )
    rows = []
    for spec in args.models.split(","):
        prior, k = spec.split(":")[0], int(spec.split(":")[1])
        torch.manual_seed(0)
        config = ModelConfig(
            latent_dim=50,
            hidden=(200, 200),
            activation="tanh",
            prior=prior,
            components=args.components,
            likelihood="bernoulli",  # binary data; explicit, as in the published figures
        )
        model = VAE(config, data.shape, data.kind).to(args.device)
        train_config = TrainConfig(
            epochs=100_000,
            batch_size=100,
            k=k,
            dreg=args.dreg and k > 1,
            patience=10**9,
            device=args.device,
        )
        hooks = [budget(args.minutes)]
        if args.lr_decay != 1.0:
            hooks.append(lr_decay(train_config.lr, args.lr_decay, args.minutes))
        start = time.perf_counter()
        x_train, x_val = data.x_train.to(args.device), data.x_val.to(args.device)
        state = train(model, x_train, x_val, train_config, hooks=hooks, progress=False)
        wall = time.perf_counter() - start
        model.eval()
        if args.save:
            path = checkpoint.save_model(model, f"{args.save}/{spec.replace(':', '_')}.safetensors")
            print(f"{spec}: saved {path} (best validation epoch {state.best_epoch})", flush=True)
        torch.manual_seed(0)
        start = time.perf_counter()
        est = log_likelihood_estimate(model, x_test.to(args.device), k=args.k_eval)
        summary = nll_summary(est.log_px)
        rows.append(
            (
                spec,
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
            f"{spec}: {state.epoch} epochs in {wall / 60:.1f} min (best validation epoch "
            f"{state.best_epoch}); test -ELBO {rows[-1][4]:.2f}, NLL {summary['nll']:.2f} "
            f"± {summary['nll_stderr']:.2f} nats; evaluation {rows[-1][7]:.0f} s",
            flush=True,
        )
    print(f"\n| prior | training | epochs | minutes | test -ELBO | test NLL (k={args.k_eval}) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for spec, epochs, wall, _, nelbo, nll, se, _ in rows:
        prior, k = spec.split(":")[0], int(spec.split(":")[1])
        name = "ELBO" if k == 1 else f"IWAE k={k}" + (" (DReG)" if args.dreg else "")
        print(
            f"| {prior} | {name} | {epochs} | {wall / 60:.1f} | {nelbo:.2f} | "
            f"{nll:.2f} ± {se:.2f} |"
        )
    if args.json:
        keys = ("model", "epochs", "seconds", "best_epoch", "neg_elbo", "nll", "nll_stderr")
        with open(args.json, "w") as f:
            json.dump([dict(zip(keys, r[:7], strict=True)) for r in rows], f, indent=1)
    print(f"\npublished on the same data: {PUBLISHED}")


if __name__ == "__main__":
    main()
