"""Data-parallel training: real torchrun jobs of 2 gloo processes on the CPU against one process.

Tolerance: after 2 epochs of a tiny model on digits the two-rank weights are measured within
6e-8 of the single-process ones (summation order only); the tests allow 1e-5 on weights and
1e-4 nats on the metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit import api
from vaekit.cli import main
from vaekit.cli.console import error_line
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import DataConfig
from vaekit.errors import ConfigError
from vaekit.evaluation.evaluate import evaluate
from vaekit.model.vae import VAE
from vaekit.training import checkpoint, distributed
from vaekit.training.batching import Batch, bernoulli, noise, share

WEIGHT_ATOL, METRIC_ATOL = 1e-5, 1e-4
TRAIN = ["--dataset", "digits", "--hidden", "16", "--latent-dim", "2", "--quiet"]
TRAIN += ["--batch-size", "101", "--binarize", "--patience", "3", "--seed", "3"]
JOB_TIMEOUT = 120  # seconds: a hung job fails the test instead of the suite
DIST_TIMEOUT = 20  # seconds a collective waits (VAEKIT_DIST_TIMEOUT) in these jobs


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "VAEKIT_DIST_TIMEOUT": str(DIST_TIMEOUT)}


def vaekit(*args: str, ranks: int = 1, **kw) -> subprocess.CompletedProcess:
    """``python -m vaekit ARGS`` in one process, or under torchrun with ``ranks`` processes."""
    launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    command = [sys.executable, *(launch if ranks > 1 else []), "-m", "vaekit", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=_env(), timeout=JOB_TIMEOUT, **kw
    )


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The same 2-epoch training, in one process and in two torchrun ranks."""
    base = tmp_path_factory.mktemp("runs")
    one, two = base / "one", base / "two"
    _ok(vaekit("train", *TRAIN, "--epochs", "2", "--out", str(one)))
    _ok(vaekit("train", *TRAIN, "--epochs", "2", "--out", str(two), ranks=2))
    return {"one": one, "two": two}


# -- two real processes ----------------------------------------------------------------------------
@pytest.mark.slow
def test_two_gloo_ranks_end_with_the_weights_of_one_process(runs):
    one, two = (load_file(runs[r] / checkpoint.MODEL_FILE) for r in ("one", "two"))
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=WEIGHT_ATOL, rtol=0, msg=name)
    digits = api.as_dataset("digits", binarize=True)[0]  # as TRAIN: binary, Bernoulli
    initial = api.build(ModelConfig(latent_dim=2, hidden=(16,)), digits)
    moved = max((one[n] - p).abs().max() for n, p in initial.state_dict().items())
    assert moved > 100 * WEIGHT_ATOL  # the tolerance is far below what training changed


@pytest.mark.slow
def test_two_ranks_train_a_conditional_vampprior_iwae_model_like_one_process(tmp_path):
    extra = ["--conditional", "--prior", "vampprior", "--components", "4", "--k", "3", "--dreg"]
    args = [*TRAIN, *extra, "--epochs", "1"]
    _ok(vaekit("train", *args, "--out", str(tmp_path / "one")))
    _ok(vaekit("train", *args, "--out", str(tmp_path / "two"), ranks=2))
    one, two = (load_file(tmp_path / r / checkpoint.MODEL_FILE) for r in ("one", "two"))
    assert "prior.u" in one and "prior.c" in one  # pseudo-inputs and their learned labels
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=WEIGHT_ATOL, rtol=0, msg=name)


@pytest.mark.slow
def test_the_two_rank_run_folder_is_the_single_process_one(runs):
    files = [sorted(p.name for p in runs[r].iterdir()) for r in ("one", "two")]
    assert files[0] == files[1]
    assert {"report.html", "metrics.jsonl", "train_state.safetensors"} <= set(files[0])
    configs = [json.loads((runs[r] / "config.json").read_text()) for r in ("one", "two")]
    assert configs[0] == configs[1]
    one, two = (
        [json.loads(line) for line in (runs[r] / "metrics.jsonl").read_text().splitlines()]
        for r in ("one", "two")
    )
    assert len(one) == len(two) == 2
    for a, b in zip(one, two, strict=True):
        assert a.keys() == b.keys()
        for key in a.keys() - {"seconds"}:
            assert a[key] == pytest.approx(b[key], abs=METRIC_ATOL, rel=0), key


@pytest.mark.slow
def test_evaluate_under_torchrun_gathers_every_test_example(runs, tmp_path):
    out = tmp_path / "evaluation.json"
    args = ("evaluate", str(runs["two"]), "--k", "50", "--no-probes", "--out", str(out))
    _ok(vaekit(*args, ranks=2))
    shared = json.loads(out.read_text())
    model, saved = api.load(runs["two"]), api.read_config(runs["two"])
    alone = evaluate(model, api.as_dataset(saved["data"])[0], k=50, probes=False)
    assert shared["n_examples"] == alone["n_examples"] == 180
    assert shared["kl_z"] == pytest.approx(alone["kl_z"], abs=1e-5)  # analytic: no sampling
    # other draws of the same estimator: the mean NLLs agree within their standard errors
    assert abs(shared["nll"] - alone["nll"]) < 4 * (shared["nll_stderr"] + alone["nll_stderr"])
    assert shared["nll_stderr"] == pytest.approx(alone["nll_stderr"], rel=0.2)


def _worker(launcher: int, rank: int) -> int:
    """The pid of the torchrun worker of ``rank`` below ``launcher`` (its environment says)."""
    for _ in range(200):
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == launcher:
                continue
            try:
                env = (proc / "environ").read_bytes().split(b"\0")
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == launcher and f"RANK={rank}".encode() in env:
                return int(proc.name)
        time.sleep(0.05)
    raise AssertionError(f"no worker of rank {rank} under pid {launcher}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_killed_rank_fails_the_job_in_time_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    args = [*TRAIN, "--batch-size", "16", "--epochs", "100000", "--out", str(run)]
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    job = subprocess.Popen(
        [sys.executable, *launch, "-m", "vaekit", "train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        victim = _worker(job.pid, rank=1)
        deadline = time.monotonic() + JOB_TIMEOUT
        while not (run / "metrics.jsonl").exists():  # epoch 1 is checkpointed
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()[1]
            time.sleep(0.02)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = job.communicate(timeout=DIST_TIMEOUT + 30)
        failed_after = time.monotonic() - killed
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert failed_after < DIST_TIMEOUT + 30
    assert "rank      : 1 (local_rank: 1)" in stderr and "SIGKILL" in stderr
    # the last checkpoint is whole and loads; resuming in 2 ranks (--devices) finishes the run
    epochs = len((run / "metrics.jsonl").read_text().splitlines())
    assert epochs >= 1 and checkpoint.load_model(run).config.hidden == (16,)
    more = ("--epochs", str(epochs + 1), "--devices", "2")
    resumed = _ok(vaekit("train", "--resume", "--out", str(run), *more))
    assert resumed.stdout.count("report:") == 1  # printed by rank 0 only
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == list(range(1, epochs + 2))
    # ... and ends where one uninterrupted process ends
    torch.set_num_threads(1)
    straight = api.fit(
        "digits",
        ModelConfig(latent_dim=2, hidden=(16,)),
        TrainConfig(epochs=epochs + 1, batch_size=16, patience=3, seed=3),
        data_config=DataConfig(dataset="digits", binarize=True),
        progress=False,
    )
    weights = checkpoint.load_model(run).state_dict()
    for (name, p), q in zip(straight.state_dict().items(), weights.values(), strict=True):
        torch.testing.assert_close(q, p, atol=10 * WEIGHT_ATOL, rtol=0, msg=name)


# -- in one process --------------------------------------------------------------------------------
@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_shares_cover_every_row_once_in_order(world):
    for n in range(12):
        parts = [range(n)[distributed.share(n, r, world)] for r in range(world)]
        assert [i for p in parts for i in p] == list(range(n))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_rank_without_rows_joins_with_a_zero_weight_row(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    assert share(5) == (slice(2, 5), 1.0) and share(1) == (slice(0, 1), 1.0)
    monkeypatch.setattr(distributed, "rank", lambda: 0)
    assert share(5) == (slice(0, 2), 1.0)
    assert share(1) == (slice(0, 1), 0.0)  # rank 1 has the one row; rank 0 stands in


def test_each_rank_draws_its_rows_of_the_global_batch_noise():
    x = torch.rand(7, 1, 2, 2)
    torch.manual_seed(0)
    whole = Batch(x, None, slice(0, 7), 7, 1.0)
    full_x, full_eps = bernoulli(x, slice(0, 7), 7), noise(whole, 3, 2)  # (7, ...), (3, 7, 2)
    for rows in (slice(0, 3), slice(3, 7)):
        torch.manual_seed(0)
        part = Batch(x[rows], None, rows, 7, 1.0)
        assert torch.equal(bernoulli(x[rows], rows, 7), full_x[rows])
        assert torch.equal(noise(part, 3, 2), full_eps[:, rows])


def test_given_noise_is_what_rsample_draws(binary_data, small_model):
    torch.manual_seed(1)
    drawn = small_model.terms(binary_data[:9], k=4)
    torch.manual_seed(1)
    given = small_model(binary_data[:9], k=4, eps=torch.randn(4, 9, 2))
    assert torch.equal(drawn.objective, given.objective)


def test_the_helpers_are_no_ops_in_one_process():
    assert not distributed.active() and not distributed.launched()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    t = torch.arange(4.0)
    assert distributed.all_reduce_sum(t) is t and torch.equal(t, torch.arange(4.0))
    assert distributed.gather_rows(t, 4) is t and distributed.broadcast({"a": 1}) == {"a": 1}
    model = VAE(ModelConfig(latent_dim=2, hidden=(4,)), (3,))
    assert distributed.wrap(model) is model
    assert distributed.init(torch.device("cpu")) == torch.device("cpu")


def test_a_bad_time_out_is_refused(monkeypatch):
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigError, match="VAEKIT_DIST_TIMEOUT"):
        distributed.timeout()
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "7.5")
    assert distributed.timeout() == 7.5


def test_errors_under_torchrun_name_the_rank(monkeypatch, tmp_path, capsys):
    assert "rank" not in error_line("boom")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert error_line("boom").endswith("rank 1: boom")
    status = main(["train", "--devices", "2", "--epochs", "1", "--out", str(tmp_path / "r")])
    assert status == 2
    assert "rank 1: --devices starts torchrun itself" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "r")]) == 2
    assert "only train and evaluate run under torchrun" in capsys.readouterr().err
