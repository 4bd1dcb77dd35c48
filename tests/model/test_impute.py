"""Imputation (Mattei & Frellsen 2019) against a model whose conditionals are known exactly.

A linear-Gaussian VAE (1-D latent, linear decoder x = b + w z + s eps) has p(x) = N(b, C) with
C = w w^T + s^2 I, so E[x_miss | x_obs] = b_m + C_mo C_oo^-1 (x_o - b_o) in closed form.
"""

import numpy as np
import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError
from vaekit.model.vae import VAE

D, S = 4, 0.3


def _linear_model(mask_input: bool = True) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """The model, its decoder weights w (D,) and offsets b (D,); q(z|x) is the prior N(0, 1)."""
    torch.manual_seed(0)
    config = ModelConfig(
        latent_dim=1, hidden=(), likelihood="gaussian", gaussian_scale=S, mask_input=mask_input
    )
    model = VAE(config, (D,), "real")
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.zero_()  # loc 0, log-variance 0: a valid (if plain) proposal
        dec = model.decoder.net[0]
        dec.weight.copy_(torch.tensor([[1.5], [-1.0], [0.8], [2.0]]))
        dec.bias.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    return model, dec.weight.detach()[:, 0], dec.bias.detach()


def _conditional_mean(w, b, x, mask):
    """E[x | x_obs] per row: observed entries as they are, missing ones from the Gaussian."""
    cov = torch.outer(w, w) + S**2 * torch.eye(D)
    out = x.clone()
    for i, m in enumerate(mask):
        o = m.nonzero()[:, 0]
        u = (~m).nonzero()[:, 0]
        gain = cov[u][:, o] @ torch.linalg.inv(cov[o][:, o])  # (|u|, |o|)
        out[i, u] = b[u] + gain @ (x[i, o] - b[o])
    return out


@pytest.mark.parametrize("mask_input", [True, False])
def test_single_imputation_recovers_the_gaussian_conditional_mean(mask_input):
    model, w, b = _linear_model(mask_input)
    torch.manual_seed(1)
    x = b + torch.randn(6, 1) * w + S * torch.randn(6, D)  # (6, D) from the model
    mask = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 0]] * 2, dtype=torch.bool)
    x_miss = torch.where(mask, x, torch.nan)
    got = model.impute(x_miss, k=20000, seed=0)
    torch.testing.assert_close(got, _conditional_mean(w, b, x, mask), atol=0.05, rtol=0)


def test_multiple_imputations_average_to_the_conditional_mean():
    model, w, b = _linear_model()
    x = torch.tensor([[0.2, float("nan"), 1.0, float("nan")]])
    draws = model.impute(x, draws=4000, k=2000, seed=0)  # (M, 1, D)
    assert draws.shape == (4000, 1, D)
    mask = ~torch.isnan(x)
    expected = _conditional_mean(w, b, x.nan_to_num(), mask)
    torch.testing.assert_close(draws.mean(0), expected, atol=0.08, rtol=0)
    assert draws[:, 0, 1].std() > 0.1  # draws, not one value repeated


def test_observed_entries_are_never_changed():
    model, _, _ = _linear_model()
    x = torch.randn(50, D) * 1e3 + torch.rand(50, D) * 1e-5  # values with all their bits used
    x[torch.rand(50, D) < 0.4] = torch.nan
    observed = ~torch.isnan(x)
    single = model.impute(x, k=10, seed=0)
    multiple = model.impute(x, draws=3, k=10, seed=0)
    assert torch.equal(single[observed], x[observed])
    assert all(torch.equal(m[observed], x[observed]) for m in multiple)
    assert torch.isfinite(single).all() and torch.isfinite(multiple).all()
    assert torch.equal(model.impute(x, k=10, seed=3), model.impute(x, k=10, seed=3))


def test_bad_imputation_arguments_are_clear_errors():
    model, _, _ = _linear_model()
    with pytest.raises(ConfigError, match="draws must be an integer >= 0, got -1"):
        model.impute(torch.zeros(2, D), draws=-1)
    with pytest.raises(DataError, match="infinite value"):
        model.impute(torch.full((2, D), float("inf")))
    x = torch.tensor([[0.2, float("nan"), 1.0, 0.0]])
    for options, match in [
        ({"draws": 1.5}, "draws must be an integer >= 0, got 1.5"),
        ({"k": 2.5}, "k must be an integer >= 1, got 2.5"),
        ({"k": "10"}, "k must be an integer >= 1, got '10'"),
        ({"draws": True}, "draws must be an integer >= 0, got True"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"seed": 0.5}, "seed must be a 64-bit integer or None, got 0.5"),
        ({"seed": 2**64}, "seed must be a 64-bit integer or None"),
    ]:
        with pytest.raises(ConfigError, match=match):
            model.impute(x, **options)
    assert model.impute(x, draws=np.int64(2), k=np.int32(5)).shape == (2, 1, D)


def _overflowing_model() -> VAE:
    """A model of standardized data whose encoder's log-variance grows with the first feature:
    far from the data its scale exp(0.5 log_var) overflows to inf."""
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=1, hidden=(), likelihood="gaussian", mask_input=True)
    model = VAE(config, (D,), "real", torch.zeros(D), torch.ones(D))
    with torch.no_grad():
        enc = model.encoder.net[0]  # (2L, 2D): loc and log-variance from data and mask
        enc.weight.zero_()
        enc.bias.zero_()
        enc.weight[1, 0] = 1.0  # log-variance = x_0
    return model


@pytest.mark.parametrize("draws", [0, 2])
@pytest.mark.parametrize("value", [1e4, 1e6, 3e38])
def test_rows_far_outside_the_data_are_one_clear_error_never_a_nan_fill(value, draws):
    model = _overflowing_model()
    x = torch.full((5, D), float("nan"))
    x[:, 0] = torch.tensor([0.5, value, -1.0, value, 0.0])
    with pytest.raises(DataError, match=r"^rows 1, 3 \(counting from 0\): the model gives no "
                       r"finite likelihood to their observed values \(far outside the training "
                       r"data\?\)"):  # fmt: skip
        model.impute(x, draws=draws, k=20, seed=0, batch_size=2)  # rows 1 and 3: two batches
    ok = model.impute(x[[0, 2, 4]], draws=draws, k=20, seed=0)  # the other rows fill
    assert torch.isfinite(ok).all()


def test_a_complete_row_far_outside_the_data_is_returned_as_it_is():
    model = _overflowing_model()
    x = torch.tensor([[1e6, 1.0, 2.0, 3.0], [0.0, float("nan"), 1.0, 1.0]])
    out = model.impute(x, k=10, seed=0)
    assert torch.equal(out[0], x[0]) and torch.isfinite(out).all()


COMBINATIONS = [
    (likelihood, network, conditional)
    for likelihood in ("bernoulli", "continuous-bernoulli", "gaussian")
    for network in ("mlp", "conv")
    for conditional in (False, True)
]


@pytest.mark.parametrize("likelihood,network,conditional", COMBINATIONS)
def test_every_likelihood_and_network_handles_missing_entries(
    likelihood, network, conditional, binary_data
):
    torch.manual_seed(0)
    config = ModelConfig(
        latent_dim=2,
        hidden=(8,),
        likelihood=likelihood,
        network=network,
        channels=(4,),
        mask_input=True,
    )
    model = VAE(config, (1, 4, 4), "binary", y_dim=3 if conditional else 0)
    x = binary_data[:6].clone()
    x[torch.rand(x.shape) < 0.5] = torch.nan
    y = torch.arange(6) % 3 if conditional else None
    for k in (1, 3):
        t = model.terms(x, k=k, y=y)
        assert all(torch.isfinite(v).all() for v in (t.log_px_z, t.kl_z, t.objective))
    t.objective.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(model.log_likelihood(x, k=5, y=y)).all()
    filled = model.impute(x, k=5, y=y, seed=0)
    assert filled.shape == x.shape and torch.isfinite(filled).all()
    if likelihood != "gaussian":
        assert ((filled >= 0) & (filled <= 1)).all()  # the means of [0, 1] likelihoods
