"""Imputation error of VAEImputer (MIWAE) beside scikit-learn's imputers, in one run.

Tables: scikit-learn's built-in iris, wine, diabetes, breast_cancer and digits (64 features),
standardised with the complete data's column means and deviations (constant columns: scale 1);
50% of the entries removed completely at random; every imputer fits on the incomplete table and
fills it (as in Mattei & Frellsen 2019). Score: RMSE over the removed entries, standardised
units, mean and standard deviation over 5 seeds (the seed draws the holes and seeds the models).
The VAE takes 2000 gradient steps on every table (``--steps``).

MNIST: the first ``--mnist-rows`` training images, 50% of the pixels removed at random, RMSE on
the removed pixels in pixel units [0, 1] (``--mnist-seeds`` seeds; no IterativeImputer, too slow
at 784 features); needs $VAEKIT_DATA_DIR.

    OMP_NUM_THREADS=1 python benchmarks/imputation.py
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from common import data_dir, machine
from sklearn import datasets
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from vaekit.data import DataConfig, load_dataset
from vaekit.sklearn import VAEImputer

TABLES = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "diabetes": datasets.load_diabetes,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}
STEPS = 2000  #: gradient steps of the VAE on every table (epochs = STEPS / batches per epoch)


def vae_imputer(x: np.ndarray, seed: int, steps: int, **kw: object) -> VAEImputer:
    """MIWAE as the paper sets it up for tables: tanh MLPs of 128 units, k = 20, batch 64."""
    n, d = x.shape
    epochs = math.ceil(steps / math.ceil(n / 64))
    options = {"latent_dim": max(1, min(10, d - 1)), "hidden": (128, 128)} | kw
    return VAEImputer(epochs=epochs, batch_size=64, k=20, random_state=seed, **options)


def imputers(x: np.ndarray, seed: int, steps: int, **vae: object) -> dict[str, object]:
    """The four imputers; IterativeImputer only up to 100 features (one regression per feature
    and round: hours on MNIST's 784)."""
    iterative = {"iterative": IterativeImputer(max_iter=10, random_state=seed)}
    return {
        "mean": SimpleImputer(),
        "knn": KNNImputer(),
        **(iterative if x.shape[1] <= 100 else {}),
        "vae": vae_imputer(x, seed, steps, **vae),
    }


def remove(x: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    out = x.copy()
    out[np.random.default_rng(seed).random(x.shape) < fraction] = np.nan
    return out


def run(name: str, x: np.ndarray, seeds: int, steps: int, **vae: object) -> dict[str, list]:
    """RMSE on the removed entries per imputer, one value per seed, and the seconds taken."""
    errors: dict[str, list] = {}
    for seed in range(seeds):
        x_miss = remove(x, 0.5, seed)
        miss = np.isnan(x_miss)
        for label, imputer in imputers(x, seed, steps, **vae).items():
            start = time.perf_counter()
            filled = imputer.fit_transform(x_miss)
            seconds = time.perf_counter() - start
            rmse = float(np.sqrt(((filled - x)[miss] ** 2).mean()))
            errors.setdefault(label, []).append((rmse, seconds))
        print(name, seed, {k: round(v[-1][0], 4) for k, v in errors.items()}, flush=True)
    return errors


def row(name: str, errors: dict[str, list]) -> str:
    cells = []
    sklearn = [k for k in ("mean", "knn", "iterative") if k in errors]
    best_sklearn = min(np.mean([e for e, _ in errors[k]]) for k in sklearn)
    for label in ("mean", "knn", "iterative", "vae"):
        if label not in errors:
            cells.append("not run")
            continue
        values = np.array([e for e, _ in errors[label]])
        text = f"{values.mean():.3f} ± {values.std():.3f}"
        if label == "vae" and values.mean() < best_sklearn:
            text = f"**{text}**"
        cells.append(text)
    seconds = np.mean([s for _, s in errors["vae"]])
    return f"| {name} | " + " | ".join(cells) + f" | {seconds:.0f} s |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--mnist-rows", type=int, default=1000, help="0: skip MNIST")
    parser.add_argument("--mnist-seeds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine())
    header = "| data | mean | KNN | iterative | VAEImputer | VAE fit + impute |"
    lines = [header, "|---|---|---|---|---|---|"]
    for name in filter(None, args.tables.split(",")):
        x = TABLES[name]().data.astype(np.float64)
        scale = x.std(0)
        x = (x - x.mean(0)) / np.where(scale > 0, scale, 1.0)
        lines.append(row(name, run(name, x, args.seeds, args.steps)))
        print("\n".join(lines), flush=True)
    if args.mnist_rows:
        mnist = load_dataset(DataConfig("mnist", data_dir=str(data_dir()), download=False))
        x = mnist.x_train[: args.mnist_rows].reshape(args.mnist_rows, -1).double().numpy()
        errors = run("mnist", x, args.mnist_seeds, args.steps, latent_dim=20, hidden=(256, 256))
        lines.append(row(f"MNIST ({args.mnist_rows} images)", errors))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
