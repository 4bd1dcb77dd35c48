"""Tracking hooks: what TensorBoard and MLflow read back is what the loop computed."""

import sys

import pytest
import torch

from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import MissingExtraError
from vaekit.model.vae import VAE
from vaekit.training import distributed, tracking
from vaekit.training.loop import train

pytest.importorskip("tensorboard", reason="the tracking extra is not installed")
pytest.importorskip("mlflow", reason="the tracking extra is not installed")

EPOCHS, BATCH = 2, 64  # 256 examples: 4 steps per epoch


def _fit(data, hooks):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(16,)), (1, 4, 4))
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=3e-3)
    return train(model, data, data[:32], config, hooks=hooks)


def test_tensorboard_events_hold_the_scalars_and_images(binary_data, tmp_path, one_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tracking.TensorBoard(tmp_path / "tb", examples=binary_data[:4], images_every=1)
    state = _fit(binary_data, [tb])
    tb.close({"elbo": -7.5, "method": "importance sampling"})
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    steps = len(binary_data) // BATCH
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(1, EPOCHS * steps + 1))
    assert loss[-1].value == pytest.approx(state.step_losses[-1].item(), rel=1e-6)
    for key in ("train_elbo", "train_kl_z", "val_elbo", "beta"):
        got = [e.value for e in events.Scalars(f"epoch/{key}")]
        assert got == pytest.approx([r[key] for r in state.history], rel=1e-6)
    assert [e.value for e in events.Scalars("epoch/lr")] == pytest.approx([3e-3] * EPOCHS)
    assert events.Scalars("final/elbo")[0].value == pytest.approx(-7.5)
    samples, recons = events.Images("samples"), events.Images("reconstructions")
    assert [e.step for e in samples] == [1, 2] and len(recons) == 2
    assert samples[0].width > 4 * 8 and samples[0].encoded_image_string[:4] == b"\x89PNG"


def test_mlflow_run_has_params_metrics_per_epoch_and_artefacts(binary_data, tmp_path, one_thread):
    from mlflow.tracking import MlflowClient

    uri = tracking.mlflow_uri(tmp_path / "mlruns")
    ml = tracking.MLflow(uri, run_name="digits", examples=binary_data[:4], images_every=2)
    state = _fit(binary_data, [ml])
    (tmp_path / "config.json").write_text("{}")
    ml.close({"nll": 9.25, "kl_per_dim": [1.0, 2.0]}, [tmp_path / "config.json"])
    client = MlflowClient(uri)
    run = client.get_run(ml.run_id)
    assert run.info.run_name == "digits" and run.info.status == "FINISHED"
    assert run.data.params["train.lr"] == "0.003" and run.data.params["model.hidden"] == "16"
    elbo = sorted(
        (m.step, m.value) for m in client.get_metric_history(ml.run_id, "epoch/train_elbo")
    )
    assert [s for s, _ in elbo] == [1, 2]
    assert [v for _, v in elbo] == pytest.approx([r["train_elbo"] for r in state.history])
    assert len(client.get_metric_history(ml.run_id, "train/loss")) == EPOCHS * 4
    assert run.data.metrics["final/nll"] == pytest.approx(9.25)
    files = {f.path for f in client.list_artifacts(ml.run_id, "images")}
    assert files == {"images/samples_0002.png", "images/reconstructions_0002.png"}
    assert "config.json" in {f.path for f in client.list_artifacts(ml.run_id)}


def test_only_rank_0_logs(binary_data, tmp_path, monkeypatch, one_thread):
    monkeypatch.setattr(distributed, "is_main", lambda: False)
    tb = tracking.TensorBoard(tmp_path / "tb")
    _fit(binary_data, [tb])
    tb.close({"elbo": 1.0})
    assert not tb.started and not (tmp_path / "tb").exists()


@pytest.mark.parametrize("kind,module", [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_without_the_extra_one_error_names_it(tmp_path, monkeypatch, kind, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"needs the 'tracking' extra .*vaekit\[tracking\]"):
        tracking.make_tracker(kind, tmp_path)


def test_hyperparameters_flatten_nested_configs():
    flat = tracking.hyperparameters({"model": {"hidden": (8, 4), "prior": None}, "lr": 0.1})
    assert flat == {"model.hidden": "8,4", "model.prior": "None", "lr": 0.1}


def test_cli_train_logs_to_tensorboard(tmp_path):
    import subprocess

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    args = ["train", "--epochs", "2", "--hidden", "8", "--out", str(run), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "vaekit", *args, "--log", "tensorboard"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "epoch/val_elbo", "final/nll", "final/elbo"} <= set(tags["scalars"])
    assert set(tags["images"]) == {"samples", "reconstructions"}
    assert (run / "README.md").read_text().startswith("---\nlibrary_name: vaekit\n")


def test_cli_without_the_extra_fails_with_one_line(tmp_path, monkeypatch, capsys):
    from vaekit.cli import main

    monkeypatch.setitem(sys.modules, "mlflow", None)
    args = ["train", "--epochs", "1", "--out", str(tmp_path / "r"), "--log", "mlflow"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "vaekit: error: logging to MLflow needs the 'tracking' extra (mlflow is missing): "
        "pip install 'vaekit[tracking]'"
    ]
