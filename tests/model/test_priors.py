import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.model.objectives import kl
from vaekit.model.priors import GaussianMixture, MixturePrior, StandardNormal, VampPrior, make_prior
from vaekit.model.vae import VAE


def test_standard_normal_prior():
    pz = make_prior(ModelConfig(latent_dim=3), (4,))()
    assert pz.event_shape == (3,)
    torch.testing.assert_close(pz.mean, torch.zeros(3))
    torch.testing.assert_close(pz.stddev, torch.ones(3))


def test_make_prior_builds_each_registered_prior():
    for name, cls in [
        ("normal", StandardNormal),
        ("mixture", MixturePrior),
        ("vampprior", VampPrior),
    ]:
        assert isinstance(make_prior(ModelConfig(prior=name, components=3), (1, 4, 4)), cls)
    with pytest.raises(ConfigError, match="unknown prior 'vamp'; choose from normal, mixture"):
        ModelConfig(prior="vamp")


def test_mixture_log_density_is_the_weighted_sum_of_its_gaussians():
    torch.manual_seed(0)
    prior = MixturePrior(latent_dim=2, components=3)
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.0, 1.0, -1.0]))
        prior.log_scale.copy_(0.3 * torch.randn(3, 2))
    z = torch.randn(5, 4, 2)  # (k, B, L)
    pi = torch.softmax(prior.logits, 0)
    parts = Independent(Normal(prior.loc, prior.log_scale.exp()), 1)
    hand = torch.logsumexp(pi.log() + parts.log_prob(z[..., None, :]), -1)  # (k, B)
    torch.testing.assert_close(prior().log_prob(z), hand, atol=1e-4, rtol=1e-5)


def test_vampprior_is_the_average_posterior_at_its_pseudo_inputs():
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,), prior="vampprior", components=4), (1, 3, 3))
    z = torch.randn(6, 2)
    qu = model.qz(model.prior.u)  # batch (K,)
    hand = torch.logsumexp(qu.log_prob(z[:, None, :]), -1) - math.log(4)  # (6,)
    torch.testing.assert_close(model.pz().log_prob(z), hand, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("prior", ["mixture", "vampprior"])
def test_learned_priors_train_through_the_monte_carlo_kl(prior, binary_data):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,), prior=prior, components=3), (1, 4, 4))
    t = model.terms(binary_data[:16])
    assert torch.isfinite(t.objective).all()
    t.objective.mean().backward()
    for name, p in model.prior.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    if prior == "vampprior":  # the prior also trains the encoder through the pseudo-inputs
        model.zero_grad()
        model.pz().log_prob(torch.randn(5, 2)).sum().backward()
        assert all(p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_conditional_vampprior_learns_a_condition_per_pseudo_input():
    model = VAE(
        ModelConfig(latent_dim=2, hidden=(8,), prior="vampprior", components=5), (4,), y_dim=3
    )
    assert model.prior.c.shape == (5, 3)
    assert model.pz().batch_shape == () and model.pz().event_shape == (2,)


def test_monte_carlo_kl_matches_the_analytic_kl_for_the_standard_normal_prior(binary_data):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=3, hidden=(16,)), (1, 4, 4))
    with torch.no_grad():
        qz, pz = model.qz(binary_data[:8]), model.pz()
        analytic = kl(qz, pz, qz.sample())  # (B,) closed form
        z = qz.sample((100_000,))  # (S, B, L)
        mc = (qz.log_prob(z) - pz.log_prob(z)).mean(0)
    torch.testing.assert_close(mc, analytic, atol=0.02, rtol=0.02)


def test_gaussian_mixture_matches_torchs_mixture_and_samples_from_it():
    torch.manual_seed(0)
    logits, loc, scale = torch.randn(7), 2 * torch.randn(7, 4), 0.05 + torch.rand(7, 4)
    fast = GaussianMixture(logits, loc, scale)
    ref = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(loc, scale), 1))
    z = ref.sample((3, 50))  # (3, 50, 4): points where the density is high
    torch.testing.assert_close(fast.log_prob(z), ref.log_prob(z), atol=2e-4, rtol=1e-5)
    draws = fast.sample((40_000,))  # (S, L)
    assert draws.shape == (40_000, 4)
    torch.testing.assert_close(draws.mean(0), ref.mean, atol=0.05, rtol=0)
    torch.testing.assert_close(fast.mean, ref.mean)
