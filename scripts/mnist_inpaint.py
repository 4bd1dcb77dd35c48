"""The README picture docs/mnist_inpaint.png: MNIST test digits with the bottom half, or a random
half of the pixels, removed, and vaekit's restoration beside the original.

A MIWAE model (Mattei & Frellsen 2019) is trained for a few minutes on incomplete training
images: each has its bottom, top, left or right half, or a random 50% of its pixels, removed
(NaN), so the encoder learns to read the mask. The test digits are restored with
``model.impute`` (the importance-sampling estimate of E[x_miss | x_obs], k = 1000).

    VAEKIT_DATA_DIR=/path/to/data OMP_NUM_THREADS=1 python scripts/mnist_inpaint.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import vaekit
from vaekit.data import DataConfig, load_dataset
from vaekit.viz import plots

ROOT = Path(__file__).resolve().parents[1]


def damage(x: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """``x`` (N, 1, 28, 28) with one region set to NaN: a half ("bottom", "top", "left",
    "right") or a random 50% of the pixels ("random")."""
    out = x.copy()
    h, w = x.shape[-2:]
    regions = {
        "bottom": (slice(h // 2, None), slice(None)),
        "top": (slice(None, h // 2), slice(None)),
        "left": (slice(None), slice(None, w // 2)),
        "right": (slice(None), slice(w // 2, None)),
    }
    if kind == "random":
        out[rng.random(x.shape) < 0.5] = np.nan
    else:
        out[(..., *regions[kind])] = np.nan
    return out


def training_set(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every image with one kind of damage, the kinds in turn."""
    kinds = ["bottom", "top", "left", "right", "random"]
    return np.concatenate([damage(x[i :: len(kinds)], k, rng) for i, k in enumerate(kinds)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "mnist_inpaint.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    mnist = load_dataset(DataConfig("mnist", download=False))
    x_train = mnist.x_train[: args.n_train].numpy()
    start = time.perf_counter()
    model = vaekit.fit(
        training_set(x_train, rng),
        vaekit.ModelConfig(latent_dim=16, hidden=(400,)),
        vaekit.TrainConfig(epochs=args.epochs, batch_size=128, k=5, lr=1e-3),
        data_config=DataConfig("mnist-incomplete", missing="allow", test_fraction=0.0),
        progress=False,
    )
    print(f"trained {args.epochs} epochs in {time.perf_counter() - start:.0f} s")
    x = mnist.x_test[:10].numpy()  # (10, 1, 28, 28)
    rows = [x]
    for kind in ("bottom", "random"):
        damaged = damage(x, kind, rng)
        restored = model.impute(damaged, k=1000, seed=0).numpy()
        rows += [damaged, restored]
        miss = np.isnan(damaged)
        rmse = np.sqrt(((restored - x)[miss] ** 2).mean())
        print(f"{kind}: RMSE on the removed pixels {rmse:.3f} (pixel units)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plots.save_mosaic(np.concatenate(rows), args.out, ncols=10, value_range=(0.0, 1.0))
    print(f"wrote {args.out}: rows original, bottom half removed, restored, 50% pixels "
          "removed (grey), restored")  # fmt: skip


if __name__ == "__main__":
    main()
