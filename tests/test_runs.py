"""The run folder: atomic writes with the user's umask, a full disk, leftover temp files, the
overwrite rule, checked readers, old key names and the best-epoch summary."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import run_cli
import torch

import vaekit
from vaekit import runs
from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import CheckpointError, RunExistsError, RunWriteError
from vaekit.model.vae import VAE
from vaekit.training import checkpoint
from vaekit.training.loop import train

HISTORY = [
    {"epoch": 1, "train_elbo": -5.0, "train_kl": 1.0, "val_elbo": -4.0, "seconds": 0.5},
    {"epoch": 2, "train_elbo": -4.0, "train_kl": 1.5, "val_elbo": -4.5, "seconds": 0.5},
]


def full_disk(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_every_writer_is_atomic_and_keeps_the_old_file_on_a_full_disk(tmp_path, monkeypatch):
    run = runs.RunFolder(tmp_path)
    run.write_evaluation({"elbo": -1.0})
    run.write_report("<html>old</html>")
    model = VAE(ModelConfig(latent_dim=1, hidden=(4,)), (3,), "real")
    checkpoint.save_model(model, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(RunWriteError, match="No space left on device; the previous file is kept"):
        run.write_evaluation({"elbo": -2.0})
    with pytest.raises(RunWriteError, match="No space left"):
        run.write_report("<html>new</html>")
    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    with pytest.raises(RunWriteError, match="model.safetensors: No space left"):
        checkpoint.save_model(model, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files


def test_a_picture_is_written_atomically(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from vaekit.viz import plots

    path = plots.save_figure(Figure(figsize=(1, 1)), tmp_path / "samples.png")
    before = path.read_bytes()
    monkeypatch.setattr(Figure, "savefig", full_disk)
    with pytest.raises(RunWriteError, match="samples.png: No space left"):
        plots.save_figure(Figure(figsize=(1, 1)), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["samples.png"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_get_the_users_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        runs.RunFolder(tmp_path).write_history(HISTORY)
        checkpoint.save_model(VAE(ModelConfig(latent_dim=1, hidden=(4,)), (3,), "real"), tmp_path)
    finally:
        os.umask(old)
    for name in (runs.METRICS, runs.MODEL):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_leftover_temp_files_are_removed_by_the_next_run(tmp_path):
    leftover = tmp_path / f"{runs.TEMP_PREFIX}{runs.MODEL}.x1y2{runs.TEMP_SUFFIX}"
    leftover.write_bytes(b"half a checkpoint")
    (tmp_path / f".{runs.STATE}.abc{runs.TEMP_SUFFIX}").write_bytes(b"of an older vaekit")
    (tmp_path / "notes.txt").write_text("mine")
    runs.RunFolder(tmp_path).prepare()
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_fit_refuses_an_existing_run_unless_resume_or_overwrite(tmp_path):
    x = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    config = ModelConfig(latent_dim=1, hidden=(4,)), TrainConfig(epochs=1, batch_size=20)
    vaekit.fit(x, *config, out=tmp_path)
    runs.RunFolder(tmp_path).write_evaluation({"elbo": -1.0})
    with pytest.raises(RunExistsError, match="--resume .* --overwrite"):
        vaekit.fit(x, *config, out=tmp_path)
    with pytest.raises(RunExistsError, match="choose one"):
        vaekit.fit(x, *config, out=tmp_path, resume=True, overwrite=True)
    vaekit.fit(x, *config, out=tmp_path, overwrite=True)
    assert not (tmp_path / runs.EVALUATION).exists()  # the old evaluation went with its run
    assert len(runs.RunFolder(tmp_path).history()) == 1


def test_overwrite_removes_the_runs_files_card_outputs_and_tensorboard_and_nothing_else(tmp_path):
    run, elsewhere = tmp_path / "run", tmp_path / "logs"
    (run / runs.TENSORBOARD / "nested").mkdir(parents=True)
    (run / runs.TENSORBOARD / "nested" / "events.out.tfevents.1").write_text("old")
    (run / runs.CONFIG).write_text("{}")
    old = [runs.CARD, runs.CURVES, "samples_n16_seed0.png", "z_test.npy", "scores_test.csv"]
    old += ["reconstructions_val.png", "interpolate_test_0_1.png"]
    for name in old:  # the model card and what commands wrote there without --out
        (run / name).write_text("the old model's")
    (run / "mine").mkdir()
    (run / "notes.csv").write_text("the user's")
    elsewhere.mkdir()
    (elsewhere / "events.out.tfevents.2").write_text("the user's")
    runs.RunFolder(run).prepare(overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["mine", "notes.csv"]
    assert (elsewhere / "events.out.tfevents.2").read_text() == "the user's"
    (run / runs.TENSORBOARD).symlink_to(elsewhere)  # a link: what it points to is not the run's
    runs.RunFolder(run).prepare(overwrite=True)
    assert (elsewhere / "events.out.tfevents.2").exists()


def test_cli_train_into_an_existing_run_refuses_then_overwrites(tmp_path):
    train = ["train", "--dataset", "digits", "--hidden", "4", "--epochs", "1"]
    train += ["--batch-size", "512", "--quiet", "--out", "run"]
    assert run_cli.vaekit(*train, cwd=tmp_path).returncode == 0
    (tmp_path / "run" / runs.EVALUATION).write_text("{}")
    refused = run_cli.vaekit(*train, cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "--resume" in refused.stderr and "--overwrite" in refused.stderr
    again = run_cli.vaekit(*train, "--overwrite", cwd=tmp_path)
    assert again.returncode == 0 and not (tmp_path / "run" / runs.EVALUATION).exists()


def test_old_key_names_are_read_as_the_math_names(tmp_path):
    (tmp_path / runs.METRICS).write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    (tmp_path / runs.EVALUATION).write_text(json.dumps({"kl": 2.0, "elbo": -3.0}))
    run = runs.RunFolder(tmp_path)
    assert [r["train_kl_z"] for r in run.history()] == [1.0, 1.5]
    assert run.evaluation() == {"kl_z": 2.0, "elbo": -3.0}
    run.write_history(HISTORY)  # written back with the new names only
    assert 'train_kl"' not in (tmp_path / runs.METRICS).read_text()


def test_the_best_epoch_is_the_best_validation_elbo():
    s = runs.summarize([runs.canonical(r) for r in HISTORY])
    assert s is not None and s.score == "val_elbo" and s.best["epoch"] == 1
    assert s.last["epoch"] == 2 and s.seconds == 1.0
    no_val = [{k: v for k, v in r.items() if k != "val_elbo"} for r in HISTORY]
    assert runs.summarize(no_val).best["epoch"] == 2  # by train_elbo
    assert runs.summarize([]) is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hidden": [10**9]}, "hidden"),
        ({"hidden": ["abc"]}, "hidden"),
        ({"hidden": [8] * 1000}, "hidden"),
        ({"latent_dim": True}, "latent_dim"),
        ({"gaussian_scale": float("nan")}, "gaussian_scale"),
        ({"prior": 3}, "prior"),
        ({"latent_dim": 0}, "latent_dim must be >= 1"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_an_untrusted_config_is_checked_field_by_field(values, message):
    with pytest.raises(CheckpointError, match=message):
        runs.checked(ModelConfig, values, "config.json: model")


def test_checked_accepts_what_to_dict_writes():
    config = ModelConfig(latent_dim=3, hidden=(8, 4), gaussian_scale=0.5)
    assert runs.checked(ModelConfig, json.loads(json.dumps(vaekit.config.to_dict(config))), "")
    assert runs.checked(ModelConfig, {}, "") == ModelConfig()  # missing fields: defaults


def test_checkpoints_carry_a_checksum_per_tensor(tmp_path):
    from safetensors import safe_open

    model = VAE(ModelConfig(latent_dim=1, hidden=(4,)), (3,), "real")
    path = checkpoint.save_model(model, tmp_path)
    with safe_open(str(path), framework="pt") as f:
        sums = json.loads(f.metadata()["sha256"])
        assert sums == {k: checkpoint.sha256(f.get_tensor(k)) for k in f.keys()}


def test_an_old_checkpoint_without_checksums_loads_unchecked(tmp_path):
    from safetensors.torch import save_file

    model = VAE(ModelConfig(latent_dim=1, hidden=(4,)), (3,), "real")
    meta = {k: json.dumps(v) for k, v in checkpoint.model_meta(model).items()}
    save_file(model.state_dict(), str(tmp_path / runs.MODEL), {"format": checkpoint.FORMAT, **meta})
    loaded = checkpoint.load_model(tmp_path)
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), loaded.parameters(), strict=True)
    )


def test_the_saved_epoch_comes_from_the_training_state(tmp_path):
    x = torch.rand(30, 3)
    model = VAE(ModelConfig(latent_dim=1, hidden=(4,)), (3,), "grey")
    train(model, x, None, TrainConfig(epochs=2, batch_size=10), out=tmp_path)
    (tmp_path / runs.METRICS).write_text("")  # the state decides, not metrics.jsonl
    assert runs.RunFolder(tmp_path).saved_epoch() == 2
    assert runs.RunFolder(tmp_path / "none").saved_epoch() == 0
