"""Pictures of a model and its data: loss curves, image grids, latent maps, the decoded manifold.

Drawn with matplotlib's object API (``Figure`` on the Agg canvas): no pyplot, no GUI backend,
no global state, so it is safe in servers, tests and headless machines. Every ``*_figure``
function returns a :class:`~matplotlib.figure.Figure`; :func:`save_figure` writes it as PNG.

Image data is any event shape ``(H, W)`` or ``(C, H, W)`` with C in 1 or 3. Vector data
``(D,)`` has no pictures of examples: :func:`marginals_figure` (data vs samples, per feature)
and :func:`reconstruction_scatter_figure` (original vs reconstruction, per feature) stand in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from vaekit.evaluation.diagnostics import projection
from vaekit.model.vae import VAE

ArrayLike = np.ndarray | torch.Tensor
MAX_FEATURES = 8  # vector data: feature-wise panels drawn for at most this many features


def numpy(x: ArrayLike) -> np.ndarray:
    """A float64 NumPy copy of ``x`` (tensors are detached and moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def is_image(shape: Sequence[int]) -> bool:
    """Whether examples of event ``shape`` can be shown as pictures: (H, W) or (1|3, H, W)."""
    return len(shape) == 2 or (len(shape) == 3 and shape[0] in (1, 3))


def display_range(x: ArrayLike) -> tuple[float, float]:
    """(0, 1) for data inside [0, 1]; else the data's own (min, max), for real-valued images."""
    a = numpy(x)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))  # NaN: missing values
    return (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi if hi > lo else lo + 1.0)


def to_pixels(x: ArrayLike, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Images (N, H, W) or (N, C, H, W) -> (N, H, W) grey or (N, H, W, 3) colour, in [0, 1];
    missing (NaN) pixels are shown mid-grey."""
    a = numpy(x)
    lo, hi = value_range or display_range(a)
    a = np.nan_to_num(np.clip((a - lo) / (hi - lo), 0.0, 1.0), nan=0.5)
    if a.ndim == 4:
        a = a[:, 0] if a.shape[1] == 1 else a.transpose(0, 2, 3, 1)  # (N, H, W[, 3])
    return a


def tile(pixels: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """Images (N, H, W[, 3]) in [0, 1] -> one mosaic (rows*(H+pad)+pad, ...), white borders."""
    n, h, w = pixels.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    out = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad, *pixels.shape[3:]))
    for i, img in enumerate(pixels):
        r, c = divmod(i, ncols)
        out[
            pad + r * (h + pad) : (r + 1) * (h + pad), pad + c * (w + pad) : (c + 1) * (w + pad)
        ] = img
    return out


def save_mosaic(
    x: ArrayLike,
    path: str | Path,
    ncols: int,
    value_range: tuple[float, float] | None = None,
    min_tile: int = 32,
) -> Path:
    """Write images (N, *shape) as one PNG mosaic, each tile scaled up to >= ``min_tile`` px."""
    pixels = to_pixels(x, value_range)
    scale = max(1, math.ceil(min_tile / max(pixels.shape[1], 1)))
    mosaic = np.kron(tile(pixels, ncols), np.ones((scale, scale, *([1] * (pixels.ndim - 3)))))
    from vaekit.runs import atomic_write

    image = Image.fromarray((mosaic * 255).round().astype(np.uint8))
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def save_rows_png(x: ArrayLike, path: str | Path, title: str = "") -> Path:
    """Write vector examples (N, D) as a heatmap PNG: a row per example, a column per feature."""
    a = numpy(x).reshape(len(x), -1)
    fig = Figure(figsize=(min(12.0, 2 + 0.25 * a.shape[1]), min(10.0, 1.5 + 0.25 * len(a))))
    ax = fig.subplots()
    im = ax.imshow(a, aspect="auto", interpolation="nearest", cmap="viridis")
    ax.set(xlabel="feature", ylabel="example", title=title)
    fig.colorbar(im, ax=ax)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG file at ``path`` (atomically) and return the path."""
    from vaekit.runs import atomic_write

    return atomic_write(
        path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    )


def loss_curves_figure(history: Sequence[dict[str, float]]) -> Figure:
    """ELBO, reconstruction term log p(x|z) and KL per epoch (nats per example), train and val."""
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    epochs = [r["epoch"] for r in history]
    panels = (
        ("elbo", "ELBO"),
        ("log_px_z", "reconstruction  log p(x|z)"),
        ("kl_z", "KL(q(z|x) || p(z))"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            values = [r.get(f"{split}_{key}") for r in history]
            if all(v is not None for v in values) and values:
                ax.plot(
                    epochs, values, style, marker="." if len(epochs) < 30 else None, label=split
                )
        ax.set(title=title, xlabel="epoch", ylabel="nats per example")
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def images_figure(
    x: ArrayLike, title: str, ncols: int = 8, value_range: tuple[float, float] | None = None
) -> Figure:
    """A grid of images (N, *shape) with a title."""
    mosaic = tile(to_pixels(x, value_range), ncols)
    fig = Figure(figsize=(6, 6 * mosaic.shape[0] / mosaic.shape[1] + 0.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
    return fig


def reconstructions_figure(x: ArrayLike, x_hat: ArrayLike, title: str = "") -> Figure:
    """Originals (top row) above their reconstructions (bottom row); images (N, *shape)."""
    value_range = display_range(x)
    n = len(x)
    both = np.concatenate([numpy(x), numpy(x_hat)])  # (2N, *shape)
    fig = images_figure(
        both, title or "originals (top) and reconstructions (bottom)", n, value_range
    )
    return fig


def latent_map_figure(
    z: ArrayLike, y: ArrayLike | None = None, classes: Sequence[str] | None = None
) -> Figure:
    """Latent means (N, L) as points coloured by label ``y`` (N,).

    L = 2: the two latent dimensions; L > 2: a PCA projection (the title says so and how much
    variance it keeps); L = 1: z against the label (or a jitter without labels).
    """
    z = numpy(z)
    labels = None if y is None else numpy(y).astype(int)
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    if z.shape[1] == 1:
        spread = np.random.default_rng(0).uniform(-0.3, 0.3, len(z))
        points = np.stack([z[:, 0], spread + (labels if labels is not None else 0)], axis=1)
        title, axis_labels = "1-D latent means", ("z1", "label" if labels is not None else "")
    else:
        view = projection(z)
        points, title, axis_labels = view.points(z), view.title, view.axes
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.6)
        title += " (no labels)"
    else:
        values = np.unique(labels)
        cmap = "tab10" if len(values) <= 10 else "viridis"
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, s=6, alpha=0.7)
        if len(values) <= 10:
            names = [classes[v] if classes and 0 <= v < len(classes) else str(v) for v in values]
            handles = [
                Line2D([], [], marker="o", ls="", color=_rgba(sc.cmap(sc.norm(v))), label=name)
                for v, name in zip(values, names, strict=True)
            ]
            ax.legend(handles=handles, title="label", fontsize=8, loc="best")
        else:
            fig.colorbar(sc, ax=ax, label="label")
    ax.set(title=title, xlabel=axis_labels[0], ylabel=axis_labels[1])
    return fig


def manifold_figure(
    model: VAE, n: int = 15, value_range: tuple[float, float] | None = None
) -> Figure:
    """For a 2-D latent: decoded means on an n x n grid of standard-normal quantiles (5%..95%)."""
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n))  # (n,)
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")  # z2 grows upwards
    z = torch.stack([z1.flatten(), z2.flatten()], dim=1)  # (n*n, 2)
    x = model.decode(z)  # (n*n, *shape)
    return images_figure(
        x, "decoded manifold: z on standard-normal quantiles 5%..95%", n, value_range
    )


def _rgba(color: Any) -> tuple[float, float, float, float]:
    """A colormap's colour of one value as the RGBA tuple matplotlib's artists take."""
    r, g, b, a = (float(c) for c in color)
    return r, g, b, a


def _feature_grid(d: int, row_height: float) -> tuple[Figure, list[Any]]:
    """A figure with ``d`` panels, four per row, and its ``d`` axes (spare panels hidden)."""
    rows, cols = math.ceil(d / 4), min(d, 4)
    fig = Figure(figsize=(3 * cols, row_height * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes[d:]:
        ax.set_axis_off()
    return fig, list(axes[:d])


def marginals_figure(
    x: ArrayLike, samples: ArrayLike, names: Sequence[str] | None = None
) -> Figure:
    """Vector data: histograms of the data beside the model's samples, first few features."""
    a, b = numpy(x).reshape(len(x), -1), numpy(samples).reshape(len(samples), -1)
    d = min(a.shape[1], MAX_FEATURES)
    fig, axes = _feature_grid(d, 2.6)
    for j, ax in enumerate(axes):
        # samples of data near float32's limits may overflow to inf: drawn without them
        aj, bj = a[:, j][np.isfinite(a[:, j])], b[:, j][np.isfinite(b[:, j])]
        dropped = len(a) + len(b) - len(aj) - len(bj)
        title = names[j] if names else f"feature {j}"
        ax.set_title(title + (f" ({dropped} non-finite left out)" if dropped else ""), fontsize=9)
        both = np.concatenate([aj, bj])
        if both.size == 0:
            continue
        lo, hi = float(both.min()), float(both.max())
        if not hi > lo:  # one value: +-0.5 around it would vanish in rounding near 3e38
            lo, hi = lo - max(0.5, abs(lo) * 1e-6), hi + max(0.5, abs(hi) * 1e-6)
        bins = np.linspace(lo, hi, 31)
        for values, label in ((aj, "data"), (bj, "samples")):
            if values.size:  # an empty density would divide 0 by 0
                ax.hist(values, bins=bins, alpha=0.5, density=True, label=label)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.suptitle(f"samples vs data, feature by feature (first {d} of {a.shape[1]})")
    return fig


def reconstruction_scatter_figure(x: ArrayLike, x_hat: ArrayLike) -> Figure:
    """Vector data: each original value against its reconstruction, first few features."""
    a, b = numpy(x).reshape(len(x), -1), numpy(x_hat).reshape(len(x_hat), -1)
    d = min(a.shape[1], MAX_FEATURES)
    fig, axes = _feature_grid(d, 2.8)
    for j, ax in enumerate(axes):
        lo, hi = np.nanmin([a[:, j], b[:, j]]), np.nanmax([a[:, j], b[:, j]])  # NaN: missing
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.scatter(a[:, j], b[:, j], s=4, alpha=0.5)
        ax.set_title(f"feature {j}", fontsize=9)
        ax.set(xlabel="original", ylabel="reconstruction")
    fig.suptitle(f"reconstructions vs originals (first {d} of {a.shape[1]} features)")
    return fig
