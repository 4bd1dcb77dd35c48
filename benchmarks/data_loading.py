"""Benchmark: load all of MNIST into memory, and read a folder of 10,000 PNGs.

Run from the repository root (the offline copies are found via $VAEKIT_DATA_DIR, else
../shared/data):

    .venv/bin/python benchmarks/data_loading.py [--data-dir DIR] [--images 10000] [--repeats 3]

Prints the wall-clock time of each repeat and the best one. MNIST's figure includes verifying the
four files' checksums, gunzipping, splitting and converting to float32 tensors.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaekit.data import DataConfig, load_dataset
from vaekit.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

REPO = Path(__file__).resolve().parents[1]


def timed(fn, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float], count: int, unit: str) -> None:
    best = min(times)
    print(
        f"{label}: best {best:.3f} s, median {statistics.median(times):.3f} s "
        f"({count / best:,.0f} {unit}/s); runs: {', '.join(f'{t:.3f}' for t in times)}"
    )


def write_pngs(data_dir: Path, folder: Path, n: int) -> None:
    """The first ``n`` MNIST training images as ``folder/<label>/<index>.png``."""
    x = read_idx(data_dir / "mnist" / "train-images-idx3-ubyte.gz", IMAGES_MAGIC)[:n]
    y = read_idx(data_dir / "mnist" / "train-labels-idx1-ubyte.gz", LABELS_MAGIC)[:n]
    for label in np.unique(y):
        (folder / str(label)).mkdir()
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        Image.fromarray(image).save(folder / str(label) / f"{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("VAEKIT_DATA_DIR") or str(REPO / ".." / "shared" / "data")
    parser.add_argument("--data-dir", default=default, help="folder holding mnist/")
    parser.add_argument("--images", type=int, default=10_000, help="PNGs in the image folder")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()

    print(f"command: {Path(sys.executable).name} {' '.join(sys.argv)}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}"
    )

    config = DataConfig("mnist", data_dir=str(data_dir), download=False)
    start = time.perf_counter()
    data = load_dataset(config)  # the first call also warms the page cache
    n = len(data.x_train) + len(data.x_val) + len(data.x_test)
    print(f"MNIST first load in this process: {time.perf_counter() - start:.3f} s")
    report(
        f"MNIST ({n:,} images) into memory",
        timed(lambda: load_dataset(config), args.repeats),
        n,
        "images",
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pngs"
        folder.mkdir()
        start = time.perf_counter()
        write_pngs(data_dir, folder, args.images)
        print(f"(wrote {args.images:,} PNGs in {time.perf_counter() - start:.1f} s)")
        images = DataConfig(str(folder), val_fraction=0.0, test_fraction=0.0)
        loaded = load_dataset(images)
        assert len(loaded.x_train) == args.images and loaded.shape == (1, 28, 28)
        report(
            f"image folder ({args.images:,} PNGs, 28x28 grey, 10 class folders)",
            timed(lambda: load_dataset(images), args.repeats),
            args.images,
            "images",
        )


if __name__ == "__main__":
    main()
