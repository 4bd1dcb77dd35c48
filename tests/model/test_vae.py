import numpy as np
import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.errors import DataError
from vaekit.model.vae import VAE


def test_distributions_have_the_documented_shapes(small_model, binary_data):
    x = binary_data[:8]
    qz = small_model.qz(x)
    assert qz.batch_shape == (8,) and qz.event_shape == (2,)
    assert small_model.pz().event_shape == (2,)
    px = small_model.px(qz.rsample((3,)))
    assert px.batch_shape == (3, 8) and px.event_shape == (1, 4, 4)


def test_reparameterised_sample_carries_gradients(small_model, binary_data):
    t = small_model.terms(binary_data[:8])
    t.objective.mean().backward()
    assert all(p.grad is not None for p in small_model.encoder.parameters())


@pytest.mark.parametrize("k", [1, 5])
def test_terms_shapes(small_model, binary_data, k):
    t = small_model.terms(binary_data[:8], k=k)
    for v in (t.log_px_z, t.kl_z, t.elbo, t.objective):
        assert v.shape == (8,) and torch.isfinite(v).all()
    if k == 1:  # analytic KL; with k > 1 it is a Monte Carlo estimate
        assert (t.kl_z >= -1e-5).all()


def test_public_methods_shapes_and_numpy_input(small_model, binary_data):
    x = binary_data[:10]
    assert small_model.encode(x.numpy()).shape == (10, 2)
    assert small_model.encode(x.reshape(10, -1)).shape == (10, 2)  # flat input accepted
    assert not torch.equal(small_model.encode(x, sample=True), small_model.encode(x))
    assert small_model.decode(np.zeros((3, 2))).shape == (3, 1, 4, 4)
    r = small_model.reconstruct(x)
    assert r.shape == x.shape and ((0 <= r) & (r <= 1)).all()
    assert small_model.interpolate(x[0], x[1], steps=7).shape == (7, 1, 4, 4)
    assert small_model.elbo(x).elbo.shape == (10,)
    assert small_model.log_likelihood(x, k=20).shape == (10,)


def test_sample_is_seeded_and_leaves_global_rng_alone(small_model):
    state = torch.get_rng_state()
    a, b = small_model.sample(5, seed=3), small_model.sample(5, seed=3)
    assert torch.equal(a, b) and a.shape == (5, 1, 4, 4)
    assert torch.equal(state, torch.get_rng_state())
    assert not torch.equal(a, small_model.sample(5, seed=4))
    assert not torch.equal(small_model.sample(5), small_model.sample(5))  # unseeded: fresh draws


def test_interpolation_ends_decode_the_endpoints(small_model, binary_data):
    x = binary_data[:2]
    path = small_model.interpolate(x[0], x[1], steps=5)
    torch.testing.assert_close(path[[0, -1]], small_model.reconstruct(x))


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (
            torch.rand(3, 10),
            r"has shape \(3, 10\), but this model expects \(N, 1, 4, 4\) or \(N, 16\)",
        ),
        (
            torch.full((2, 16), float("nan")),
            r"missing value \(NaN\) at example 0, feature 0.*allow",
        ),
        (torch.tensor([[0.5] * 16, [0.5] * 15 + [float("inf")]]), "infinite value.*example 1"),
        (torch.full((2, 16), 2.0), r"needs data in \[0, 1\]"),
        (torch.zeros(0, 16), "is empty"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(small_model, x, message):
    with pytest.raises(DataError, match=message):
        small_model.encode(x)


def test_bad_latent_input(small_model):
    with pytest.raises(DataError, match=r"z has shape \(3, 5\), expected \(N, 2\)"):
        small_model.decode(torch.zeros(3, 5))
    with pytest.raises(DataError, match="NaN"):
        small_model.decode(torch.full((1, 2), float("inf")))


def test_standardised_real_data_round_trips_units():
    torch.manual_seed(0)
    loc, scale = torch.tensor([100.0, -5.0]), torch.tensor([10.0, 0.1])
    model = VAE(ModelConfig(latent_dim=1, hidden=(8,)), (2,), "real", loc, scale)
    x = loc + scale * torch.randn(50, 2)
    assert model.reconstruct(x).sub(loc).div(scale).abs().max() < 10  # back in data units
    # the density of data units includes the Jacobian of the standardisation
    t = model.terms(x)
    xs = (x - loc) / scale
    qz = model.qz(xs)
    torch.manual_seed(1)
    z = qz.rsample()
    torch.manual_seed(1)
    t = model.terms(x)
    expected = model.px(z).log_prob(xs) - scale.log().sum()
    torch.testing.assert_close(t.log_px_z, expected)


COMBINATIONS = [
    (likelihood, prior, network, conditional)
    for likelihood in ("bernoulli", "continuous-bernoulli", "gaussian")
    for prior in ("normal", "mixture", "vampprior")
    for network in ("mlp", "conv")
    for conditional in (False, True)
]


@pytest.mark.parametrize("likelihood,prior,network,conditional", COMBINATIONS)
def test_every_combination_has_the_right_shapes_and_finite_values(
    likelihood, prior, network, conditional, binary_data
):
    torch.manual_seed(0)
    config = ModelConfig(
        latent_dim=2,
        hidden=(8,),
        likelihood=likelihood,
        prior=prior,
        components=3,
        network=network,
        channels=(4,),
    )
    model = VAE(config, (1, 4, 4), "binary", y_dim=3 if conditional else 0)
    x = binary_data[:6]
    y = torch.arange(6) % 3 if conditional else None
    for k in (1, 3):
        t = model.terms(x, k=k, y=y)
        for v in (t.log_px_z, t.kl_z, t.elbo, t.objective):
            assert v.shape == (6,) and torch.isfinite(v).all()
    t.objective.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.encode(x, y=y).shape == (6, 2)
    assert model.sample(4, seed=0, y=1 if conditional else None).shape == (4, 1, 4, 4)
    assert model.reconstruct(x, y=y).shape == x.shape
    log_px = model.log_likelihood(x, k=7, y=y)
    assert log_px.shape == (6,) and torch.isfinite(log_px).all()


def test_conditional_model_checks_its_labels():
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (4,), y_dim=3)
    x = torch.rand(5, 4)
    with pytest.raises(DataError, match="this model is conditional: pass y, labels 0..2"):
        model.encode(x)
    with pytest.raises(DataError, match=r"labels must lie in 0..2, got values in \[0, 3\]"):
        model.encode(x, y=torch.tensor([0, 1, 2, 3, 0]))
    with pytest.raises(DataError, match=r"y has shape \(4,\), expected \(5,\) labels"):
        model.encode(x, y=torch.tensor([0, 1, 2, 0]))
    with pytest.raises(DataError, match=r"expected \(5, 3\) vectors"):
        model.encode(x, y=torch.rand(5, 2))
    with pytest.raises(DataError, match="NaN"):
        model.encode(x, y=torch.full((5, 3), float("nan")))
    with pytest.raises(DataError, match="not conditional"):
        VAE(ModelConfig(latent_dim=2), (4,)).sample(2, y=1)


def test_labels_are_one_hot_conditions():
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (4,), y_dim=3)
    x = torch.rand(3, 4)
    labels = np.array([2, 0, 1])
    torch.testing.assert_close(model.encode(x, y=labels), model.encode(x, y=torch.eye(3)[labels]))
    z = torch.zeros(1, 2)
    assert not torch.allclose(model.decode(z, y=0), model.decode(z, y=1))
    path = model.interpolate(x[0], x[1], steps=4, y_a=2, y_b=0)  # the label moves along too
    torch.testing.assert_close(path[0], model.reconstruct(x[:1], y=[2])[0])
    torch.testing.assert_close(path[-1], model.reconstruct(x[1:2], y=[0])[0])
