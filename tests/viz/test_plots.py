"""Pictures: every figure draws on the Agg canvas without warnings and writes a decodable PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.config import ModelConfig
from vaekit.model.vae import VAE
from vaekit.viz import plots


def decoded(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        return im.size


def test_is_image() -> None:
    assert plots.is_image((1, 28, 28)) and plots.is_image((3, 32, 32)) and plots.is_image((8, 8))
    assert not plots.is_image((10,)) and not plots.is_image((5, 4, 4))


def test_to_pixels_grey_colour_and_real_range() -> None:
    grey = plots.to_pixels(torch.rand(4, 1, 5, 6))
    assert grey.shape == (4, 5, 6)
    colour = plots.to_pixels(torch.rand(4, 3, 5, 6))
    assert colour.shape == (4, 5, 6, 3)
    real = plots.to_pixels(torch.randn(4, 1, 5, 6) * 10)  # real-valued: its own min..max
    assert real.min() == 0.0 and real.max() == 1.0


def test_tile_layout() -> None:
    mosaic = plots.tile(np.zeros((5, 3, 4)), ncols=2, pad=1)  # 3 rows x 2 columns
    assert mosaic.shape == (3 * 4 + 1, 2 * 5 + 1)
    assert mosaic[0].all() and mosaic[1:4, 1:5].sum() == 0  # white border, black first tile


def test_save_mosaic_scales_small_tiles(tmp_path: Path) -> None:
    path = plots.save_mosaic(torch.rand(6, 1, 8, 8), tmp_path / "m.png", ncols=3, min_tile=32)
    width, height = decoded(path)
    assert width == 4 * (3 * 9 + 1) and height == 4 * (2 * 9 + 1)


def test_loss_curves_with_and_without_validation(tmp_path: Path) -> None:
    history = [
        {
            "epoch": e,
            "train_elbo": -30.0 + e,
            "train_log_px_z": -28.0 + e,
            "train_kl_z": 2.0,
            "val_elbo": -31.0 + e,
            "val_log_px_z": -29.0 + e,
            "val_kl_z": 2.0,
            "seconds": 0.1,
        }
        for e in range(1, 5)
    ]
    fig = plots.loss_curves_figure(history)
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2]  # train and val on each panel
    plots.save_figure(fig, tmp_path / "a.png")
    no_val = [{k: v for k, v in r.items() if not k.startswith("val")} for r in history]
    assert [len(ax.lines) for ax in plots.loss_curves_figure(no_val).axes] == [1, 1, 1]
    assert min(decoded(tmp_path / "a.png")) > 100


@pytest.mark.parametrize("latent_dim", [1, 2, 5])
def test_latent_map_projection_title(tmp_path: Path, latent_dim: int) -> None:
    z = torch.randn(60, latent_dim)
    y = torch.arange(60) % 3
    fig = plots.latent_map_figure(z, y, ("a", "b", "c"))
    title = fig.axes[0].get_title()
    expected = {1: "1-D latent", 2: "(z1, z2)", 5: "PCA projection of the 5-D"}[latent_dim]
    assert expected in title
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]
    plots.save_figure(fig, tmp_path / "z.png")
    assert decoded(tmp_path / "z.png")


def test_latent_map_without_labels_and_many_classes() -> None:
    assert "no labels" in plots.latent_map_figure(torch.randn(30, 2)).axes[0].get_title()
    fig = plots.latent_map_figure(torch.randn(30, 2), torch.arange(30))  # 30 classes: colour bar
    assert len(fig.axes) == 2


def test_manifold_decodes_a_grid(tmp_path: Path) -> None:
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (1, 4, 4))
    fig = plots.manifold_figure(model, n=5)
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == (5 * 5 + 1, 5 * 5 + 1)
    plots.save_figure(fig, tmp_path / "m.png")


def test_vector_data_figures(tmp_path: Path) -> None:
    x, x_hat = torch.randn(50, 12), torch.randn(50, 12)
    fig = plots.marginals_figure(x, x_hat)
    assert sum(ax.axison for ax in fig.axes) == plots.MAX_FEATURES
    plots.save_figure(fig, tmp_path / "h.png")
    fig = plots.reconstruction_scatter_figure(x[:, :3], x_hat[:, :3])
    assert sum(ax.axison for ax in fig.axes) == 3
    plots.save_rows_png(x, tmp_path / "rows.png", "rows")
    assert decoded(tmp_path / "h.png") and decoded(tmp_path / "rows.png")
