"""Tracking hooks: what TensorBoard and MLflow read back is what the loop computed; a bad
destination is refused before training; a failing writer is one vaekit error; pictures never
cost the model."""

import errno
import os
import socket
import sys

import pytest
import run_cli
import torch

from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import ConfigError, DataError, MissingExtraError, RunWriteError
from vaekit.model.vae import VAE
from vaekit.training import distributed, tracking
from vaekit.training.loop import train

pytest.importorskip("tensorboard", reason="the tracking extra is not installed")
pytest.importorskip("mlflow", reason="the tracking extra is not installed")

EPOCHS, BATCH = 2, 64  # 256 examples: 4 steps per epoch


def _fit(data, hooks, y=None):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=2, hidden=(16,)), (1, 4, 4), y_dim=0 if y is None else 4)
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=3e-3)
    y_val = None if y is None else y[:32]
    return train(model, data, data[:32], config, hooks=hooks, y_train=y, y_val=y_val)


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def closed_port():
    """A local port nothing listens on (a tracking server that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_events_hold_the_scalars_and_images(binary_data, tmp_path, one_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    examples = binary_data[:4].numpy()  # an array works as well as a tensor
    tb = tracking.TensorBoard(tmp_path / "tb", examples=examples, images_every=1)
    state = _fit(binary_data, [tb])
    settings = {"k": 100, "seed": 0, "n_examples": 32, "levels": 2, "active_unit_threshold": 0.01}
    tb.close({"elbo": -7.5, "method": "importance sampling", **settings})
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
    assert [(e.step, e.value) for e in events.Scalars("final/elbo")] == [(EPOCHS, -7.5)]
    assert [t for t in events.Tags()["scalars"] if t.startswith("final/")] == ["final/elbo"]
    samples, recons = events.Images("samples"), events.Images("reconstructions")
    assert [e.step for e in samples] == [1, 2] and len(recons) == 2
    assert samples[0].width > 4 * 8 and samples[0].encoded_image_string[:4] == b"\x89PNG"


def test_mlflow_run_has_params_metrics_per_epoch_and_artefacts(binary_data, tmp_path, one_thread):
    from mlflow.tracking import MlflowClient

    uri = tracking.mlflow_uri(tmp_path / "mlruns")
    asked = []

    def params():  # read at the first epoch, not when the tracker is made
        asked.append(1)
        return {"model": {"hidden": [16]}, "train": {"lr": 3e-3}}

    ml = tracking.MLflow(uri, run_name="digits", examples=binary_data[:4], images_every=2)
    ml.params = params
    assert asked == []
    state = _fit(binary_data, [ml])
    assert asked == [1]
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
    assert [m.step for m in client.get_metric_history(ml.run_id, "final/nll")] == [EPOCHS]
    files = {f.path for f in client.list_artifacts(ml.run_id, "images")}
    assert files == {"images/samples_0002.png", "images/reconstructions_0002.png"}
    assert "config.json" in {f.path for f in client.list_artifacts(ml.run_id)}


def test_only_rank_0_logs(binary_data, tmp_path, monkeypatch, one_thread):
    monkeypatch.setattr(distributed, "is_main", lambda: False)
    tb = tracking.TensorBoard(tmp_path / "tb")
    _fit(binary_data, [tb])
    tb.close({"elbo": 1.0})
    assert not tb.started and not (tmp_path / "tb").exists()


def test_only_rank_0_checks_the_destination_before_joining_torchrun(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun's worker 1, before fit joins the group
    monkeypatch.setenv("RANK", "1")
    tracking.TensorBoard(tmp_path / "tb")
    tracking.MLflow(f"http://127.0.0.1:{closed_port()}")  # not asked: rank 0 does
    assert not (tmp_path / "tb").exists()


@pytest.mark.parametrize("kind", ["tensorboard", "mlflow"])
@pytest.mark.parametrize("where", ["afile", "afile/logs"])
def test_a_bad_log_dir_is_refused_when_the_tracker_is_made(tmp_path, kind, where):
    (tmp_path / "afile").write_text("")
    blocker = "it is" if where == "afile" else f"{tmp_path / 'afile'} is"
    with pytest.raises(ConfigError, match=f"cannot log to .*afile.*: {blocker} a file, not a"):
        tracking.make_tracker(kind, tmp_path / "run", tmp_path / where)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_an_mlflow_server_that_is_down_is_refused_when_the_tracker_is_made(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ConfigError, match=f"^cannot log to MLflow at {uri}: Connection refused$"):
        tracking.MLflow(uri)
    with pytest.raises(ConfigError, match="MLflow at foo://bar: MLflow here takes only the URI"):
        tracking.MLflow("foo://bar")


def test_a_deleted_mlflow_experiment_is_refused_when_the_tracker_is_made(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = tracking.mlflow_uri(tmp_path / "mlruns")
    client = MlflowClient(uri)
    client.delete_experiment(client.create_experiment("old"))
    with pytest.raises(ConfigError, match="^cannot log to MLflow at .*: experiment 'old' is del"):
        tracking.MLflow(uri, experiment="old")


def test_a_users_own_file_store_uri_works_like_vaekits(binary_data, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # (restored after the test)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "store").as_uri())
    ml = tracking.MLflow()
    _fit(binary_data, [ml])
    ml.close({"nll": 1.0})
    assert MlflowClient(tracking.mlflow_uri()).get_run(ml.run_id).info.status == "FINISHED"


def test_a_writer_failing_in_training_is_one_vaekit_error(binary_data, tmp_path, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from torch.utils.tensorboard import SummaryWriter

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(SummaryWriter, "add_scalar", full_disk)
    tb = tracking.TensorBoard(tmp_path / "tb")
    with pytest.raises(RunWriteError, match="^cannot log to TensorBoard in .*: No space left on"):
        _fit(binary_data, [tb])

    def down(*args, **kwargs):
        raise MlflowException("API request to http://x failed.\nRetry later.")

    ml = tracking.MLflow(tracking.mlflow_uri(tmp_path / "mlruns"))
    monkeypatch.setattr(MlflowClient, "log_batch", down)
    with pytest.raises(RunWriteError, match="^cannot log to MLflow at .*: API request to http://x"):
        _fit(binary_data, [ml])


def test_hyperparameters_are_the_resolved_config_being_trained(binary_data, tmp_path):
    from mlflow.tracking import MlflowClient

    import vaekit

    uri, x = tracking.mlflow_uri(tmp_path / "mlruns"), binary_data.numpy()
    model, params, steps = ModelConfig(latent_dim=2, hidden=(8,)), [], []
    for epochs, resume in ((1, False), (2, True)):  # a new run, then resumed to 2 epochs
        ml = tracking.MLflow(uri)
        config = TrainConfig(epochs=epochs, batch_size=BATCH)
        vaekit.fit(x, model, config, out=tmp_path / "run", resume=resume, hooks=[ml])
        ml.close({"nll": 1.0, "k": 100})
        client = MlflowClient(uri)
        params.append(client.get_run(ml.run_id).data.params)
        steps.append([m.step for m in client.get_metric_history(ml.run_id, "final/nll")])
    assert params[0].keys() == params[1].keys()
    assert [p["train.epochs"] for p in params] == ["1", "2"]
    assert {p["model.likelihood"] for p in params} == {"bernoulli"}  # "auto" resolved
    assert steps == [[1], [2]]  # each session's final evaluation at its last epoch


def test_a_conditional_model_reconstructs_with_labels_and_warns_without(
    binary_data, tmp_path, one_thread
):
    y = torch.arange(len(binary_data)) % 4
    with_labels = tracking.TensorBoard(tmp_path / "a", examples=binary_data[:4], labels=y[:4])
    _fit(binary_data, [with_labels], y=y)
    with_labels.close()  # (flushes the events)
    assert set(_events(tmp_path / "a").Tags()["images"]) == {"samples", "reconstructions"}
    without = tracking.TensorBoard(tmp_path / "b", examples=binary_data[:4])
    with pytest.warns(
        RuntimeWarning,
        match="conditional model needs labels= with the examples: no reconstructions",
    ):
        state = _fit(binary_data, [without], y=y)
    assert len(state.history) == EPOCHS  # trained to the end
    without.close()
    assert set(_events(tmp_path / "b").Tags()["images"]) == {"samples"}


def test_bad_examples_are_refused_before_training_goes_on(binary_data, tmp_path):
    with pytest.raises(DataError, match="3 labels for its 4 examples"):
        tracking.TensorBoard(tmp_path / "tb", examples=binary_data[:4], labels=[0, 1, 2])
    with pytest.raises(DataError, match="examples must be an array of numbers"):
        tracking.TensorBoard(tmp_path / "tb", examples=[[0.0], [0.0, 1.0]])
    epochs = []
    tb = tracking.TensorBoard(tmp_path / "tb", examples=torch.zeros(4, 3))  # not (1, 4, 4)
    with pytest.raises(DataError, match="the tracker's examples"):
        _fit(binary_data, [lambda state: epochs.append(state.epoch), tb])
    assert epochs == [1]  # refused at the first epoch


def test_a_failure_to_log_pictures_never_costs_the_model(binary_data, tmp_path, monkeypatch):
    tb = tracking.TensorBoard(tmp_path / "tb", examples=binary_data[:4], images_every=1)

    def broken(*args, **kwargs):
        raise RuntimeError("no PNG encoder")

    monkeypatch.setattr(tb, "image", broken)
    with pytest.warns(RuntimeWarning, match=r"no pictures logged at epoch \d \(no PNG encoder\)"):
        state = _fit(binary_data, [tb])
    assert len(state.history) == EPOCHS
    tb.close()
    assert len(_events(tmp_path / "tb").Scalars("epoch/train_elbo")) == EPOCHS


@pytest.mark.parametrize("kind,module", [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_without_the_extra_one_error_names_it(tmp_path, monkeypatch, kind, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"needs the 'tracking' extra .*vaekit\[tracking\]"):
        tracking.make_tracker(kind, tmp_path)


def test_hyperparameters_flatten_nested_configs():
    flat = tracking.hyperparameters({"model": {"hidden": (8, 4), "prior": None}, "lr": 0.1})
    assert flat == {"model.hidden": "8,4", "model.prior": "None", "lr": 0.1}


def test_cli_train_logs_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    args = ["train", "--epochs", "2", "--hidden", "8", "--out", str(run), "--quiet"]
    done = run_cli.vaekit(*args, "--log", "tensorboard")
    assert done.returncode == 0, done.stderr
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "epoch/val_elbo", "final/nll", "final/elbo"} <= set(tags["scalars"])
    assert set(tags["images"]) == {"samples", "reconstructions"}
    assert (run / "README.md").read_text().startswith("---\nlibrary_name: vaekit\n")
    assert [e.step for e in events.Scalars("final/nll")] == [2]  # at the last epoch
    again = run_cli.vaekit(*args, "--log", "tensorboard", "--overwrite")
    assert again.returncode == 0, again.stderr
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()  # the replaced run's events went with it
    assert [e.step for e in events.Scalars("epoch/train_elbo")] == [1, 2]


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
