"""``vaekit compress`` and ``vaekit decompress``: the command-line face of :mod:`vaekit.coding`.

Only argparse is imported at the top, so ``vaekit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import functools
import math
import textwrap
from pathlib import Path
from typing import Any

COMMANDS = ("compress", "decompress")


def add_parsers(subparsers: Any) -> None:
    """Add ``compress`` and ``decompress`` to an ``argparse`` subparsers object."""
    from vaekit.cli.parsers import Formatter, _common, _run_data_options, at_least

    p = subparsers.add_parser(
        "compress",
        help="losslessly compress data with the run's model (bits-back ANS) into a .vkz file",
        description=textwrap.fill(
            "Bits-back ANS coding (Townsend et al. 2019) with the run's model: about the "
            "model's negative ELBO in bits per example. Codes binary (0/1) data under the "
            "Bernoulli likelihood, 8-bit images (and any data on the levels of its likelihood) "
            "under the discretized logistic, and 8-bit grey data under the Gaussian one, with "
            "the normal, "
            "mixture or vampprior prior. Needs the compress extra: "
            "pip install 'vaekit[compress]'.",
            98,
        ),
        formatter_class=Formatter,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument("--out", metavar="FILE.vkz", required=True, help="the compressed file")
    p.add_argument(
        "--latent-bits",
        type=at_least(4),
        default=10,
        help="log2 of the latent buckets per dimension, 4..16 (default: 10)",
    )
    _run_data_options(p)
    _common(p, device=False)

    p = subparsers.add_parser(
        "decompress",
        help="restore the data of a .vkz file, bit for bit, with the run's model",
        formatter_class=Formatter,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by vaekit train")
    p.add_argument("file", metavar="FILE.vkz", help="a file written by vaekit compress")
    p.add_argument(
        "--out", metavar="FILE.npy", required=True, help="the restored array (.npy), as given"
    )
    p.add_argument("--png-dir", metavar="DIR", help="also write each image as DIR/NNNNN.png")
    _common(p, device=False)


def run(args: argparse.Namespace) -> int:
    """Run ``compress`` or ``decompress``."""
    return compress(args) if args.command == "compress" else decompress(args)


def compress(args: argparse.Namespace) -> int:
    """Compress a split of the run's data (or --data) and print the rate beside the -ELBO."""
    from vaekit import api
    from vaekit.cli.commands import conditions
    from vaekit.cli.console import output_path, run_folder, table
    from vaekit.cli.rows import select_data
    from vaekit.coding import compress_to
    from vaekit.runs import atomic_write

    run = run_folder(args.run)
    model, saved = api.load(run), api.read_config(run)
    data, split = select_data(args, saved)
    out = output_path(args.out, (".vkz",))
    x, y = data.split(split)
    y = conditions(model, y, data)
    reports = []

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            reports.append(compress_to(model, x, f, y, args.latent_bits))

    atomic_write(out, write)  # never a half-written file under the name, even after kill -9
    report = reports[0]
    neg_elbo = -float(model.elbo(x, y=y).elbo.mean()) / math.log(2) / report.dims
    if not args.quiet:
        rows = [
            ("examples", report.count),
            ("file bytes", report.file_bytes),
            ("bits/dim (whole file)", report.bits_per_dim),
            ("bits/dim (stacks, less initial bits)", report.payload_bits_per_dim),
            ("overhead bits/dim (header, initial bits)", report.overhead_bits_per_dim),
            ("model -ELBO bits/dim (1 sample)", neg_elbo),
            ("examples/s", report.count / report.seconds),
        ]
        print(table(rows, f"compressed {split} of {data.name} into {out}"))
    return 0


def decompress(args: argparse.Namespace) -> int:
    """Restore a .vkz file into an .npy (streamed chunk by chunk), and PNGs with --png-dir."""
    import numpy as np

    from vaekit import api
    from vaekit.cli.console import (
        UsageError,
        output_path,
        run_folder,
        writable_folder,
        write_array,
    )
    from vaekit.coding import decompress_chunks
    from vaekit.runs import atomic_write

    model = api.load(run_folder(args.run))
    out = output_path(args.out, (".npy",))
    png = writable_folder(Path(args.png_dir)) if args.png_dir else None
    with open(args.file, "rb") as f:
        header, chunks = decompress_chunks(model, f)
        if png is not None and image_hw(header.shape) is None:
            raise UsageError(f"--png-dir needs image data, not examples of shape {header.shape}")
        labels: list[int] = []

        def write(tmp: str) -> None:  # streamed chunk by chunk into the array on disk
            shape = (header.count, *header.shape)
            x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(header.dtype), shape=shape)
            at = 0
            for xc, yc in chunks:
                x[at : at + len(xc)] = xc
                if png is not None:
                    write_pngs(xc, png, at, binary=binary_images(model))
                labels.extend([] if yc is None else list(yc))
                at += len(xc)
            x.flush()
            del x

        atomic_write(out, write)  # never a half-restored array under the name
    if labels:
        write_array(np.asarray(labels, dtype=np.int64), out.with_suffix(".labels.npy"))
    if not args.quiet:
        print(f"restored {header.count} examples of shape {header.shape} into {out}")
    return 0


def image_hw(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(H, W) of one-channel image examples of ``shape`` ((H, W) or (1, H, W)), else None."""
    if len(shape) == 2 or (len(shape) == 3 and shape[0] == 1):
        return shape[-2], shape[-1]
    return None


def binary_images(model: Any) -> bool:
    """Whether the model codes binary images (1-bit PNGs) rather than 8-bit grey ones."""
    from vaekit.model.likelihoods import BernoulliLikelihood

    return isinstance(model.likelihood, BernoulliLikelihood)


def write_pngs(x: Any, folder: Path, start: int, binary: bool) -> None:
    """Each image of ``x`` (n, ...) as a PNG, folder/NNNNN.png numbered from ``start``: 1-bit
    for binary images, 8-bit grey (values k / 255 -> k) otherwise."""
    import numpy as np
    from PIL import Image

    from vaekit.runs import atomic_write

    for i, xi in enumerate(x):
        h, w = image_hw(xi.shape)  # type: ignore[misc]
        a = np.asarray(xi, dtype=np.float64).reshape(h, w)
        pixels = a.astype(bool) if binary else np.rint(a * 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        atomic_write(folder / f"{start + i:05d}.png", functools.partial(image.save, format="PNG"))
