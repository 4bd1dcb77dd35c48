import json

import numpy as np
import pytest
import torch

import vaekit
from vaekit.errors import CheckpointError, ConfigError, DataError


def test_fit_on_an_array_then_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -2.0]  # real-valued
    model = vaekit.fit(
        x,
        vaekit.ModelConfig(latent_dim=1, hidden=(16,)),
        vaekit.TrainConfig(epochs=3, batch_size=32),
    )
    assert model.likelihood.name == "gaussian" and len(model.history) == 3
    recon = model.reconstruct(x[:5])
    assert recon.shape == (5, 3) and abs(recon[:, 1].mean().item() - 50) < 10  # data units
    vaekit.save(model, tmp_path / "m")
    loaded = vaekit.load(tmp_path / "m")
    torch.testing.assert_close(loaded.encode(x[:5]), model.encode(x[:5]))


def test_run_folder_and_resume_extends_a_finished_run(tmp_path):
    out = tmp_path / "run"
    cfg = vaekit.TrainConfig(epochs=2, batch_size=64)
    small = vaekit.ModelConfig(hidden=(16,))
    vaekit.fit("digits", small, cfg, out=out, progress=False)
    saved = json.loads((out / "config.json").read_text())
    assert saved["dataset"]["name"] == "digits" and saved["train"]["epochs"] == 2
    again = vaekit.fit(
        out=out, resume=True, train_config=vaekit.TrainConfig(epochs=3, batch_size=64)
    )
    assert [r["epoch"] for r in again.history] == [1, 2, 3]
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 3
    with pytest.raises(ConfigError, match="only change epochs, not batch_size, lr"):
        vaekit.fit(out=out, resume=True, train_config=vaekit.TrainConfig(epochs=4, lr=1.0))


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match="resume needs the run folder"):
        vaekit.fit(resume=True)
    with pytest.raises(CheckpointError, match="not a vaekit run folder"):
        vaekit.fit(out=tmp_path, resume=True)


def _three_shapes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary 6x6 images of three classes (a row bar, a column bar, a diagonal) with noise."""
    rng = np.random.default_rng(seed)
    protos = np.zeros((3, 6, 6), np.float32)
    protos[0, 2:4, :] = 1
    protos[1, :, 2:4] = 1
    protos[2][np.eye(6, dtype=bool)] = 1
    y = rng.integers(0, 3, n)
    flips = rng.random((n, 6, 6)) < 0.05
    return np.abs(protos[y] - flips).astype(np.float32), y


def test_conditional_model_generates_the_requested_class(tmp_path, one_thread):
    from sklearn.linear_model import LogisticRegression

    x, y = _three_shapes(1200)
    data = vaekit.data.from_arrays(x, y, name="shapes")
    model = vaekit.fit(
        data,
        vaekit.ModelConfig(latent_dim=2, hidden=(64,), conditional=True),
        vaekit.TrainConfig(epochs=15, batch_size=64, lr=3e-3),
        out=tmp_path / "run",
        progress=False,
    )
    assert model.y_dim == 3
    classifier = LogisticRegression(max_iter=500).fit(x.reshape(len(x), -1), y)
    for label in range(3):
        samples = model.sample(100, seed=label, y=label).reshape(100, -1).numpy()
        agreement = (classifier.predict(samples) == label).mean()
        assert agreement > 0.9, (label, agreement)  # chance is 1/3
    loaded = vaekit.load(tmp_path / "run")  # the checkpoint keeps the condition size
    assert loaded.y_dim == 3
    torch.testing.assert_close(loaded.sample(4, seed=0, y=1), model.sample(4, seed=0, y=1))


def test_conditional_fit_needs_labels():
    x, _ = _three_shapes(64)
    with pytest.raises(ConfigError, match="needs labels, and the dataset 'array' has none"):
        vaekit.fit(x, vaekit.ModelConfig(conditional=True), vaekit.TrainConfig(epochs=1))


def test_fit_on_incomplete_data_only_when_allowed_then_impute(tmp_path, one_thread):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 1))
    x = z @ [[1.0, -2.0, 0.5, 3.0]] + 0.1 * rng.normal(size=(300, 4)) + [0.0, 5.0, 0.0, -1.0]
    holes = x.copy()
    holes[rng.random(x.shape) < 0.3] = np.nan
    small = vaekit.ModelConfig(latent_dim=2, hidden=(32,))
    cfg = vaekit.TrainConfig(epochs=20, batch_size=32, k=5)
    with pytest.raises(DataError, match=r"row \d+ contains NaN.*missing=.allow."):
        vaekit.fit(holes, small, cfg)
    allow = vaekit.DataConfig("holes", missing="allow", test_fraction=0.0)
    model = vaekit.fit(holes, small, cfg, data_config=allow, progress=False)
    assert model.config.mask_input and np.isfinite(model.history[-1]["train_elbo"])
    filled = model.impute(holes, k=200, seed=0).double().numpy()
    miss = np.isnan(holes)
    assert np.array_equal(filled[~miss], holes[~miss].astype(np.float32))
    err = np.sqrt(((filled - x)[miss] ** 2).mean())
    mean_err = np.sqrt(((np.nanmean(holes, 0) - x)[miss] ** 2).mean())
    assert err < 0.6 * mean_err  # the columns are strongly related: far better than the means
    loaded = vaekit.load(vaekit.save(model, tmp_path / "m"))
    assert loaded.config.mask_input
    torch.testing.assert_close(
        loaded.impute(holes, k=20, seed=1), model.impute(holes, k=20, seed=1)
    )


def test_resume_refuses_fewer_epochs_than_the_run_has(tmp_path):
    out = tmp_path / "run"
    vaekit.fit("digits", vaekit.ModelConfig(hidden=(8,)), vaekit.TrainConfig(epochs=2), out=out)
    before = (out / "config.json").read_text()
    with pytest.raises(ConfigError, match="trained 2 epochs already: resume with epochs >= 2"):
        vaekit.fit(out=out, resume=True, train_config=vaekit.TrainConfig(epochs=1))
    assert (out / "config.json").read_text() == before


def test_save_into_a_run_keeps_its_evaluation_only_for_its_own_weights(tmp_path):
    """Saving another model into a run folder is refused (config.json would contradict it); the
    run's own architecture with other weights gets a card without the old evaluation."""
    from vaekit import runs

    out = tmp_path / "run"
    small = vaekit.ModelConfig(hidden=(8,), likelihood="bernoulli")
    model = vaekit.fit("digits", small, vaekit.TrainConfig(epochs=1), out=out)
    runs.RunFolder(out).write_evaluation({"nll": 123.456})
    vaekit.save(model, out)  # its own weights: the evaluation is theirs
    assert "| nll | 123.5 |" in (out / runs.CARD).read_text()
    other = vaekit.fit("digits", vaekit.ModelConfig(hidden=(8,), likelihood="gaussian"))
    weights = (out / runs.MODEL).read_bytes()
    with pytest.raises(ConfigError, match="holds a run of another model"):
        vaekit.save(other, out)
    assert (out / runs.MODEL).read_bytes() == weights
    retrained = vaekit.fit("digits", small, vaekit.TrainConfig(epochs=1, seed=9))
    vaekit.save(retrained, out)
    assert "| nll |" not in (out / runs.CARD).read_text()


def test_save_refuses_a_model_of_other_data_into_a_run(tmp_path):
    """Same ModelConfig, data of another shape: config.json would contradict the weights."""
    config, train = vaekit.ModelConfig(latent_dim=2, hidden=(8,)), vaekit.TrainConfig(epochs=1)
    rng = np.random.default_rng(0)
    x16, x12 = ((rng.random((120, d)) < 0.4).astype(np.float32) for d in (16, 12))
    vaekit.fit(x16, config, train, out=tmp_path / "run", progress=False)
    weights = (tmp_path / "run" / "model.safetensors").read_bytes()
    other = vaekit.fit(x12, config, train, progress=False)
    with pytest.raises(ConfigError, match=r"another model \(its data: shape \[16\]"):
        vaekit.save(other, tmp_path / "run")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == weights


def test_resuming_an_array_run_without_its_data_says_to_pass_it(tmp_path):
    x = (np.random.default_rng(0).random((60, 6)) < 0.5).astype(np.float32)
    small = vaekit.ModelConfig(hidden=(4,))
    vaekit.fit(x, small, vaekit.TrainConfig(epochs=1), out=tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="in-memory array: pass the same data again"):
        vaekit.fit(out=tmp_path / "run", resume=True, train_config=vaekit.TrainConfig(epochs=2))


def test_a_loaded_model_has_an_empty_history(tmp_path):
    model = vaekit.fit("digits", vaekit.ModelConfig(hidden=(8,)), vaekit.TrainConfig(epochs=1))
    assert len(model.history) == 1
    vaekit.save(model, tmp_path / "m.safetensors")
    assert vaekit.load(tmp_path / "m.safetensors").history == []


def test_a_resume_on_changed_data_is_refused_and_leaves_the_run_as_it_was(tmp_path):
    path, out = tmp_path / "t.csv", tmp_path / "run"
    rng = np.random.default_rng(0)
    np.savetxt(path, rng.normal(size=(60, 4)), delimiter=",", header="a,b,c,d", comments="")
    small = vaekit.ModelConfig(hidden=(4,))
    vaekit.fit(path, small, vaekit.TrainConfig(epochs=1), out=out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    np.savetxt(path, rng.normal(size=(90, 4)), delimiter=",", header="w,x,y,z", comments="")
    with pytest.raises(ConfigError, match="was trained on other data .columns"):
        vaekit.fit(out=out, resume=True, train_config=vaekit.TrainConfig(epochs=2))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_relative_data_path_is_saved_absolute(tmp_path, monkeypatch):
    """The run's commands find its data from any working folder."""
    (tmp_path / "data").mkdir()
    np.savetxt(tmp_path / "data" / "t.csv", np.random.default_rng(0).normal(size=(40, 3)),
               delimiter=",")  # fmt: skip
    monkeypatch.chdir(tmp_path / "data")
    small = vaekit.ModelConfig(hidden=(4,))
    vaekit.fit("t.csv", small, vaekit.TrainConfig(epochs=1), out=tmp_path / "run", progress=False)
    saved = vaekit.api.read_config(tmp_path / "run")["data"].dataset
    assert saved == str(tmp_path / "data" / "t.csv")
    monkeypatch.chdir(tmp_path)
    vaekit.fit(out=tmp_path / "run", resume=True, train_config=vaekit.TrainConfig(epochs=2))
