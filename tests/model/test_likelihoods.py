import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent

from vaekit.errors import ConfigError, DataError
from vaekit.model.likelihoods import make_likelihood


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
    assert make_likelihood("auto", (2,), "grey").name == "bernoulli"
    assert make_likelihood("auto", (2,), "real").name == "gaussian"


def test_unknown_likelihood_and_out_of_support_data():
    with pytest.raises(ConfigError, match="unknown likelihood 'poisson'"):
        make_likelihood("poisson", (2,))
    with pytest.raises(DataError, match=r"needs data in \[0, 1\]"):
        make_likelihood("bernoulli", (2,)).check(torch.tensor([[0.5, 1.5]]))
