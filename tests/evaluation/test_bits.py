"""Honest bits per dimension: a discrete likelihood's code length, the discretization-corrected
figure of a density, or nothing (issue 16)."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.evaluation.bits import bits_per_dim
from vaekit.model.likelihoods import DiscretizedLogistic


def test_discretized_logistic_bits_on_a_toy_8_bit_set_by_hand() -> None:
    # two 3-pixel images, values k/255; one logistic per pixel, location 0.5, scale 0.05
    x = torch.tensor([[0, 128, 255], [10, 127, 200]], dtype=torch.float64) / 255
    loc = torch.full((3,), 0.5, dtype=torch.float64)
    px = DiscretizedLogistic(loc, torch.tensor(math.log(0.05), dtype=torch.float64))
    nll = -px.log_prob(x).sum(-1).mean().item()

    def cdf(t: float) -> float:
        return 1 / (1 + math.exp(-(t - 0.5) / 0.05))

    def p(k: int) -> float:  # by hand: CDF differences over the bin, edges to +-inf
        upper = 1.0 if k == 255 else cdf((k + 0.5) / 255)
        lower = 0.0 if k == 0 else cdf((k - 0.5) / 255)
        return upper - lower

    hand_bits = -sum(math.log2(p(k)) for k in (0, 128, 255, 10, 127, 200)) / 6
    out = bits_per_dim(nll, 3, "discretized-logistic", "grey", 256)
    assert out["bits_per_dim"] == pytest.approx(hand_bits, rel=1e-9)
    assert "256 levels" in out["bits_per_dim_note"]


def test_a_density_on_8_bit_data_gets_the_bin_width_correction() -> None:
    # a Gaussian density p at the grid points, times the bin width 1/255, is about the bin's
    # probability: -log2(p / 255) per dimension
    x = torch.tensor([[0.2, 0.4]], dtype=torch.float64)
    normal = torch.distributions.Normal(torch.tensor(0.3, dtype=torch.float64), 0.1)
    nll = -normal.log_prob(x).sum().item()
    hand = -sum(math.log2(normal.log_prob(v).exp().item() / 255) for v in x[0]) / 2
    out = bits_per_dim(nll, 2, "gaussian", "grey", 256)
    assert out["bits_per_dim"] == pytest.approx(hand, rel=1e-12)
    assert out["bits_per_dim_note"].startswith("discretization-corrected")


@pytest.mark.parametrize(
    ("likelihood", "kind", "levels"),
    [("bernoulli", "grey", 256), ("gaussian", "real", None), ("gaussian", "grey", None)],
)
def test_no_bits_where_they_mean_nothing(likelihood: str, kind: str, levels: int | None) -> None:
    out = bits_per_dim(100.0, 10, likelihood, kind, levels)
    assert out["bits_per_dim"] is None and out["bits_per_dim_note"].startswith("omitted")


def test_bernoulli_on_binary_data_is_a_code_length() -> None:
    out = bits_per_dim(10 * math.log(2), 10, "bernoulli", "binary", None)
    assert out["bits_per_dim"] == pytest.approx(1.0)
