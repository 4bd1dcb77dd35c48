"""evaluate(): the report's keys, the importance-sampled NLL against references, seeding."""

import json
import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vaekit.config import ModelConfig
from vaekit.data import Dataset
from vaekit.errors import ConfigError
from vaekit.evaluation.evaluate import evaluate, nll_summary
from vaekit.model.estimate import BLOCK_ELEMENTS, chunk_size, importance_sample
from vaekit.model.vae import VAE

REQUIRED = {
    "elbo", "log_px_z", "kl_z", "n_examples", "nll", "nll_stderr", "k", "bits_per_dim", "split",
    "seed", "data_mode", "method", "active_units", "active_unit_threshold", "kl_per_dim",
    "recon_error", "probe_accuracy",
}  # fmt: skip


def _dataset(x: torch.Tensor, y: torch.Tensor | None, kind: str, **kw) -> Dataset:
    """Split x (N, *shape) into 50% train, 25% val, 25% test."""
    n = len(x)
    a, b = n // 2, 3 * n // 4
    ys = (None, None, None) if y is None else (y[:a], y[a:b], y[b:])
    return Dataset("synthetic", x[:a], x[a:b], x[b:], *ys, tuple(x.shape[1:]), kind, **kw)


@pytest.fixture
def binary_dataset(binary_data: torch.Tensor) -> Dataset:
    return _dataset(binary_data, torch.arange(256) % 4, "binary")


def test_report_has_every_key_finite_and_is_json(binary_dataset, small_model):
    report = evaluate(small_model, binary_dataset, k=20)
    assert REQUIRED <= report.keys()
    json.dumps(report, allow_nan=False)  # plain, finite values only
    assert report["n_examples"] == 64 and report["k"] == 20 and report["split"] == "test"
    for key in ("elbo", "log_px_z", "kl_z", "nll", "nll_stderr", "bits_per_dim", "recon_error"):
        assert math.isfinite(report[key]), key
    assert report["nll"] > 0 and report["kl_z"] >= 0
    assert report["bits_per_dim"] == pytest.approx(report["nll"] / (16 * math.log(2)))
    assert set(report["probe_accuracy"]) >= {"vae_logistic", "vae_knn", "pca_logistic", "pca_knn"}


def test_nll_matches_model_log_likelihood_and_is_below_the_negative_elbo(binary_dataset):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(16,)), (1, 4, 4))
    report = evaluate(model, binary_dataset, k=500, probes=False)
    torch.manual_seed(1)
    reference = model.log_likelihood(binary_dataset.x_test, k=500)  # (64,)
    assert report["nll"] == pytest.approx(-reference.mean().item(), abs=0.05)
    assert report["elbo"] < -report["nll"] + 3 * report["nll_stderr"]  # L_1 <= L_k in expectation
    assert report["kl_z"] == pytest.approx(report["log_px_z"] - report["elbo"])


def _linear_gaussian(shift: float) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """A linear-Gaussian VAE (1-D z, D=3), its posterior mean shifted by ``shift`` and its scale
    widened by 1 + ``shift``; 64 examples from it and their exact log p(x) (64,), where
    p(x) = N(b, w w^T + s^2 I)."""
    torch.manual_seed(0)
    s = 0.5
    model = VAE(ModelConfig(latent_dim=1, hidden=(), likelihood="gaussian", gaussian_scale=s), (3,))
    w, b = model.decoder.net[0].weight.detach()[:, 0], model.decoder.net[0].bias.detach()
    var = 1 / (1 + w @ w / s**2)  # exact posterior variance
    enc = model.encoder.net[0]
    with torch.no_grad():
        enc.weight.zero_()
        enc.weight[0] = var * w / s**2
        enc.bias[0] = -var * (w @ b) / s**2 + shift
        # bisect the bias of the scale output, whatever map turns it into a scale
        lo, hi = -30.0, 30.0
        for _ in range(100):
            enc.bias[1] = (lo + hi) / 2
            wide = model.qz(torch.zeros(1, 3)).stddev.item() > math.sqrt(var) * (1 + shift)
            lo, hi = (lo, enc.bias[1].item()) if wide else (enc.bias[1].item(), hi)
    x = b + torch.randn(64, 1) * w + s * torch.randn(64, 3)  # (64, 3)
    exact = MultivariateNormal(b, torch.outer(w, w) + s**2 * torch.eye(3)).log_prob(x)
    return model, x, exact


def test_exact_posterior_gives_the_exact_nll_with_one_sample():
    model, x, exact = _linear_gaussian(shift=0.0)
    data = _dataset(torch.cat([x, x]), None, "real", loc=torch.zeros(3), scale=torch.ones(3))
    report = evaluate(model, data, k=1)
    assert report["nll"] == pytest.approx(-exact[32:].mean().item(), abs=1e-4)
    assert report["probe_accuracy"] is None  # no labels
    tight = evaluate(model, data, k=400)  # the ELBO is tight too, up to Monte Carlo error
    assert tight["elbo"] == pytest.approx(exact[32:].mean().item(), abs=0.05)


def test_estimate_converges_to_the_exact_log_likelihood_from_below():
    model, x, exact = _linear_gaussian(shift=0.7)
    torch.manual_seed(1)
    gaps = [(exact - importance_sample(model, x, k).log_px).mean().item() for k in (1, 10, 3000)]
    assert gaps[0] > 0.1 and gaps[0] > gaps[1] > gaps[2]
    assert -0.01 < gaps[-1] < 0.02


def test_chunked_and_unchunked_agree():
    model, x, _ = _linear_gaussian(shift=0.7)
    torch.manual_seed(5)
    a = importance_sample(model, x, k=300, chunk=300).log_px
    torch.manual_seed(5)
    b = importance_sample(model, x, k=300, chunk=7).log_px
    torch.testing.assert_close(a, b, atol=0.05, rtol=0)


def test_seeded_and_leaves_the_global_rng_alone(binary_data):
    grey = binary_data * 0.6 + 0.2  # dynamic binarization: drawn once, with the seed
    data = _dataset(grey, torch.arange(256) % 4, "binary", binarize=True)
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(16,)), (1, 4, 4))
    state = torch.get_rng_state()
    a = evaluate(model, data, k=10, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert evaluate(model, data, k=10, seed=3) == a
    assert evaluate(model, data, k=10, seed=4)["nll"] != a["nll"]
    assert "binarized" in a["data_mode"]


def test_bad_arguments_raise_config_error(binary_dataset, small_model):
    with pytest.raises(ConfigError, match="split"):
        evaluate(small_model, binary_dataset, split="testing")
    with pytest.raises(ConfigError, match="k must be"):
        evaluate(small_model, binary_dataset, k=0)


def test_nll_summary_by_hand():
    out = nll_summary(torch.tensor([-1.0, -2.0, -3.0]), n_features=2)
    assert out["nll"] == pytest.approx(2.0)
    assert out["nll_stderr"] == pytest.approx(1 / math.sqrt(3))
    assert out["bits_per_dim"] == pytest.approx(1 / math.log(2))
    assert nll_summary(torch.tensor([-1.0]))["nll_stderr"] is None


def test_chunks_stay_within_the_memory_budget():
    for k, batch in ((5000, 256), (5000, 1), (3, 64), (10, 100_000)):
        n = chunk_size(k, batch, 784)
        assert 1 <= n <= k
        assert n == 1 or n * batch * 784 <= BLOCK_ELEMENTS
