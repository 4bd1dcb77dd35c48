import math

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    Independent,
    MixtureSameFamily,
    Normal,
    kl_divergence,
)

from vaekit.model.objectives import elbo, free_bits_kl, iwae, kl, log_prob_observed, miwae


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


def test_free_bits_batch_mean_is_the_sum_of_floored_dimension_means():
    torch.manual_seed(0)
    # dimension 0 carries a lot of information, dimensions 1-2 almost none
    loc = torch.cat([3 * torch.randn(64, 1), 0.01 * torch.randn(64, 2)], 1).requires_grad_()
    qz, pz = _normal(loc, torch.ones(64, 3)), _normal(torch.zeros(3), torch.ones(3))
    z = qz.rsample()
    kl_d = kl_divergence(qz.base_dist, pz.base_dist)  # (B, L)
    floored = free_bits_kl(qz, pz, z, 0.5)
    want = kl_d.mean(0).clamp(min=0.5).sum()  # Kingma et al. 2016, eq. 15
    torch.testing.assert_close(floored.mean(), want)
    floored.mean().backward()
    assert loc.grad[:, 1:].abs().max() == 0  # dimensions below the floor get no gradient
    assert loc.grad[:, 0].abs().max() > 0


def test_free_bits_treat_a_non_factorised_prior_as_one_group():
    torch.manual_seed(0)
    qz = _normal(torch.randn(8, 2), torch.ones(8, 2))
    comp = _normal(torch.randn(3, 2), torch.ones(3, 2))
    pz = MixtureSameFamily(Categorical(logits=torch.zeros(3)), comp)
    z = qz.rsample()
    total = kl(qz, pz, z)  # (B,) Monte Carlo
    got = free_bits_kl(qz, pz, z, 100.0)
    torch.testing.assert_close(got, torch.full((8,), 200.0))  # floor lambda * L, no gradient
    torch.testing.assert_close(free_bits_kl(qz, pz, z, 1e-6), total)


def test_elbo_with_free_bits_changes_the_objective_not_the_bound():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    qz, pz = _normal(torch.zeros(4, 2), torch.ones(4, 2)), _normal(torch.zeros(2), torch.ones(2))
    z = qz.rsample()
    px = _normal(torch.zeros(4, 6), torch.ones(4, 6))
    t = elbo(x, qz, pz, px, z, free_bits=0.25)
    torch.testing.assert_close(t.kl_z, torch.zeros(4))  # q = p: no information
    torch.testing.assert_close(t.elbo, t.log_px_z)
    torch.testing.assert_close(t.objective, t.log_px_z - 0.5)  # 2 dims x 0.25 nats


def _dreg_setup():
    torch.manual_seed(0)
    x = torch.randn(3, 4)
    loc = torch.randn(3, 2, requires_grad=True)  # encoder parameters phi
    log_scale = (0.3 * torch.randn(3, 2)).requires_grad_()
    W = torch.randn(2, 4, requires_grad=True)  # decoder parameters theta
    eps = torch.randn(5, 3, 2)  # (k, B, L)
    return x, loc, log_scale, W, eps


def _dreg_terms(x, loc, log_scale, W, eps, dreg):
    qz = _normal(loc, log_scale.exp())
    z = loc + log_scale.exp() * eps  # (k, B, L) reparameterised
    pz = _normal(torch.zeros(2), torch.ones(2))
    px = _normal(z @ W, torch.ones(4))
    return iwae(x, qz, pz, px, z, dreg=dreg)


def test_dreg_gradient_matches_the_papers_estimator():
    x, loc, log_scale, W, eps = _dreg_setup()
    t = _dreg_terms(x, loc, log_scale, W, eps, dreg=True)
    t.objective.sum().backward()
    # reference, Tucker et al. 2018 eq. 7: sum_i w~_i^2 d log w_i / d z_i * d z_i / d phi,
    # log w_i with q's parameters held fixed
    z = (loc + log_scale.exp() * eps).detach().requires_grad_()
    q_fixed = _normal(loc.detach(), log_scale.exp().detach())
    pz = _normal(torch.zeros(2), torch.ones(2))
    log_w = (
        _normal(z @ W.detach(), torch.ones(4)).log_prob(x) + pz.log_prob(z) - q_fixed.log_prob(z)
    )
    (dlogw_dz,) = torch.autograd.grad(log_w.sum(), z)  # (k, B, L): each z_i only in its log w_i
    w2 = torch.softmax(log_w.detach(), 0).square()[..., None]  # (k, B, 1)
    g = w2 * dlogw_dz
    torch.testing.assert_close(loc.grad, g.sum(0))  # dz/dloc = 1
    torch.testing.assert_close(log_scale.grad, (g * eps * log_scale.exp()).sum(0))
    # the decoder's gradient is the plain IWAE gradient, and the bound's value is unchanged
    W_dreg = W.grad.clone()
    W.grad = None
    plain = _dreg_terms(x, loc.detach(), log_scale.detach(), W, eps, dreg=False)
    plain.objective.sum().backward()
    torch.testing.assert_close(W_dreg, W.grad)
    torch.testing.assert_close(t.objective, plain.objective)


def test_dreg_and_iwae_encoder_gradients_agree_in_expectation():
    torch.manual_seed(1)
    x = torch.randn(1, 4)
    W = torch.randn(2, 4)

    def grads(dreg, n=4000):
        loc = torch.zeros(n, 2, requires_grad=True)
        qz = _normal(loc, torch.full((n, 2), 0.8))
        z = qz.rsample((3,))  # (k, n, L)
        px = _normal(z @ W, torch.ones(4))
        pz = _normal(torch.zeros(2), torch.ones(2))
        iwae(x.expand(n, 4), qz, pz, px, z, dreg=dreg).objective.sum().backward()
        return loc.grad  # (n, L): n independent gradient estimates

    g_dreg, g_iwae = grads(True), grads(False)
    diff = g_dreg.mean(0) - g_iwae.mean(0)
    stderr = ((g_dreg.var(0) + g_iwae.var(0)) / len(g_dreg)).sqrt()
    assert (diff.abs() < 4 * stderr).all(), (diff, stderr)
    assert (g_dreg.var(0) < g_iwae.var(0)).all()  # the point of DReG: lower variance


def test_miwae_is_the_iwae_bound_when_nothing_is_missing():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    qz = _normal(torch.randn(4, 2), torch.rand(4, 2) + 0.5)
    pz = _normal(torch.zeros(2), torch.ones(2))
    z = qz.rsample((5,))  # (k, B, L)
    px = _normal(z @ torch.ones(2, 6), torch.ones(5, 4, 6))
    full = torch.ones_like(x, dtype=torch.bool)
    a, b = miwae(x, qz, pz, px, z, full), iwae(x, qz, pz, px, z)
    for name in ("log_px_z", "kl_z", "elbo", "objective"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name))


def test_miwae_scores_the_observed_entries_only():
    torch.manual_seed(0)
    x = torch.randn(4, 6)
    mask = torch.rand(4, 6) > 0.5
    qz = _normal(torch.randn(4, 2), torch.rand(4, 2) + 0.5)
    pz = _normal(torch.zeros(2), torch.ones(2))
    z = qz.rsample((3,))  # (k, B, L)
    mean, scale = z @ torch.randn(2, 6), torch.rand(6) + 0.5  # (k, B, D), (D,)
    px = _normal(mean, scale.expand(3, 4, 6))
    t = miwae(torch.where(mask, x, torch.nan), qz, pz, px, z, mask)  # NaN where missing
    assert torch.isfinite(t.objective).all()
    hand = torch.stack(  # log p(x_obs|z) from the observed coordinates' own Normal, per example
        [_normal(mean[:, i, m], scale[m]).log_prob(x[i, m]) for i, m in enumerate(mask)], 1
    )  # (k, B)
    log_w = hand + pz.log_prob(z) - qz.log_prob(z)
    torch.testing.assert_close(t.objective, torch.logsumexp(log_w, 0) - math.log(3))
    torch.testing.assert_close(log_prob_observed(px, x, mask), hand)


def test_masked_elbo_is_the_observed_data_elbo():
    torch.manual_seed(0)
    x, mask = (torch.rand(4, 6) > 0.5).float(), torch.rand(4, 6) > 0.3
    qz, pz = _normal(torch.randn(4, 2), torch.ones(4, 2)), _normal(torch.zeros(2), torch.ones(2))
    z = qz.rsample()
    px = Independent(Bernoulli(logits=torch.randn(4, 6)), 1)
    t = elbo(x, qz, pz, px, z, mask=mask)
    hand = (px.base_dist.log_prob(x) * mask).sum(-1)
    torch.testing.assert_close(t.log_px_z, hand)
    torch.testing.assert_close(t.elbo, hand - kl_divergence(qz, pz))
