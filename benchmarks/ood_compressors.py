"""Which lossless compressor should measure an image's complexity for the ``complexity`` score?

    VAEKIT_DATA_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/ood_compressors.py runs/bench8/fashion-mnist runs/bench8/mnist

For each run (a model trained on Fashion-MNIST or MNIST), S(x) = -log2 P(x) - L(x) (Serra et al.
2020) with L(x) from an optimised PNG, WebP lossless, bzip2 -9, xz -9e or DEFLATE (zlib -9) of the
raw 8-bit bytes, one image at a time; AUROC / FPR at 95% TPR of the model's first ``--n`` test
images against the other dataset's, uniform noise and constant images (the sets of
``benchmarks/ood.py``). -log2 P(x) is vaekit's, with k = 16 common random numbers.
"""

from __future__ import annotations

import argparse
import bz2
import io
import lzma
import zlib
from pathlib import Path

import numpy as np
import torch
from common import machine
from ood import auroc_fpr95, synthetic
from PIL import Image

import vaekit
from vaekit.data import DataConfig, load_dataset
from vaekit.evaluation.scores import nll_bits


def _image_bytes(a: np.ndarray, fmt: str, **options: object) -> int:
    buffer = io.BytesIO()
    Image.fromarray(a).save(buffer, fmt, **options)
    return buffer.tell()


COMPRESSORS = {  # bytes of one (H, W) uint8 image
    "png": lambda a: _image_bytes(a, "PNG", optimize=True),
    "webp": lambda a: _image_bytes(a, "WEBP", lossless=True, quality=100, method=6),
    "bzip2": lambda a: len(bz2.compress(a.tobytes(), 9)),
    "xz": lambda a: len(lzma.compress(a.tobytes(), preset=9 | lzma.PRESET_EXTREME)),
    "deflate": lambda a: len(zlib.compress(a.tobytes(), 9)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="runs trained on 28x28 grey images")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine())
    for run in args.runs:
        model = vaekit.load(run)
        own = vaekit.api.read_config(run)["data"].dataset
        other = "mnist" if own == "fashion-mnist" else "fashion-mnist"
        n, shape = args.n, model.shape
        sets = {
            "normal": load_dataset(DataConfig(dataset=own)).x_test[:n],
            other: load_dataset(DataConfig(dataset=other)).x_test[:n],
            "noise": synthetic("noise", n, shape, 1),
            "constant": synthetic("constant", n, shape, 2),
        }
        bits = {k: nll_bits(model, v, None, 16, 0).detach().numpy() for k, v in sets.items()}
        pixels = {k: np.rint(v[:, 0].numpy() * 255).astype(np.uint8) for k, v in sets.items()}
        for name, size in COMPRESSORS.items():
            s = {k: bits[k] - 8 * np.array([size(a) for a in pixels[k]]) for k in sets}
            cells = []
            for target in list(sets)[1:]:
                auroc, fpr95 = auroc_fpr95(s["normal"], s[target])
                cells.append(f"{target} {auroc:.4f} / {fpr95:.3f}")
            print(f"{own} model, L(x) = {name}: " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
