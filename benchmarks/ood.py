"""Out-of-distribution detection with a trained VAE: AUROC and FPR at 95% TPR of every score
method of :mod:`vaekit.evaluation.scores`, beside scikit-learn's IsolationForest and
LocalOutlierFactor (novelty=True) on raw pixels and on PCA features, in one table.

Pairs: a model trained on Fashion-MNIST scores the Fashion-MNIST test images (normal) against
MNIST test images, uniform noise and constant images; a model trained on MNIST scores the MNIST
test images against Fashion-MNIST test images, uniform noise and constant images. The first
``--n`` images of each test split are used; noise and constant images are 8-bit, seeded.

Train the two models first (about 10 minutes each on one CPU thread), e.g.::

    vaekit train --dataset fashion-mnist --likelihood bernoulli --latent-dim 16 --hidden 400 \\
        --epochs 8 --out runs/ood-fashion-mnist
    vaekit train --dataset mnist --likelihood bernoulli --latent-dim 16 --hidden 400 \\
        --epochs 8 --out runs/ood-mnist
    python benchmarks/ood.py --fashion-mnist runs/ood-fashion-mnist --mnist runs/ood-mnist
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import ROOT, data_dir, machine
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neighbors import LocalOutlierFactor

import vaekit
from vaekit.data import DataConfig, load_dataset
from vaekit.evaluation.scores import METHODS


def auroc_fpr95(normal: np.ndarray, anomalous: np.ndarray) -> tuple[float, float]:
    """AUROC of telling anomalous (positive) from normal by a higher score, and the false-positive
    rate on normal data at the threshold that flags 95% of the anomalous examples."""
    y = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    s = np.r_[normal, anomalous]
    fpr, tpr, _ = roc_curve(y, s)
    return float(roc_auc_score(y, s)), float(fpr[np.searchsorted(tpr, 0.95)])


def synthetic(kind: str, n: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """``n`` 8-bit images (n, *shape) in [0, 1]: uniform noise, or constant images whose grey
    level is drawn uniformly."""
    g = torch.Generator().manual_seed(seed)
    if kind == "noise":
        x = torch.rand(n, *shape, generator=g)
    else:
        x = torch.rand(n, *([1] * len(shape)), generator=g).expand(n, *shape)
    return (x * 255).round() / 255


def baselines(x_train: np.ndarray, sets: dict[str, np.ndarray], seed: int) -> dict[str, dict]:
    """Scores (higher = more anomalous) of the scikit-learn detectors fit on ``x_train``."""
    pca = PCA(50, random_state=seed).fit(x_train)
    feats = {"raw": lambda a: a, "pca50": pca.transform}
    out = {}
    for fname, f in feats.items():
        train = f(x_train)
        for name, det in (
            ("IsolationForest", IsolationForest(random_state=seed)),
            ("LOF(novelty)", LocalOutlierFactor(n_neighbors=20, novelty=True)),
        ):
            t0 = time.perf_counter()
            det.fit(train)
            out[f"{name} {fname}"] = {k: -det.score_samples(f(v)) for k, v in sets.items()}
            print(f"  {name} {fname}: {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def run_pair(run: Path, other: str, args: argparse.Namespace) -> list[dict]:
    model = vaekit.load(run)
    own = load_dataset(DataConfig(dataset=vaekit.api.read_config(run)["data"].dataset))
    alien = load_dataset(DataConfig(dataset=other))
    n, shape = args.n, model.shape
    sets = {
        "normal": own.x_test[:n],
        other: alien.x_test[:n],
        "noise": synthetic("noise", n, shape, 1),
        "constant": synthetic("constant", n, shape, 2),
    }
    scores: dict[str, dict] = {}
    for method in args.methods:
        t0 = time.perf_counter()
        scores[method] = {k: model.score(v, method, args.k).numpy() for k, v in sets.items()}
        per_1000 = (time.perf_counter() - t0) / (n * len(sets)) * 1000
        print(f"  {method}: {per_1000:.2f} s per 1000 examples", flush=True)
        scores[method]["_s_per_1000"] = per_1000
    flat = {k: v.reshape(len(v), -1).numpy() for k, v in sets.items()}
    train = own.x_train[: args.n_fit].reshape(args.n_fit, -1).numpy()
    scores.update(baselines(train, flat, 0))
    rows = []
    for method, s in scores.items():
        for target in (other, "noise", "constant"):
            auroc, fpr95 = auroc_fpr95(s["normal"], s[target])
            rows.append(
                {
                    "train": own.name,
                    "likelihood": model.likelihood.name,
                    "ood": target,
                    "method": method,
                    "auroc": auroc,
                    "fpr95": fpr95,
                    "s_per_1000": s.get("_s_per_1000"),
                }
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fashion-mnist", type=Path, required=True, help="run trained on FMNIST")
    p.add_argument("--mnist", type=Path, required=True, help="run trained on MNIST")
    p.add_argument("--n", type=int, default=2000, help="examples per set (default: 2000)")
    p.add_argument("--n-fit", type=int, default=10000, help="training rows for the baselines")
    p.add_argument("--k", type=int, default=16, help="posterior samples (default: 16)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "ood.json")
    args = p.parse_args()
    args.methods = args.methods.split(",")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("VAEKIT_DATA_DIR", str(data_dir()))
    print(machine(), flush=True)
    rows = []
    for run, other in ((args.fashion_mnist, "mnist"), (args.mnist, "fashion-mnist")):
        print(f"{run} vs {other}", flush=True)
        rows += run_pair(run, other, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    cols = sorted({(r["train"], r["ood"]) for r in rows}, key=lambda c: (c[0], c[1]))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = {(r["method"], r["train"], r["ood"]): r for r in rows}
    likelihoods = sorted({r["likelihood"] for r in rows})
    print(f"likelihood: {', '.join(likelihoods)}; AUROC / FPR at 95% TPR")
    print("| method | " + " | ".join(f"{t} vs {o}" for t, o in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for m in methods:
        cells = [f"{table[m, t, o]['auroc']:.3f} / {table[m, t, o]['fpr95']:.3f}" for t, o in cols]
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
