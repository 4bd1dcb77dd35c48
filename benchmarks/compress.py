"""Lossless compression of MNIST test images: vaekit's bits-back ANS beside the model's -ELBO and
NLL and beside generic codecs, all on the same images in one run.

    VAEKIT_DATA_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compress.py \\
        --model runs/static/normal_1.safetensors --n 10000

``--model``: a saved model (a ``.safetensors`` file of ``benchmarks/static_mnist_nll.py --save
DIR`` or ``vaekit.save``, or a run folder) for ``--dataset``: ``binarized-mnist`` (the static
binarization, a Bernoulli likelihood), or ``mnist`` / ``fashion-mnist`` as 8-bit grey images (a
discretized-logistic model, as ``benchmarks/codecs_bpd.py --save DIR`` trains, or a Gaussian one).
Rates are bits per pixel (bits/dim) of the whole output: vaekit's .vkz file with its header and
initial bits; gzip -9, bzip2 -9 and xz -9e of one byte a pixel (and, for binary images, of the
pixels packed 8 a byte, ``np.packbits``); PNG (1-bit or 8-bit grey, Pillow ``optimize=True``) and
WebP lossless (``method=6``), each per image (the sum of the files) and as one mosaic of all the
images.
Published (Townsend et al. 2019, the first 10,000 images...):
BB-ANS 0.19, bz2 0.25, gzip 0.33, PNG 0.78, WebP 0.44.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import time

import numpy as np
import torch
from common import data_dir, machine
from PIL import Image

from vaekit.coding import compress_to, decompress
from vaekit.data import DataConfig, load_dataset
from vaekit.training import checkpoint

LN2 = math.log(2)


def generic_rates(x: np.ndarray, binary: bool) -> dict[str, float]:
    """Bits per pixel of generic codecs on images x (N, H, W) uint8: 0/1 if ``binary``, else
    grey levels 0..255."""
    n, h, w = x.shape
    pixels = x.size
    raw = x.tobytes()
    packed = np.packbits(x.reshape(n, -1), axis=1).tobytes() if binary else None
    rates = {}
    for name, fn in (
        ("gzip -9", lambda b: gzip.compress(b, 9, mtime=0)),
        ("bzip2 -9", lambda b: bz2.compress(b, 9)),
        ("xz -9e", lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME)),
    ):
        if packed is not None:
            rates[f"{name} (packed bits)"] = 8 * len(fn(packed)) / pixels
        rates[f"{name} (a byte a pixel)"] = 8 * len(fn(raw)) / pixels

    def size(image: Image.Image, fmt: str) -> int:
        buf = io.BytesIO()
        if fmt == "PNG":
            image.convert("1" if binary else "L").save(buf, "PNG", optimize=True)
        else:
            image.convert("L").save(buf, "WEBP", lossless=True, quality=100, method=6)
        return len(buf.getvalue())

    cols = min(n, 100)
    rows = math.ceil(n / cols)
    mosaic = np.zeros((rows * h, cols * w), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        mosaic[r * h : (r + 1) * h, c * w : (c + 1) * w] = x[i]
    scale = 255 if binary else 1
    png = "PNG (1-bit, optimize)" if binary else "PNG (8-bit grey, optimize)"
    for fmt, name in (("PNG", png), ("WEBP", "WebP lossless")):
        total = sum(size(Image.fromarray(xi * scale), fmt) for xi in x)
        rates[f"{name}, one file per image"] = 8 * total / pixels
        if fmt == "PNG" or max(mosaic.shape) <= 16383:  # WebP's largest side
            rates[f"{name}, one mosaic"] = 8 * size(Image.fromarray(mosaic * scale), fmt) / pixels
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a saved .safetensors model or run folder")
    parser.add_argument(
        "--dataset",
        default="binarized-mnist",
        choices=("binarized-mnist", "mnist", "fashion-mnist"),
        help="the test images (mnist, fashion-mnist: 8-bit grey)",
    )
    parser.add_argument("--n", type=int, default=10_000, help="test images (the first N)")
    parser.add_argument("--k", type=int, default=1000, help="importance samples for the NLL")
    parser.add_argument("--elbo-samples", type=int, default=10, help="samples for the -ELBO")
    parser.add_argument("--latent-bits", type=int, default=10)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset(DataConfig(args.dataset, data_dir=str(data_dir())))
    binary = args.dataset == "binarized-mnist"
    # 0/1 as uint8, or the loader's float32 k / 255 (what the model was trained on)
    x = data.x_test[: args.n].numpy()  # (N, 1, 28, 28)
    x = x.astype(np.uint8) if binary else x
    model = checkpoint.load_model(args.model).eval()
    dims = x[0].size
    print(
        f"machine: {machine()}\ndata: {args.dataset}, the first {len(x)} test images; "
        f"model {args.model} ({model.config.prior} prior, latent {model.config.latent_dim}, "
        f"hidden {model.config.hidden}); latent buckets 2^{args.latent_bits}"
    )
    buf = io.BytesIO()
    report = compress_to(model, x, buf, latent_bits=args.latent_bits)
    start = time.perf_counter()
    restored = decompress(model, buf.getvalue())
    t_dec = time.perf_counter() - start
    assert np.array_equal(restored, x), "round trip failed"
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model.elbo(x).elbo for _ in range(args.elbo_samples)]).mean()
        nll = -model.log_likelihood(x, k=args.k).mean()
    # a density on [0, 1] gives the 8-bit level k about density(k / 255) / 255: log2 255 more
    # bits; a discrete likelihood (Bernoulli, discretized logistic) gives P(x) itself
    discrete = binary or getattr(model.likelihood, "discrete", False)
    width = 0.0 if discrete else math.log2(255)
    unit = "" if discrete else " + log2 255 (a density on 8-bit levels)"
    figures = {
        "vaekit bits-back ANS (.vkz file)": report.bits_per_dim,
        "  of which the stacks less initial bits": report.payload_bits_per_dim,
        "  of which header, framing and initial bits": report.overhead_bits_per_dim,
        f"model -ELBO{unit}": -float(elbo) / LN2 / dims + width,
        f"model NLL (k={args.k}){unit}": float(nll) / LN2 / dims + width,
        **generic_rates(x[:, 0] if binary else np.rint(x[:, 0] * 255).astype(np.uint8), binary),
    }
    print("\n| method | bits/dim |\n| --- | --- |")
    for name, rate in figures.items():
        print(f"| {name} | {rate:.4f} |")
    gap = report.payload_bits_per_dim / figures[f"model -ELBO{unit}"] - 1
    print(
        f"\nvaekit: {report.file_bytes} bytes for {len(x)} images; stacks vs -ELBO "
        f"{100 * gap:+.2f}%; initial bits {report.initial_bits}, header {report.header_bytes} "
        f"bytes; compression {len(x) / report.seconds:.0f} images/s, decompression "
        f"{len(x) / t_dec:.0f} images/s (one thread); round trip exact"
    )
    if args.json:
        with open(args.json, "w") as f:
            speed = {"compress_images_per_s": len(x) / report.seconds}
            speed["decompress_images_per_s"] = len(x) / t_dec
            json.dump({**figures, **speed}, f, indent=1)


if __name__ == "__main__":
    main()
