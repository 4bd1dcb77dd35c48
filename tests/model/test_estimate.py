"""The importance-sampled log-likelihood against an exactly integrable model.

A linear-Gaussian VAE (1-D latent, linear decoder, fixed Gaussian noise) has
p(x) = N(b, w w^T + s^2 I) in closed form, and its exact posterior is Gaussian.
"""

import math

import torch
from torch.distributions import MultivariateNormal

from vaekit.config import ModelConfig
from vaekit.model import estimate
from vaekit.model.vae import VAE

D, S = 3, 0.5


def _linear_model(exact_posterior: bool) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """The model, 64 examples x (64, D) drawn from it, and their exact log p(x) (64,)."""
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=1, hidden=(), likelihood="gaussian", gaussian_scale=S)
    model = VAE(config, (D,), "real")
    dec = model.decoder.net[0]
    w, b = dec.weight.detach()[:, 0], dec.bias.detach()  # (D,), (D,)
    # exact posterior of z given x: precision 1 + |w|^2 / s^2, mean = var * w.(x - b) / s^2
    var = 1 / (1 + w @ w / S**2)
    enc = model.encoder.net[0]
    with torch.no_grad():
        enc.weight.zero_()
        enc.weight[0] = var * w / S**2
        enc.bias[0] = -var * (w @ b) / S**2
        enc.bias[1] = math.log(var)  # log-variance
        if not exact_posterior:  # a shifted, too wide proposal: poor but with light-tailed weights
            enc.bias[0] += 0.7
            enc.bias[1] += 2.0
    x = b + torch.randn(64, 1) * w + S * torch.randn(64, D)  # (64, D)
    exact = MultivariateNormal(b, torch.outer(w, w) + S**2 * torch.eye(D)).log_prob(x)
    return model, x, exact


def test_exact_posterior_gives_the_exact_likelihood_with_one_sample():
    model, x, exact = _linear_model(exact_posterior=True)
    torch.testing.assert_close(estimate.estimate(model, x, k=1).log_px, exact, atol=1e-4, rtol=1e-5)


def test_estimate_converges_to_the_true_log_likelihood_from_below():
    model, x, exact = _linear_model(exact_posterior=False)
    torch.manual_seed(1)
    gaps = [
        (exact - estimate.estimate(model, x, k=k).log_px).mean().item() for k in (1, 10, 100, 5000)
    ]
    assert gaps[0] > 0.1  # a poor proposal: the ELBO is visibly loose
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False))
    assert -0.01 < gaps[-1] < 0.02  # never above log p(x) beyond Monte Carlo error


def test_chunked_and_unchunked_agree():
    model, x, _ = _linear_model(exact_posterior=False)
    torch.manual_seed(5)
    a = estimate.importance_sample(model, x, k=300, chunk=300).log_px
    torch.manual_seed(5)
    b = estimate.importance_sample(model, x, k=300, chunk=300).log_px
    torch.manual_seed(5)
    c = estimate.importance_sample(model, x, k=300, chunk=7).log_px
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c, atol=0.05, rtol=0)  # different draws, same estimator
