"""``vaekit train --log`` as a user runs it: a bad destination fails before training, each
session logs the configuration it trains and its final evaluation once, --overwrite starts the
TensorBoard events afresh, and under torchrun one rank logs."""

import pytest
from run_cli import vaekit
from test_tracking import _events, closed_port

from vaekit import runs

pytest.importorskip("tensorboard", reason="the tracking extra is not installed")
pytest.importorskip("mlflow", reason="the tracking extra is not installed")

TRAIN = ("train", "--epochs", "2", "--hidden", "8", "--quiet")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tensorboard", "mlflow"])
def test_a_bad_log_dir_fails_in_one_line_before_training(tmp_path, kind):
    afile, run = tmp_path / "afile", tmp_path / "run"
    afile.write_text("")
    done = vaekit(*TRAIN, "--out", run, "--log", kind, "--log-dir", afile)
    where = f"TensorBoard in {afile}" if kind == "tensorboard" else f"MLflow at {afile.as_uri()}"
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"vaekit: error: cannot log to {where}: it is a file, not a folder"
    ]
    assert not runs.RunFolder(run).holds_run()  # nothing trained: a rerun is not blocked


@pytest.mark.slow
def test_an_mlflow_server_that_is_down_fails_in_one_line_before_training(tmp_path, monkeypatch):
    uri = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    done = vaekit(*TRAIN, "--out", tmp_path / "run", "--log", "mlflow")
    assert done.returncode == 2
    refused = f"vaekit: error: cannot log to MLflow at {uri}: Connection refused"
    assert done.stderr.splitlines() == [refused]
    assert not runs.RunFolder(tmp_path / "run").holds_run()


@pytest.mark.slow
def test_each_session_logs_the_resolved_config_and_its_final_evaluation(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "store").as_uri()  # the user's own file store, not allowed by them
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # (restored after the test)
    run = tmp_path / "run"
    for args in (TRAIN, ("train", "--resume", "--epochs", "3", "--quiet")):
        done = vaekit(*args, "--out", run, "--log", "mlflow")
        assert done.returncode == 0, done.stderr
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this test's own reading
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("vaekit").experiment_id
    sessions = client.search_runs([experiment], order_by=["attributes.start_time ASC"])
    params = [s.data.params for s in sessions]
    assert len(params) == 2 and params[0].keys() == params[1].keys()
    assert [p["train.epochs"] for p in params] == ["2", "3"]  # the resumed run's extended epochs
    assert params[0]["model.likelihood"] == params[1]["model.likelihood"] != "auto"
    assert params[0]["model.levels"] == params[1]["model.levels"] != "None"
    for session, last in zip(sessions, (2, 3), strict=True):
        assert session.info.status == "FINISHED"
        history = client.get_metric_history(session.info.run_id, "final/nll")
        assert [m.step for m in history] == [last]
        final = {k for k in session.data.metrics if k.startswith("final/")}
        assert {"final/nll", "final/elbo", "final/kl_z"} <= final
        assert not final & {f"final/{k}" for k in ("seed", "k", "n_examples", "levels")}


@pytest.mark.slow
def test_two_ranks_train_and_rank_0_alone_logs(tmp_path):
    run = tmp_path / "run"
    done = vaekit(*TRAIN, "--devices", "2", "--out", run, "--log", "tensorboard", timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(list((run / runs.TENSORBOARD).iterdir())) == 1  # one events file
    events = _events(run / runs.TENSORBOARD)
    assert [e.step for e in events.Scalars("epoch/train_elbo")] == [1, 2]
    assert [e.step for e in events.Scalars("final/nll")] == [2]
