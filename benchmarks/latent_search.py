"""How many latent dimensions for MNIST? Cross-validated held-out ELBO, and a linear probe.

    VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/latent_search.py \\
        [--n-train 10000] [--epochs 10] [--folds 3] [--latent-dims 2,5,10,20,50]

Setting: grey MNIST (values in [0, 1], Bernoulli likelihood), the first ``--n-train`` images of
the training split, 784-400-L MLPs, Adam 1e-3, batch 128. For each latent size L, ``vaekit
search`` (GridSearchCV, ``--folds`` folds, fits in parallel, one torch thread each) gives the
held-out ELBO, mean ± std over folds, in nats per image. Then one VAE per L is trained on all
``--n-train`` images and scored on the 10,000 official test images (ELBO), and the probes of
:mod:`vaekit.evaluation.probes` (a logistic regression on standardized features, and 5 nearest
neighbours)
are trained on its latent means and tested on the test images', beside the same probes on PCA
with L components.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

from common import data_dir, machine
from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone
from sklearn.decomposition import PCA

from vaekit.data import DataConfig, load_dataset
from vaekit.evaluation import probes
from vaekit.search import search
from vaekit.sklearn import VAETransformer


def probe(reducer, x_train, y_train, x_test, y_test) -> dict[str, float]:
    """Fit ``reducer`` on ``x_train``; probe accuracies of its features (evaluation.probes) and,
    for a VAE, its test ELBO (nats per image)."""
    reducer = reducer.fit(x_train)
    scores = probes.probe(reducer.transform(x_train), y_train, reducer.transform(x_test), y_test)
    if isinstance(reducer, VAETransformer):
        scores["elbo"] = reducer.score(x_test)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--latent-dims", default="2,5,10,20,50")
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    dims = [int(d) for d in args.latent_dims.split(",")]
    full = load_dataset(DataConfig("mnist", data_dir=str(data_dir())))
    n = args.n_train
    data = dataclasses.replace(full, x_train=full.x_train[:n], y_train=full.y_train[:n])
    print(
        f"machine: {machine()}\ndata: MNIST grey, first {n} training images, "
        f"{len(full.x_test)} test images; 784-400-L, Adam 1e-3, batch 128, "
        f"{args.epochs} epochs, {args.folds}-fold CV"
    )
    base = VAETransformer(
        hidden=(400,), epochs=args.epochs, batch_size=128, random_state=0, likelihood="bernoulli"
    )

    start = time.perf_counter()
    out = args.out or tempfile.mkdtemp(prefix="latent_search-")
    result = search(
        data, {"latent_dim": dims}, estimator=base, folds=args.folds, n_jobs=args.n_jobs, out=out
    )
    search_s = time.perf_counter() - start
    print(result.table, f"\nsearch + retrain of the best: {search_s:.0f} s; files in {out}\n")

    x_train, y_train = data.x_train.flatten(1).numpy(), data.y_train.numpy()
    x_test, y_test = full.x_test.flatten(1).numpy(), full.y_test.numpy()
    reducers = [clone(base).set_params(latent_dim=d) for d in dims] + [PCA(d) for d in dims]
    with parallel_config(backend="loky", inner_max_num_threads=1):
        scores = Parallel(n_jobs=args.n_jobs)(
            delayed(probe)(r, x_train, y_train, x_test, y_test) for r in reducers
        )
    vae, pca = scores[: len(dims)], scores[len(dims) :]
    print(
        "| latent size | CV held-out ELBO (nats) | test ELBO (nats) | logistic probe VAE | "
        "logistic probe PCA | 5-NN VAE | 5-NN PCA |\n|---:|---:|---:|---:|---:|---:|---:|"
    )
    for d, row, v, p in zip(dims, result.rows, vae, pca, strict=True):
        best = " (best)" if row["rank"] == 1 else ""
        print(
            f"| {d}{best} | {row['mean']:.2f} ± {row['std']:.2f} | {v['elbo']:.2f} | "
            f"{v['logistic']:.4f} | {p['logistic']:.4f} | {v['knn']:.4f} | {p['knn']:.4f} |"
        )
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
