"""Probes: classifiers read the labels from a representation that separates them."""

import torch
from sklearn.decomposition import PCA

from vaekit.config import ModelConfig
from vaekit.evaluation.probes import probe, probe_model
from vaekit.model.vae import VAE


def _clusters(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 4) points around 3 well-separated centres in the first two coordinates, labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[4.0, 0, 0, 0], [-4.0, 0, 0, 0], [0, 4.0, 0, 0]])
    return centres[y] + 0.3 * torch.randn(n, 4, generator=g), y


def test_probe_separates_separable_features():
    (z_train, y_train), (z_test, y_test) = _clusters(90, 0), _clusters(60, 1)
    assert probe(z_train, y_train, z_test, y_test) == {"logistic": 1.0, "knn": 1.0}


def test_probe_model_on_latents_that_separate_the_classes():
    (x_train, y_train), (x_test, y_test) = _clusters(300, 0), _clusters(60, 1)
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(), likelihood="gaussian"), (4,), "real")
    with torch.no_grad():  # posterior mean = the first two coordinates
        model.encoder.net[0].weight.zero_()
        model.encoder.net[0].weight[0, 0] = model.encoder.net[0].weight[1, 1] = 1.0
    acc = probe_model(model, x_train, y_train, x_test, y_test, seed=0, max_train=120)
    assert acc["n_train"] == 120 and acc["n_test"] == 60 and acc["dims"] == 2
    for key in ("vae_logistic", "vae_knn", "pca_logistic", "pca_knn"):
        assert acc[key] >= 0.95, key
    assert probe_model(model, x_train, torch.zeros(300, dtype=torch.long), x_test, y_test) is None


def test_pca_baseline_sees_the_data_standardized_as_the_model_does():
    # the class lives in a feature of spread 1; another of spread 100 is noise: unstandardized,
    # a 1-D PCA keeps the noise and reads nothing; standardized, as the model sees the data,
    # the two weigh the same, and a 1-D PCA of the standardized data is what the probe must get
    g = torch.Generator().manual_seed(0)
    y = torch.arange(400) % 2
    x = torch.stack([2.0 * y - 1 + 0.1 * torch.randn(400, generator=g),
                     100 * torch.randn(400, generator=g)], 1)  # fmt: skip
    x_train, y_train, x_test, y_test = x[:300], y[:300], x[300:], y[300:]
    loc, scale = x_train.mean(0), x_train.std(0, correction=0)
    model = VAE(ModelConfig(latent_dim=1, hidden=(4,)), (2,), "real", loc, scale)
    acc = probe_model(model, x_train, y_train, x_test, y_test, seed=0)
    standardized = [((a - loc) / scale) for a in (x_train, x_test)]
    pca = PCA(n_components=1, random_state=0).fit(standardized[0].numpy())
    want = probe(pca.transform(standardized[0].numpy()), y_train,
                 pca.transform(standardized[1].numpy()), y_test)  # fmt: skip
    assert acc["pca_logistic"] == want["logistic"] and acc["pca_knn"] == want["knn"]
    raw = PCA(n_components=1, random_state=0).fit(x_train.numpy())
    unstandardized = probe(raw.transform(x_train.numpy()), y_train,
                           raw.transform(x_test.numpy()), y_test)  # fmt: skip
    assert unstandardized["logistic"] < 0.7 and acc["pca_logistic"] != unstandardized["logistic"]
