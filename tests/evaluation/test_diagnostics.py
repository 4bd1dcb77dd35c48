"""Latent diagnostics: active units, KL per dimension, reconstruction error."""

import numpy as np
import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.evaluation import diagnostics
from vaekit.model.vae import VAE


def test_units_the_encoder_ignores_are_inactive(binary_data):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=5, hidden=(16,)), (1, 4, 4))
    last = model.encoder.net[-1]  # rows 0..L-1 give the posterior means
    with torch.no_grad():
        last.weight[:3] *= 20  # units 0-2 vary strongly with x
        last.weight[3:5] = 0  # units 3-4 ignore x: constant posterior mean
        last.bias[3:5] = 0.5
    activity = diagnostics.unit_activity(model, binary_data)  # (5,)
    assert (activity[:3] > 0.01).all() and (activity[3:] == 0).all()
    assert diagnostics.active_units(model, binary_data) == 3
    assert diagnostics.active_units(model, binary_data, threshold=float("inf")) == 0


def test_kl_per_dim_matches_the_closed_form_and_sums_to_the_kl(binary_data, small_model):
    kl_dims = diagnostics.mean_kl_per_dim(small_model, binary_data, batch_size=100)  # (2,)
    qz = small_model.qz(binary_data)
    mu, s = qz.mean, qz.stddev  # (256, 2)
    expected = (0.5 * (mu**2 + s**2 - 1) - s.log()).mean(0)
    torch.testing.assert_close(kl_dims, expected.detach())
    kl_total = torch.distributions.kl_divergence(qz, small_model.pz()).mean()
    assert kl_dims.sum().item() == pytest.approx(kl_total.item(), rel=1e-5)


def test_recon_error_is_the_squared_error_per_feature(binary_data, small_model):
    x_hat = small_model.reconstruct(binary_data)  # (256, 1, 4, 4)
    expected = (x_hat - binary_data).square().mean().item()
    assert diagnostics.recon_error(small_model, binary_data, batch_size=50) == pytest.approx(
        expected, rel=1e-5
    )


@pytest.mark.parametrize("latent_dim", [1, 2, 5])
def test_projection_maps_points_back_onto_its_plane(latent_dim: int) -> None:
    z = np.random.default_rng(0).normal(size=(50, latent_dim)) * np.arange(1, latent_dim + 1)
    view = diagnostics.projection(z)
    p = view.points(z)  # (50, 2)
    assert p.shape == (50, 2)
    assert np.allclose(view.points(view.latent(p)), p)  # back and forth is the identity
    if latent_dim <= 2:
        assert np.allclose(view.latent(p), z)  # nothing is lost
    else:
        assert view.title.startswith("PCA") and view.axes == ("PC1", "PC2")
        assert np.allclose(view.basis @ view.basis.T, np.eye(2))
        assert p[:, 0].var() >= p[:, 1].var()  # the first component carries the most variance
