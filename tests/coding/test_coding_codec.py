"""Bits-back compression: exact round trips, determinism, the rate against the ELBO, refusals."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

import vaekit
from vaekit.coding import bbans, codec, compress, compress_to, decompress, latent, pixels
from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import ConfigError, DataError
from vaekit.model.vae import VAE
from vaekit.training.loop import train

Images = Callable[..., tuple[torch.Tensor, torch.Tensor]]  #: conftest.binary_images


@pytest.mark.parametrize("n", [1, 37])
def test_round_trip_is_exact_with_shape_and_dtype(
    binary_model: VAE, n: int, images: Images
) -> None:
    x = images(n, seed=2)[0].numpy()  # (n, 1, 6, 6) float32
    restored = decompress(binary_model, compress(binary_model, x))
    assert restored.dtype == np.float32 and restored.shape == x.shape
    assert np.array_equal(restored, x)
    flat = x.reshape(n, -1).astype(bool)  # another shape and dtype, kept as given
    again = vaekit.decompress(binary_model, vaekit.compress(binary_model, flat))
    assert again.dtype == np.bool_ and np.array_equal(again, flat)


def test_several_chunks_round_trip(
    binary_model: VAE, monkeypatch: pytest.MonkeyPatch, images: Images
) -> None:
    monkeypatch.setattr(codec, "CHUNK_SIZE", 16)
    x = images(41, seed=3)[0].to(torch.uint8)
    data = compress(binary_model, x)
    assert data.count(b"CHNK") >= 3  # 16 + 16 + 9
    assert np.array_equal(decompress(binary_model, data), x.numpy())


def test_conditional_model_codes_its_labels(conditional_model: VAE, images: Images) -> None:
    x, y = images(25, seed=4)
    data = compress(conditional_model, x, y)
    restored, labels = decompress(conditional_model, data, return_labels=True)
    assert np.array_equal(restored, x.numpy()) and np.array_equal(labels, y.numpy())
    with pytest.raises(DataError, match="this model is conditional"):
        compress(conditional_model, x)
    with pytest.raises(DataError, match="integer labels"):
        compress(conditional_model, x, torch.nn.functional.one_hot(y, 4).float())


def test_the_same_bytes_whatever_the_threads(binary_model: VAE, images: Images) -> None:
    x = images(30, seed=5)[0]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = compress(binary_model, x)
        torch.set_num_threads(1)
        one = compress(binary_model, x)
        restored = decompress(binary_model, two)
    finally:
        torch.set_num_threads(threads)
    assert one == two and np.array_equal(restored, x.numpy())
    assert torch.get_num_threads() == threads  # restored after coding


def test_batched_encoder_rounds_like_one_example_at_a_time(
    binary_model: VAE, images: Images
) -> None:
    """Compression runs the encoder on a batch, decompression on one example: after rounding
    to the grid the parameters must agree exactly."""
    c = bbans.Codec(binary_model)
    x = images(200, seed=6)[0].reshape(200, -1).numpy().astype(np.uint8)
    batched = c.encoder_params(x, None)  # (200, 2, L)
    alone = np.stack([c.one_params(xi, None) for xi in x])  # (200, 2, L)
    assert np.array_equal(batched, alone)
    assert np.all(np.ldexp(batched, bbans.GRID_BITS) % 1 == 0)  # on the grid


def test_near_boundary_values_are_recomputed() -> None:
    step = 2.0**-bbans.GRID_BITS
    v = np.array([0.5 * step, 0.5 * step + 1e-13, 0.3 * step, 7.5 * step - 1e-12])
    assert bbans.near_boundary(v).tolist() == [True, True, False, True]


def test_posterior_table_is_the_gaussian_mass_per_bucket(binary_model: VAE) -> None:
    c = bbans.Codec(binary_model, latent_bits=6)
    params = np.array([[0.3, -2.0, 0.0, 1.0], [-1.0, -4.0, 0.0, 0.5]])  # (2, L): loc, log_var
    table = c.posterior_table(params)  # (L, 64)
    q = torch.distributions.Normal(torch.tensor(params[0]), torch.tensor(params[1]).mul(0.5).exp())
    edges = torch.special.ndtri(torch.arange(65, dtype=torch.float64) / 64)
    expected = torch.diff(q.cdf(edges[:, None]).T, dim=1).numpy()  # (L, 64)
    np.testing.assert_allclose(table, expected, atol=1e-12)
    np.testing.assert_allclose(table.sum(1), 1.0, atol=1e-12)
    # the prior itself (loc 0, scale 1) puts equal mass 1/64 in every bucket
    np.testing.assert_allclose(table[2], 1 / 64, rtol=1e-9)


def test_rate_is_close_to_the_negative_elbo(binary_model: VAE, images: Images) -> None:
    """BB-ANS costs -log p(x|z) - log p(z) + log q(z|x) per example: the -ELBO in bits, on
    average over the popped z (Townsend et al. 2019), plus the initial bits and framing."""
    x = images(300, seed=7)[0]
    report = compress_to(binary_model, x, io.BytesIO())
    torch.manual_seed(0)
    neg_elbo = -torch.stack([binary_model.elbo(x).elbo for _ in range(50)]).mean().item()
    expected = neg_elbo / math.log(2) / report.dims  # bits/dim
    assert report.payload_bits_per_dim == pytest.approx(expected, rel=0.03)
    assert report.bits_per_dim > report.payload_bits_per_dim  # the overhead is counted
    overhead = 8 * report.file_bytes - report.payload_bits_per_dim * report.count * report.dims
    assert overhead == pytest.approx(report.overhead_bits_per_dim * report.count * report.dims)
    assert report.initial_bits == 32 * (math.ceil(4 * 10 / 32) + 2)


@pytest.mark.parametrize("prior, y_dim", [("vampprior", 0), ("mixture", 0), ("vampprior", 4)])
def test_mixture_priors_round_trip_near_their_elbo(prior: str, y_dim: int, images: Images) -> None:
    """A Gaussian mixture p(z) is coded one latent dimension at a time (a conditional
    VampPrior's pseudo-inputs carry their own learned conditions)."""
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=3, hidden=(16,), prior=prior, components=5)
    model = VAE(config, (1, 6, 6), "binary", y_dim=y_dim).eval()
    x, labels = images(150, seed=10)
    y = labels if y_dim else None
    f = io.BytesIO()
    report = compress_to(model, x, f, y, latent_bits=8)
    assert np.array_equal(decompress(model, f.getvalue()), x.numpy())
    neg_elbo = -torch.stack([model.elbo(x, y=y).elbo for _ in range(50)]).mean().item()
    labels_bits = math.log2(y_dim) if y_dim else 0.0  # a label costs log2 C bits
    expected = (neg_elbo / math.log(2) + labels_bits) / report.dims  # bits/dim
    assert report.payload_bits_per_dim == pytest.approx(expected, rel=0.03)


def test_mixture_prior_table_is_the_mixture_mass(binary_model: VAE) -> None:
    logits = torch.tensor([0.0, 1.0])
    loc, scale = torch.tensor([[0.5, -1.0], [-0.25, 2.0]]), torch.tensor([[1.0, 0.5], [2.0, 0.25]])
    prior = latent.MixtureBuckets(16, logits, loc, scale)
    edges = prior.edges[0]  # (17,) dimension 0's
    pi = torch.softmax(logits.double(), 0)
    normal = torch.distributions.Normal(loc.double(), scale.double())  # (K, L)
    cdf = normal.cdf(edges[:, None, None])  # (17, K, L)
    first = (pi[:, None] * torch.diff(cdf[:, :, 0], dim=0).T).sum(0)  # (16,) dimension 0
    # within the rounding of the parameters to the 2**-12 grid
    np.testing.assert_allclose(torch.mv(prior.mass[0].T, prior.w0), first, atol=1e-4)
    w = prior.step(prior.w0, 0, 3)  # the component posterior after z_0 took bucket 3
    mass3 = torch.diff(cdf[:, :, 0], dim=0)[3]  # (K,)
    np.testing.assert_allclose(w, pi * mass3 / (pi * mass3).sum(), atol=1e-4)
    assert torch.equal(prior.step(prior.w0 * 0, 0, 3), prior.w0)  # no mass: start again


def test_mixture_buckets_have_equal_marginal_mass_and_follow_the_prior() -> None:
    """A trained VampPrior puts latents far outside N(0, 1) (|z| near 10): its buckets are the
    quantiles of each dimension's marginal mixture, so each has mass 1 / B under it, and the
    centres lie inside their buckets."""
    logits = torch.tensor([0.0, 0.5, -1.0])
    loc = torch.tensor([[8.0, -0.5], [-9.0, 0.0], [3.0, 0.2]])  # (K, L)
    scale = torch.tensor([[0.3, 0.01], [0.5, 0.02], [0.2, 0.05]])
    prior = latent.MixtureBuckets(64, logits, loc, scale)
    assert prior.edges.shape == (2, 65) and prior.centres.shape == (2, 64)
    marginal = torch.einsum("k,lkb->lb", prior.w0, prior.mass.double())  # (L, B)
    np.testing.assert_allclose(marginal, 1 / 64, atol=1e-9)
    assert (prior.edges[:, :-1] < prior.centres).all() and (
        prior.centres < prior.edges[:, 1:]
    ).all()
    assert prior.edges[0, 1] < -8 and prior.edges[0, -2] > 7  # the grid reaches the components


def test_eight_bit_grey_data_under_a_gaussian_likelihood(images: Images) -> None:
    """Values k / 255 are coded with the Gaussian's mass on each level's bin: about the
    continuous -ELBO plus log2(255) bits per value where the scale spans many levels."""
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=3, hidden=(16,), likelihood="gaussian", gaussian_scale=0.1)
    model = VAE(config, (1, 6, 6), "grey").eval()
    last = model.decoder.net[-1]  # means 0.5 everywhere: no mass beyond [0, 1] to renormalise
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(0.5)
    k = 60 + 120 * images(120, seed=11)[0] + torch.randint(0, 20, (120, 1, 6, 6))  # 60..199
    x = k.float() / 255  # float32, as loaders compute it
    f = io.BytesIO()
    report = compress_to(model, x, f)
    restored = decompress(model, f.getvalue())
    assert restored.dtype == np.float32 and np.array_equal(restored, x.numpy())
    neg_elbo = -torch.stack([model.elbo(x).elbo for _ in range(50)]).mean().item()
    expected = neg_elbo / math.log(2) / report.dims + math.log2(255)  # bits/dim
    assert report.payload_bits_per_dim == pytest.approx(expected, rel=0.03)
    with pytest.raises(DataError, match="Gaussian likelihood needs data on 256 levels"):
        compress(model, x + 0.001)
    with pytest.raises(DataError, match="k / 255 for integers k in 0..255"):
        compress(model, k.to(torch.uint8))


def level_model(levels: int, images: Images) -> tuple[VAE, torch.Tensor]:
    """A discretized-logistic model briefly trained on images of ``levels`` levels, and 61
    other such images (float32 k / (levels - 1))."""
    torch.manual_seed(0)
    n = levels - 1

    def grey(count: int, seed: int) -> torch.Tensor:
        x = images(count, seed=seed)[0]  # 0/1 prototypes with noise
        k = (torch.round(x * n * 0.8) + torch.randint(0, max(n // 5, 1) + 1, x.shape)).clamp(0, n)
        return k.float() / n

    config = ModelConfig(latent_dim=3, hidden=(32,), likelihood="discretized-logistic")
    model = VAE(config, (1, 6, 6), "grey", levels=levels)
    train(model, grey(300, 1), None, TrainConfig(epochs=20, batch_size=32), progress=False)
    return model.eval(), grey(61, 12)


@pytest.mark.parametrize("levels", [256, 17])
def test_data_on_levels_under_a_discretized_logistic(levels: int, images: Images) -> None:
    """8-bit images (and the 17 levels of scikit-learn's digits) are coded with the logistic's
    own bin masses: the rate is the model's -ELBO, the round trip exact."""
    model, x = level_model(levels, images)
    f = io.BytesIO()
    report = compress_to(model, x, f)
    restored = decompress(model, f.getvalue())
    assert restored.dtype == np.float32 and np.array_equal(restored, x.numpy())
    assert np.array_equal(decompress(model, compress(model, x[:1])), x[:1].numpy())
    torch.manual_seed(0)
    neg_elbo = -torch.stack([model.elbo(x).elbo for _ in range(50)]).mean().item()
    expected = neg_elbo / math.log(2) / report.dims  # bits/dim: no bin-width term
    assert report.payload_bits_per_dim == pytest.approx(expected, rel=0.03)
    with pytest.raises(DataError, match=f"discretized-logistic likelihood needs data on {levels}"):
        compress(model, x + 0.3 / (levels - 1))


def test_logistic_table_is_the_likelihoods_level_probabilities(images: Images) -> None:
    model, x = level_model(256, images)
    coder = pixels.make_pixels(model.double(), 36)
    assert isinstance(coder, pixels.LogisticLevels)
    out = model.decoder(model.encoder(x[:1].double())[0])[0].detach()  # (72,): (2, 1, 6, 6)
    table = coder.params(out)  # (36, 256)
    assert table.shape == (36, 256) and np.allclose(table.sum(1), 1.0, atol=1e-12)
    rounded = torch.from_numpy(latent.quantize(out.numpy())).unflatten(-1, (2, 1, 6, 6))
    levels = torch.arange(256, dtype=torch.float64)[:, None] / 255  # (256, 1)
    px = model.likelihood(rounded).base_dist  # batch (1, 6, 6)
    direct = px.log_prob(levels[:, :, None, None].expand(256, 1, 6, 6)).exp()  # (256, 1, 6, 6)
    np.testing.assert_allclose(table, direct.reshape(256, 36).T.numpy(), atol=1e-12)


def test_unsupported_models_and_data_are_refused(binary_model: VAE, images: Images) -> None:
    x = images(4)[0]
    cb = VAE(ModelConfig(latent_dim=2, hidden=(8,), likelihood="continuous-bernoulli"), (1, 6, 6))
    with pytest.raises(
        ConfigError, match="continuous-bernoulli likelihood, which is not supported"
    ):
        compress(cb, x)
    loc, scale = torch.full((1, 6, 6), 0.5), torch.full((1, 6, 6), 2.0)
    config = ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian")
    standardized = VAE(config, (1, 6, 6), "real", loc, scale)
    with pytest.raises(ConfigError, match="on standardized data"):
        compress(standardized, x)
    with pytest.raises(DataError, match="needs 0/1 data"):
        compress(binary_model, x * 0.5)
    with pytest.raises(DataError, match="codes examples of 36 values"):
        compress(binary_model, x.reshape(4, -1)[:, :30])
    with pytest.raises(DataError, match="empty"):
        compress(binary_model, x[:0])
    with pytest.raises(ConfigError, match="latent_bits"):
        compress(binary_model, x, latent_bits=20)
