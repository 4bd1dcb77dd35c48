"""Per-example anomaly scores: row order, the API, each method's sign and math, thresholds."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig, from_arrays
from vaekit.errors import ConfigError, DataError
from vaekit.evaluation import scores, threshold
from vaekit.model.vae import VAE

pytestmark = pytest.mark.usefixtures("one_thread")


def prototypes(n: int, seed: int) -> torch.Tensor:
    """(n, 1, 6, 6) grey images: 4 fixed prototypes (the same for every seed), pixel noise."""
    protos = (torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    g = torch.Generator().manual_seed(seed)
    x = protos[torch.randint(0, 4, (n,), generator=g)]
    return (0.9 * x + 0.05 + 0.04 * torch.rand(n, 1, 6, 6, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def trained() -> VAE:
    """A tiny VAE trained on :func:`prototypes` (Bernoulli likelihood on grey values)."""
    data = from_arrays(prototypes(512, 1), config=DataConfig(dataset="protos", val_fraction=0.0))
    config = ModelConfig(latent_dim=2, hidden=(32,), likelihood="bernoulli")
    return api.fit(data, config, TrainConfig(epochs=60, batch_size=64, lr=3e-3), progress=False)


def outliers(n: int) -> torch.Tensor:
    """(n, 1, 6, 6) uniform noise: nothing like the prototypes."""
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("method", scores.METHODS)
def test_scores_keep_row_order_and_match_the_api(trained: VAE, method: str) -> None:
    x = torch.cat([prototypes(20, 2), outliers(5)])
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    s = trained.score(x, method, k=8)
    assert s.shape == (len(x),)
    np.testing.assert_allclose(trained.score(x[perm], method, k=8), s[perm], rtol=1e-4, atol=1e-4)
    # batch composition does not matter either: one row at a time gives the same numbers
    one = scores.score(trained, x, method, 8, batch_size=1)
    np.testing.assert_allclose(one, s, rtol=1e-4, atol=1e-4)
    assert torch.equal(trained.score(x, method, k=8), s)  # deterministic


@pytest.mark.parametrize("method", ["elbo", "nll", "bpd", "regret"])
def test_an_obvious_outlier_scores_higher(trained: VAE, method: str) -> None:
    normal = trained.score(prototypes(200, 3), method).numpy()
    odd = trained.score(outliers(20), method).numpy()
    assert np.mean(odd > np.quantile(normal, 0.95)) >= 0.8, (np.quantile(normal, 0.95), odd)


def test_elbo_and_nll_agree_with_the_model(trained: VAE) -> None:
    x = prototypes(30, 4)
    torch.manual_seed(0)
    reference_elbo = torch.stack([trained.elbo(x).elbo for _ in range(400)]).mean(0)  # (30,)
    np.testing.assert_allclose(trained.score(x, "elbo", k=400), -reference_elbo, rtol=0.05)
    reference_nll = -trained.log_likelihood(x, k=2000)
    np.testing.assert_allclose(
        trained.score(x, "nll", k=2000), reference_nll, atol=0.2
    )  # nats: both Monte Carlo
    assert (trained.score(x, "nll", k=64) <= trained.score(x, "elbo", k=64) + 1e-3).all()


def deflate_size_bits(image: np.ndarray) -> int:
    return 8 * len(zlib.compress(image.tobytes(), 9))


def test_bpd_and_complexity_follow_their_definitions(trained: VAE) -> None:
    x = torch.cat([prototypes(5, 5), torch.full((1, 1, 6, 6), 0.5)])
    nll_bits = trained.score(x, "nll") / math.log(2)  # bernoulli: a probability, no bin width
    np.testing.assert_allclose(trained.score(x, "bpd"), nll_bits / 36, rtol=1e-5)
    size = [deflate_size_bits((img[0] * 255).round().byte().numpy()) for img in x]
    np.testing.assert_allclose(
        trained.score(x, "complexity"), nll_bits - torch.tensor(size), rtol=1e-5
    )
    # the compressor measures complexity: a constant image is cheaper than noise
    constant = torch.full((1, 1, 6, 6), 0.5)
    assert scores.compressed_bits(constant) < scores.compressed_bits(outliers(1))


def test_a_density_gets_the_8_bit_bin_width() -> None:
    # 8-bit data are the values k/255: each level's bin is 1/255 wide (vaekit.evaluation.bits)
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (1, 4, 4))
    x = torch.rand(3, 1, 4, 4)
    expected = (model.score(x, "nll") + 16 * math.log(255)) / math.log(2) / 16
    np.testing.assert_allclose(model.score(x, "bpd"), expected, rtol=1e-5)


def test_regret_is_nonnegative_and_seeded(trained: VAE) -> None:
    x = torch.cat([prototypes(10, 6), outliers(10)])
    r = trained.score(x, "regret")
    assert (r >= 0).all()
    assert r[10:].mean() > r[:10].mean() + 1.0
    assert not torch.equal(trained.score(x, "regret", seed=1), r)


def test_auto_is_complexity_for_true_probabilities_else_regret(trained: VAE) -> None:
    assert scores.resolve(trained, "auto") == "regret"  # bernoulli on grey: no code length
    torch.manual_seed(0)
    gaussian = VAE(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (1, 4, 4))
    binary = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (1, 4, 4), kind="binary")
    vector = VAE(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (5,))
    assert [scores.resolve(m, "auto") for m in (gaussian, binary, vector)] == [
        "complexity+regret",
        "complexity+regret",
        "regret",
    ]
    x = torch.rand(4, 1, 4, 4)
    assert torch.equal(gaussian.score(x), gaussian.score(x, "complexity+regret"))
    both = gaussian.score(x, "complexity") + gaussian.score(x, "regret") / math.log(2)
    np.testing.assert_allclose(gaussian.score(x), both, rtol=1e-5)


def test_a_likelihood_of_8_bit_probabilities_is_a_code_length(monkeypatch) -> None:
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (1, 4, 4))
    monkeypatch.setattr(model.likelihood, "discrete", True, raising=False)  # as a discretised one
    assert scores.resolve(model, "auto") == "complexity+regret"
    x = torch.rand(3, 1, 4, 4)
    np.testing.assert_allclose(
        model.score(x, "bpd"), model.score(x, "nll") / math.log(2) / 16, rtol=1e-5
    )


def test_bad_requests_are_refused(trained: VAE) -> None:
    with pytest.raises(ConfigError, match="unknown score method"):
        trained.score(prototypes(2, 0), "likelihood")
    with pytest.raises(ConfigError, match="k must be"):
        trained.score(prototypes(2, 0), "nll", k=0)
    vector = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (5,), kind="grey")
    with pytest.raises(DataError, match="complexity score is for image data"):
        vector.score(torch.rand(3, 5), "complexity")


def test_calibrate_leaves_the_requested_fraction_above() -> None:
    s = np.random.default_rng(0).normal(size=1000)
    for fpr in (0.01, 0.05, 0.2):
        assert np.mean(s > threshold.calibrate(s, fpr)) == pytest.approx(fpr, abs=1e-9)
    with pytest.raises(ConfigError, match="false-positive rate"):
        threshold.calibrate(s, 1.5)


def test_threshold_reproduces_its_fpr_on_held_out_normal_data(trained: VAE) -> None:
    fpr, n = 0.1, 1000
    t = threshold.calibrate(trained.score(prototypes(n, 10), "elbo").numpy(), fpr)
    held_out = trained.score(prototypes(n, 11), "elbo").numpy()
    # binomial sampling error of both samples: sd ~ sqrt(2 fpr (1 - fpr) / n) ~ 0.013
    assert abs(np.mean(held_out > t) - fpr) < 4 * math.sqrt(2 * fpr * (1 - fpr) / n)
    assert np.mean(trained.score(outliers(50), "elbo").numpy() > t) == 1.0


def test_threshold_file_round_trips(tmp_path) -> None:
    t = threshold.Threshold("regret", 16, 0, 0.05, 1.25, "val", 100)
    path = threshold.write(tmp_path, t)
    assert path.name == "threshold.json" and threshold.read(tmp_path) == t
    assert threshold.read(tmp_path / "elsewhere") is None
    assert list(t.flags(np.array([1.0, 1.25, 2.0]))) == [False, False, True]


def test_colour_images_get_the_image_scores() -> None:
    """An rgb model (3, H, W) on 8 bits: auto is complexity+regret and bpd divides by C*H*W."""
    torch.manual_seed(0)
    rgb = VAE(ModelConfig(latent_dim=2, hidden=(8,)), (3, 4, 4), kind="rgb", levels=256)
    assert scores.resolve(rgb, "auto") == "complexity+regret"
    x = torch.randint(0, 256, (3, 3, 4, 4)) / 255
    np.testing.assert_allclose(
        rgb.score(x, "bpd"), rgb.score(x, "nll") / math.log(2) / 48, rtol=1e-5
    )
    assert torch.isfinite(rgb.score(x, "complexity")).all()


def test_a_model_of_incomplete_data_scores_the_observed_entries() -> None:
    """MIWAE: the elbo score of a row with holes is -ELBO over its observed entries (the model's
    own terms at k samples), finite; rows without holes score as before; image scores refuse."""
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian", mask_input=True)
    model = VAE(config, (4,), "real")
    x = torch.randn(6, 4)
    x[::2, 1] = float("nan")
    s = model.score(x, "elbo", k=4000)
    assert torch.isfinite(s).all() and torch.isfinite(model.score(x, "nll", k=8)).all()
    torch.manual_seed(1)
    with torch.no_grad():
        want = -torch.stack([model.terms(x).elbo for _ in range(400)]).mean(0)
    np.testing.assert_allclose(s, want, rtol=0.05, atol=0.05)


def test_an_overflowing_score_is_plus_infinity_and_calibration_refuses_it(monkeypatch) -> None:
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (4,), "real")
    nan_in_row_1 = lambda m, x, c, k, seed: torch.tensor([1.0, math.nan, 2.0])  # noqa: E731
    monkeypatch.setitem(scores.SCORERS, "elbo", nan_in_row_1)
    s = model.score(torch.zeros(3, 4), "elbo")
    assert s.tolist() == [1.0, math.inf, 2.0]
    with pytest.raises(DataError, match="1 of the 3 normal examples' scores are not finite"):
        threshold.calibrate(s.numpy(), 0.1)
