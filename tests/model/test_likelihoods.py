import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError
from vaekit.model.likelihoods import (
    LOG_SCALE_INIT,
    DiscretizedLogistic,
    make_likelihood,
    resolve,
)


def test_bernoulli_log_prob_is_the_cross_entropy():
    logits, x = torch.randn(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    px = make_likelihood("bernoulli", (1, 2, 2))(logits)
    p = torch.sigmoid(logits)
    hand = (x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))
    torch.testing.assert_close(px.log_prob(x), hand)
    assert px.log_prob(x).shape == (3,)


def test_fast_bernoulli_log_prob_equals_torch_for_binary_and_grey_values():
    logits = 6 * torch.randn(3, 50, 1, 2, 2)
    lik = make_likelihood("bernoulli", (1, 2, 2))
    for x in ((torch.rand(50, 1, 2, 2) > 0.5).float(), torch.rand(50, 1, 2, 2)):
        expected = Independent(Bernoulli(logits=logits, validate_args=False), 3).log_prob(x)
        torch.testing.assert_close(lik(logits).log_prob(x), expected)  # (3, 50)


def test_continuous_bernoulli_log_prob_includes_its_normaliser():
    logits, x = torch.tensor([[0.3, -1.2]]), torch.tensor([[0.2, 0.9]])
    px = make_likelihood("continuous-bernoulli", (2,))(logits)
    lam = torch.sigmoid(logits)
    log_c = torch.log(2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam))
    hand = (x * lam.log() + (1 - x) * (1 - lam).log() + log_c).sum(-1)
    torch.testing.assert_close(px.log_prob(x), hand)


@pytest.mark.parametrize("scale", [None, 0.5])
def test_gaussian_log_prob(scale):
    lik = make_likelihood("gaussian", (3,), "real", scale)
    mu, x = torch.randn(2, 3), torch.randn(2, 3)
    s = 1.0 if scale is None else scale  # learned scale starts at 1
    hand = (-0.5 * ((x - mu) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(lik(mu).log_prob(x), hand, atol=1e-3, rtol=1e-4)
    assert (scale is None) == any(p.requires_grad for p in lik.parameters())


def test_auto_picks_by_data_kind():
    assert make_likelihood("auto", (2,), "binary").name == "bernoulli"
    assert make_likelihood("auto", (2,), "grey").name == "gaussian"
    assert make_likelihood("auto", (2,), "grey", levels=256).name == "discretized-logistic"
    assert make_likelihood("auto", (2,), "real").name == "gaussian"


def test_unknown_likelihood_and_out_of_support_data():
    with pytest.raises(ConfigError, match="unknown likelihood 'poisson'"):
        make_likelihood("poisson", (2,))
    with pytest.raises(DataError, match=r"needs data in \[0, 1\]"):
        make_likelihood("bernoulli", (2,)).check(torch.tensor([[0.5, 1.5]]))


def _direct_probabilities(loc: float, log_scale: float, levels: int) -> torch.Tensor:
    """P(k) of the discretized logistic as CDF differences, float64, for k = 0..levels-1."""
    n = levels - 1
    edges = (torch.arange(levels, dtype=torch.float64)[:-1] + 0.5) / n  # upper edges of bins
    cdf = torch.sigmoid((edges - loc) / math.exp(log_scale))
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), cdf, torch.ones(1, dtype=torch.float64)])
    return cdf[1:] - cdf[:-1]  # (levels,)


@pytest.mark.parametrize(
    ("loc", "log_scale", "levels"),
    [(0.3, -3.0, 256), (-0.5, -1.0, 256), (1.4, -5.0, 256), (0.5, 0.5, 17), (0.7, -6.9, 256)],
)
def test_discretized_logistic_sums_to_one_and_matches_cdf_differences(loc, log_scale, levels):
    x = torch.arange(levels, dtype=torch.float64) / (levels - 1)  # every level
    px = DiscretizedLogistic(
        torch.full((levels,), loc, dtype=torch.float64),
        torch.full((levels,), log_scale, dtype=torch.float64),
        levels,
    )
    p = px.log_prob(x).exp()
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-9)
    direct = _direct_probabilities(loc, log_scale, levels)
    torch.testing.assert_close(p, direct, atol=1e-12, rtol=1e-6)
    assert float(px.mean[0]) == pytest.approx(float((direct * x).sum()), abs=1e-9)


def test_discretized_logistic_is_finite_far_in_the_tails():
    # a pixel 200 levels away from a sharp location: sigma(a) - sigma(b) underflows in float32,
    # the log-space form does not
    px = DiscretizedLogistic(torch.tensor([0.0]), torch.tensor([-7.0]), 256)
    lp = px.log_prob(torch.tensor([200 / 255]))
    assert torch.isfinite(lp).all() and lp.item() < -100


def test_discretized_logistic_samples_lie_on_the_grid_with_the_right_frequencies():
    torch.manual_seed(0)
    px = DiscretizedLogistic(torch.full((20000,), 0.5), torch.full((20000,), -3.0), 256)
    x = px.sample()
    assert torch.allclose(x * 255, (x * 255).round()) and x.min() >= 0 and x.max() <= 1
    p = _direct_probabilities(0.5, -3.0, 256)
    counts = torch.bincount((x * 255).round().long(), minlength=256).double() / 20000
    assert float((counts - p).abs().sum()) < 0.1  # total variation of 20000 draws


def test_discretized_logistic_likelihood_takes_location_and_log_scale_from_the_decoder():
    lik = make_likelihood("discretized-logistic", (1, 2, 2), levels=256)
    assert lik.n_params == 2 and lik.param_shape == (2, 1, 2, 2)
    params = torch.zeros(3, 2, 1, 2, 2)
    px = lik(params)
    assert px.event_shape == (1, 2, 2) and px.batch_shape == (3,)
    assert float(px.base_dist.log_scale[0, 0, 0, 0]) == pytest.approx(LOG_SCALE_INIT, abs=1e-5)
    with pytest.raises(DataError, match="needs values on 256 levels"):
        lik.check(torch.tensor([[[[0.5, 0.1], [0.0, 1.0]]]]))


@pytest.mark.parametrize(
    ("kind", "levels", "name"),
    [
        ("binary", None, "bernoulli"),
        ("grey", 256, "discretized-logistic"),
        ("rgb", 256, "discretized-logistic"),
        ("grey", 17, "discretized-logistic"),
        ("grey", None, "gaussian"),
        ("real", None, "gaussian"),
    ],
)
def test_auto_resolves_from_the_data(kind, levels, name):
    config = resolve(ModelConfig(), kind, levels)
    assert config.likelihood == name
    assert config.levels == (levels if name == "discretized-logistic" else None)
    assert resolve(ModelConfig(likelihood="bernoulli"), kind, levels).likelihood == "bernoulli"


def test_gaussian_scale_starts_at_the_given_spread():
    lik = make_likelihood("gaussian", (3,))
    lik.init_scale(torch.tensor([0.2, 1.0, 3.0]))
    torch.testing.assert_close(lik.scale(), torch.tensor([0.2, 1.0, 3.0]) + 1e-4)
