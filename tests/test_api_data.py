"""The Python API speaks DataConfig's vocabulary: ``fit(path, label_column=...)`` and friends,
with errors that name API parameters (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vaekit
from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import ConfigError, DataError

TINY = (ModelConfig(latent_dim=2, hidden=(8,)), TrainConfig(epochs=1, batch_size=32))

pytestmark = pytest.mark.usefixtures("one_thread")


def write_csv(path: Path) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)) * [1.0, 5.0, 0.2] + [3.0, -2.0, 7.0]
    y = rng.integers(0, 2, 40)
    table = np.column_stack([x[:, :1], y, x[:, 1:]])  # label in the middle
    np.savetxt(path, table, delimiter=",", header="a,kind,b,c", comments="", fmt="%.6g")
    return np.loadtxt(path, delimiter=",", skiprows=1)[:, [0, 2, 3]]


def test_fit_path_with_label_column(tmp_path: Path) -> None:
    x = write_csv(tmp_path / "t.csv")
    model = vaekit.fit(tmp_path / "t.csv", *TINY, label_column="kind", out=tmp_path / "run")
    assert model.shape == (3,) and model.config.likelihood == "gaussian"
    saved = vaekit.api.read_config(tmp_path / "run")
    assert saved["data"].label_column == "kind"
    assert saved["raw"]["dataset"]["columns"] == ["a", "b", "c"]
    described = {k: saved["raw"]["dataset"][k] for k in ("kind", "channels", "levels")}
    assert described == {"kind": "real", "channels": 1, "levels": None}
    assert saved["raw"]["dataset"]["likelihood"] == saved["model"].likelihood == "gaussian"
    assert model.encode(x).shape == (40, 2)


def test_data_options_are_checked_and_named_as_parameters(tmp_path: Path) -> None:
    x = write_csv(tmp_path / "t.csv")
    with pytest.raises(ConfigError, match="unknown data option label_col; the DataConfig"):
        vaekit.fit(tmp_path / "t.csv", *TINY, label_col="kind")
    model = vaekit.fit(tmp_path / "t.csv", *TINY)  # the label trained as a 4th feature
    full = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1)
    assert model.encode(full).shape == (40, 2)
    small = vaekit.fit(x[:, :2], *TINY)
    with pytest.raises(DataError, match='one column too many.*label_column="NAME"'):
        small.encode(x)


def test_one_example_or_a_batch_consistently() -> None:
    x = np.random.default_rng(0).integers(0, 256, (30, 1, 4, 4)).astype(np.uint8)
    model = vaekit.fit(x, *TINY)
    assert model.config.likelihood == "discretized-logistic" and model.config.levels == 256
    xs = model.check_data(x)  # (30, 1, 4, 4), values k/255: as the data were loaded
    np.testing.assert_allclose(xs.numpy(), x / 255, atol=1e-6)
    z = model.encode(xs)
    np.testing.assert_allclose(model.encode(x), z, atol=1e-6)  # uint8 in: the same k/255
    for one in (xs[3], xs[3].flatten(), xs[3, 0], xs[3].numpy()):
        np.testing.assert_allclose(model.encode(one), z[3], atol=1e-6)
    assert model.reconstruct(xs[3]).shape == (1, 4, 4)
    assert model.elbo(xs[3]).elbo.shape == () and model.log_likelihood(xs[3], k=4).shape == ()
    samples = model.sample(5, seed=0)
    assert samples.shape == (5, 1, 4, 4) and 0 <= samples.min() and samples.max() <= 1


def test_a_learned_gaussian_scale_starts_at_the_data_spread() -> None:
    rng = np.random.default_rng(0)
    x = np.clip(0.5 + rng.normal(size=(200, 3)) * [0.02, 0.1, 0.2], 0, 1)  # continuous, in [0, 1]
    data = vaekit.data.from_arrays(x)
    model = vaekit.api.build(ModelConfig(likelihood="gaussian"), data)
    assert data.kind == "grey" and not model.standardized
    spread = data.x_train.std(0, correction=0).numpy()  # the training split's, per feature
    np.testing.assert_allclose(model.likelihood.scale().detach().numpy(), spread, rtol=1e-2)
