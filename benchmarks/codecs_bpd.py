"""Bits per dimension on 8-bit MNIST and Fashion-MNIST test images: a conv VAE with the
discretized logistic likelihood beside lossless codecs (PNG, WebP, gzip, bzip2, xz), one run.

    OMP_NUM_THREADS=1 VAEKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/codecs_bpd.py \
        [--epochs 4] [--k 16] [--n-test 2000] [--datasets fashion-mnist,mnist] [--save DIR]

Data: the official 60,000 training images, and the first ``--n-test`` of the official 10,000 test
images (all of them with --n-test 10000), 8-bit grey (values k/255), D = 784.
The VAE: strided conv encoder/decoder (``--channels``, default 16,32; dense ``--hidden`` 256;
latent ``--latent-dim`` 32), likelihood ``discretized-logistic`` over the 256 levels with a
per-pixel location and log-scale from the decoder; Adam ``--lr``, batch 128, ``--epochs`` epochs,
the learning rate falling exponentially by a factor ``--lr-decay`` over them (1: constant), seed 0.
``--save DIR`` keeps each model as the run folder DIR/NAME (for ``vaekit score``, ``compress``,
and ``benchmarks/ood.py`` and ``compress.py``). Its figure is the
importance-sampled test NLL with ``--k`` samples per image (the IWAE bound L_k: an upper bound on
the model's true NLL in expectation, so the VAE's true bits/dim are at most this), divided by
D ln 2: a discrete likelihood over the data's own 256 levels, so these are bits per pixel in the
codecs' sense.

The codecs compress the same test images (uint8): PNG (Pillow, ``optimize=True``) and WebP
lossless (Pillow, ``lossless=True, quality=100, method=6``, when Pillow has WebP) one image per
file, summing the file sizes (headers included); gzip -9, bzip2 -9 and xz (preset 9 | extreme)
once over all the images concatenated (n x 784 bytes, row-major). Bits per dimension
= 8 x bytes / (n x 784).
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
from pathlib import Path

import numpy as np
import torch
from common import data_dir, lr_decay, machine
from PIL import Image, features

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, load_dataset
from vaekit.evaluation.evaluate import log_likelihood_estimate


def codec_bits(images: np.ndarray) -> dict[str, float]:
    """Bits per dimension of each codec on ``images`` (N, H, W) uint8."""
    n_dims = images.size
    raw = images.tobytes()
    sizes = {
        "gzip -9 (all images)": len(gzip.compress(raw, compresslevel=9, mtime=0)),
        "bzip2 -9 (all images)": len(bz2.compress(raw, compresslevel=9)),
        "xz -9e (all images)": len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)),
    }

    def per_image(fmt: str, **options: object) -> int:
        total = 0
        for image in images:
            buf = io.BytesIO()
            Image.fromarray(image, mode="L").save(buf, fmt, **options)
            total += buf.tell()
        return total

    sizes["PNG optimize (per image)"] = per_image("PNG", optimize=True)
    if features.check("webp"):
        sizes["WebP lossless (per image)"] = per_image("WEBP", lossless=True, quality=100, method=6)
    return {name: 8 * size / n_dims for name, size in sizes.items()}


def vae_bits(name: str, args: argparse.Namespace) -> dict[str, float]:
    """Train the conv VAE on ``name``; its bits/dim on the first ``n_test`` test images."""
    data = load_dataset(DataConfig(name, data_dir=str(data_dir()), val_fraction=0.0))
    assert data.levels == 256, data.describe()
    channels = tuple(int(c) for c in args.channels.split(","))
    model_config = ModelConfig(
        latent_dim=args.latent_dim,
        network="conv",
        channels=channels,
        hidden=(args.hidden,),
        likelihood="auto",
    )
    epochs, k, n_test = args.epochs, args.k, args.n_test
    start = time.perf_counter()
    train_config = TrainConfig(epochs=epochs, batch_size=128, lr=args.lr)
    out = None if args.save is None else Path(args.save) / name
    decay = lr_decay(args.lr, args.lr_decay, epochs)
    model = api.fit(data, model_config, train_config, out=out, progress=False, hooks=[decay])
    train_s = time.perf_counter() - start
    assert model.config.likelihood == "discretized-logistic"
    start = time.perf_counter()
    torch.manual_seed(0)
    x_test = model.check_data(data.x_test[:n_test])  # (n, 1, 28, 28)
    est = log_likelihood_estimate(model, x_test, k=k, batch_size=250)
    nll = -float(est.log_px.double().mean())
    stderr = float(est.log_px.double().std() / math.sqrt(len(est.log_px)))
    d_ln2 = data.n_features * math.log(2)
    return {
        "bits_per_dim": nll / d_ln2,
        "bits_per_dim_stderr": stderr / d_ln2,
        "elbo_bits_per_dim": -float(est.elbo.double().mean()) / d_ln2,
        "nll_nats": nll,
        "train_seconds": train_s,
        "eval_seconds": time.perf_counter() - start,
        "final_train_elbo": model.history[-1]["train_elbo"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--channels", default="16,32")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lr-decay", type=float, default=1.0, help="lr decay over the epochs")
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--save", help="keep each model as the run folder SAVE/NAME")
    parser.add_argument("--datasets", default="fashion-mnist,mnist")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = {}
    for name in args.datasets.split(","):
        test = load_dataset(DataConfig(name, data_dir=str(data_dir()), val_fraction=0.0))
        x_test = test.x_test[: args.n_test, 0].numpy()
        images = np.round(x_test * 255).astype(np.uint8)  # (n, 28, 28)
        codecs = codec_bits(images)
        print(f"{name} codecs: {json.dumps(codecs)}", flush=True)
        vae = vae_bits(name, args)
        best = min(codecs, key=codecs.__getitem__)
        results[name] = {"codecs": codecs, "vae": vae, "best_codec": best}
        print(f"\n{name}: test images {len(images)}, D = {images[0].size}")
        for codec, bits in sorted(codecs.items(), key=lambda kv: kv[1]):
            print(f"  {codec:28s} {bits:.3f} bits/dim")
        print(
            f"  VAE (discretized logistic, conv {args.channels}, IWAE k={args.k}, "
            f"{args.epochs} epochs) "
            f"{vae['bits_per_dim']:.3f} +- {vae['bits_per_dim_stderr']:.3f} bits/dim "
            f"(ELBO {vae['elbo_bits_per_dim']:.3f}); train {vae['train_seconds']:.0f} s, "
            f"eval {vae['eval_seconds']:.0f} s"
        )
        gap = codecs[best] - vae["bits_per_dim"]
        winner = "the VAE" if gap > 0 else best
        print(f"  best codec: {best}; {winner} wins by {abs(gap):.3f} bits/dim", flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
