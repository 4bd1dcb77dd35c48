"""The Python API speaks DataConfig's vocabulary: ``fit(path, label_column=...)`` and friends,
with errors that name API parameters (issue 16)."""

from __future__ import annotations

import dataclasses
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


def test_a_learned_gaussian_scale_starts_at_the_spread_of_the_observed_values() -> None:
    rng = np.random.default_rng(0)
    x = np.clip(0.5 + rng.normal(size=(200, 3)) * [0.02, 0.1, 0.2], 0, 1)
    x_miss = x.copy()
    x_miss[rng.random(x.shape) < 0.3] = np.nan
    x_miss[:, 2] = np.nan  # a feature never observed
    data = vaekit.data.from_arrays(x_miss, config=vaekit.DataConfig("x", missing="allow"))
    model = vaekit.api.build(ModelConfig(likelihood="gaussian", mask_input=True), data)
    scale = model.likelihood.scale().detach().numpy()
    train = data.x_train.numpy()
    spread = [np.nanstd(train[:, j]) for j in (0, 1)]
    np.testing.assert_allclose(scale[:2], spread, rtol=1e-2)
    np.testing.assert_allclose(scale[2], np.mean(spread), rtol=1e-2)  # the others' mean


def test_vae_imputer_fits_min_max_scaled_data_with_missing_values() -> None:
    """[0, 1] data with missing values: ``auto`` picks a Gaussian; its first step was NaN."""
    from vaekit.sklearn import VAEImputer

    rng = np.random.default_rng(0)
    z = rng.normal(size=(120, 1))
    x = np.hstack([z, -z, np.tanh(z), 2 * z]) + 0.1 * rng.normal(size=(120, 4))
    x = (x - x.min(0)) / (x.max(0) - x.min(0))  # MinMaxScaler
    x[rng.random(x.shape) < 0.2] = np.nan
    imputer = VAEImputer(epochs=2, hidden=(8,), latent_dim=2, k=3, k_impute=10, random_state=0)
    out = imputer.fit_transform(x)
    assert imputer.model_.config.likelihood == "gaussian"
    assert np.isfinite(out).all() and np.isfinite(imputer.history_[-1]["train_elbo"])


def test_a_run_keeps_its_class_names_and_a_new_file_is_coded_by_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = ["class_a", "class_b", "class_c"] * 20
    rows = "".join(
        f"{a:.4f},{b:.4f},{n}\n" for (a, b), n in zip(rng.random((60, 2)), names, strict=True)
    )
    (tmp_path / "t.csv").write_text("u,v,kind\n" + rows)
    model_config = ModelConfig(latent_dim=2, hidden=(8,), conditional=True)
    run = tmp_path / "run"
    vaekit.fit(tmp_path / "t.csv", model_config, TINY[1], label_column="kind", out=run)
    saved = vaekit.api.read_config(run)
    assert saved["raw"]["dataset"]["classes"] == ["class_a", "class_b", "class_c"]
    (tmp_path / "c.csv").write_text("u,v,kind\n0.1,0.2,class_c\n0.3,0.4,class_b\n")
    config = vaekit.DataConfig(str(tmp_path / "c.csv"), label_column="kind", val_fraction=0.0,
                               test_fraction=0.0)  # fmt: skip
    new = vaekit.data.load_dataset(config)
    assert new.y_train.tolist() == [1, 0]  # the file's own coding: c, b -> 1, 0
    coded = vaekit.api.for_run(new, saved)
    assert coded.y_train.tolist() == [2, 1] and coded.classes == ("class_a", "class_b", "class_c")
    (tmp_path / "d.csv").write_text("u,v,kind\n0.1,0.2,class_d\n")
    unknown = vaekit.data.load_dataset(dataclasses.replace(config, dataset=str(tmp_path / "d.csv")))
    with pytest.raises(DataError, match="label 'class_d' not among the model's classes"):
        vaekit.api.for_run(unknown, saved)
    (tmp_path / "i.csv").write_text("u,v,kind\n0.1,0.2,2\n")
    numbers = vaekit.data.load_dataset(dataclasses.replace(config, dataset=str(tmp_path / "i.csv")))
    with pytest.raises(DataError, match="labels are integers, but the model was trained on"):
        vaekit.api.for_run(numbers, saved)


def test_recode_labels_refuses_what_it_cannot_map() -> None:
    from vaekit.data.splits import recode_labels

    y = np.array([1, 0, 1])  # a file's own codes of ("b", "c")
    assert recode_labels(y, ("b", "c"), ("a", "b", "c"), "f").tolist() == [2, 1, 2]
    assert recode_labels(y, None, None, "f").tolist() == [1, 0, 1]  # integers both
    with pytest.raises(DataError, match="f: the labels are class names .b, c., but the model was"):
        recode_labels(y, ("b", "c"), None, "f")  # integer labels, or a run that kept no names
    many = tuple(f"c{i:02d}" for i in range(30))
    with pytest.raises(DataError, match=r"labels 'x', 'y' not among .*c09, \.\.\. \(30 in all\)"):
        recode_labels(y, ("x", "y"), many, "f")
