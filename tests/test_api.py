import json

import numpy as np
import pytest
import torch

import vaekit
from vaekit.errors import CheckpointError, ConfigError


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
