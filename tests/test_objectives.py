import math

import pytest
import torch
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    Normal,
    kl_divergence,
)

from vaekit.objectives import elbo, iwae, kl


def _normal(loc, scale):
    return Independent(Normal(loc, scale), 1)


def test_analytic_kl_matches_closed_form_and_monte_carlo():
    torch.manual_seed(0)
    loc, scale = torch.randn(5, 3), torch.rand(5, 3) + 0.3
    qz, pz = _normal(loc, scale), _normal(torch.zeros(3), torch.ones(3))
    z = qz.sample()
    analytic = kl(qz, pz, z)
    closed_form = 0.5 * (scale**2 + loc**2 - 1 - 2 * scale.log()).sum(-1)
    torch.testing.assert_close(analytic, closed_form)
    torch.testing.assert_close(analytic, kl_divergence(qz, pz))
    zs = qz.sample((200_000,))  # (S, 5, 3)
    mc = (qz.log_prob(zs) - pz.log_prob(zs)).mean(0)
    torch.testing.assert_close(mc, analytic, atol=0.03, rtol=0.01)


def test_kl_falls_back_to_monte_carlo_without_closed_form():
    # a mixture prior has no closed-form KL against a Gaussian posterior
    mix = Categorical(torch.tensor([0.3, 0.7]))
    comp = Independent(
        Normal(torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, -1.0]]), torch.ones(2, 3)), 1
    )
    pz = MixtureSameFamily(mix, comp)
    qz = Independent(Normal(torch.zeros(2, 3), torch.ones(2, 3)), 1)
    z = torch.randn(2, 3)
    with pytest.raises(NotImplementedError):
        kl_divergence(qz, pz)
    torch.testing.assert_close(kl(qz, pz, z), qz.log_prob(z) - pz.log_prob(z))


def test_elbo_terms_and_beta():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    qz, pz = _normal(torch.randn(4, 2), torch.ones(4, 2)), _normal(torch.zeros(2), torch.ones(2))
    z = qz.rsample()
    px = _normal(torch.zeros(4, 6), torch.ones(4, 6))
    t = elbo(x, qz, pz, px, z, beta=0.5)
    hand = (-0.5 * x**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(t.log_px_z, hand)
    torch.testing.assert_close(t.elbo, t.log_px_z - t.kl_z)
    torch.testing.assert_close(t.objective, t.log_px_z - 0.5 * t.kl_z)


def test_iwae_with_one_sample_equals_the_single_sample_elbo_estimate():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    qz = _normal(torch.randn(4, 2), torch.rand(4, 2) + 0.5)
    pz = _normal(torch.zeros(2), torch.ones(2))
    z = qz.rsample((1,))  # (1, B, L)
    px = _normal(z @ torch.ones(2, 6), torch.ones(1, 4, 6))
    t = iwae(x, qz, pz, px, z)
    mc_elbo = px.log_prob(x)[0] + pz.log_prob(z[0]) - qz.log_prob(z[0])
    torch.testing.assert_close(t.objective, mc_elbo)
