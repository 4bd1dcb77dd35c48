"""The ``vaekit`` command, run for real (warm forked children, one real subprocess) on tiny data.

One tiny run (digits, 2 epochs, 32 hidden units) is trained once per module and reused.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import run_cli
from PIL import Image
from run_cli import Finished
from sklearn.datasets import load_digits

from vaekit import runs

pytestmark = pytest.mark.slow  # subprocesses, servers or a browser: `make test-fast` skips them

TINY = ["--dataset", "digits", "--epochs", "2", "--hidden", "32", "--batch-size", "256"]
PICTURES = ("loss_curves.png", "samples.png", "reconstructions.png", "latent_map.png")


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


def vaekit(*args: object, cwd: Path | None = None, check: bool = True) -> Finished:
    """Run ``vaekit ARGS`` (a warm forked child, see run_cli) and return the finished command."""
    return vaekit_many({"one": args}, cwd=cwd, check=check)["one"]


def vaekit_many(
    commands: dict[str, Sequence[object]], cwd: Path | None = None, check: bool = True
) -> dict[str, Finished]:
    """Run several ``vaekit ...`` two at a time (they are independent); results by name."""
    with ThreadPoolExecutor(2) as pool:
        futures = {n: pool.submit(run_cli.vaekit, *a, cwd=cwd) for n, a in commands.items()}
        done = {name: future.result() for name, future in futures.items()}
    for name, proc in done.items():
        if check and proc.returncode != 0:
            raise AssertionError(
                f"vaekit {commands[name]} failed ({proc.returncode}):\n{proc.stderr}"
            )
    return done


def png(path: Path) -> tuple[int, int]:
    """The size of a PNG file that must decode."""
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        return im.size


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "run"
    proc = vaekit("train", *TINY, "--latent-dim", "2", "--out", folder)
    assert f"report: {folder / 'report.html'}" in proc.stdout
    return folder


ERRORS = {
    "unknown dataset": (["train", "--dataset", "digts"], "did you mean 'digits'"),
    "missing run": (["info", "no/such/run"], "no run folder at no/such/run"),
    "unknown extension": (["sample", "RUN", "--out", "x.gif"], "unknown output extension '.gif'"),
    "unwritable": (["sample", "RUN", "--out", "RUN/config.json/sub/x.png"], "cannot write"),
    "wrong shape": (["encode", "RUN", "--data", "TMP/bad.npy"], "this model expects (N, 1, 8, 8)"),
    "bad option": (["train", "--latent-dim", "two"], "invalid int value"),
    "resume clash": (["train", "--resume", "--out", "RUN", "--lr", "0.1"], "drop --lr"),
    "unknown prior": (["train", "--prior", "vamp"], "invalid choice: 'vamp'"),
    "label without condition": (["sample", "RUN", "--label", "3"], "needs a conditional model"),
    "free bits with k": (["train", "--k", "5", "--free-bits", "1"], "use --k 1 with --free-bits"),
    "missing config": (["train", "--config", "TMP/none.json"], "no configuration file at"),
    "bad config": (["train", "--config", "TMP/mine.npy"], "is not a readable JSON file"),
}


@pytest.fixture(scope="module")
def results(run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every read-only command (and the error cases) on the tiny run, run in parallel."""
    tmp = tmp_path_factory.mktemp("outputs")
    x = load_digits().images[:7, None].astype(np.float32) / 16  # (7, 1, 8, 8) in [0, 1]
    np.save(tmp / "mine.npy", x)
    np.save(tmp / "bad.npy", np.random.default_rng(0).random((6, 5)))
    commands: dict[str, Sequence[object]] = {
        "resume": ["train", "--resume", "--out", run, "--quiet"],
        "sample png": ["sample", run, "--n", "10", "--seed", "3", "--out", tmp / "s.png"],
        "sample npy": ["sample", run, "--n", "10", "--seed", "3", "--out", tmp / "s.npy"],
        "reconstruct": ["reconstruct", run, "--n", "5", "--split", "val", "--out", tmp / "r.npy"],
        "reconstruct png": ["reconstruct", run, "--n", "5", "--out", tmp / "r.png"],
        "encode": ["encode", run, "--out", tmp / "z.csv"],
        "encode file": ["encode", run, "--data", tmp / "mine.npy", "--out", tmp / "z.npy"],
        "interpolate": ["interpolate", run, "--data", tmp / "mine.npy", "--from", "0", "--to", "6"],
        "info": ["info", run],
        "help": ["train", "--help"],
        "debug": ["info", tmp / "none", "--debug"],
    }
    for name, (args, _) in ERRORS.items():
        commands[name] = [a.replace("RUN", str(run)).replace("TMP", str(tmp)) for a in args]
    before = (run / "metrics.jsonl").read_text()
    done = vaekit_many(commands, cwd=tmp, check=False)
    done["metrics before"], done["tmp"] = before, tmp
    return done


def ok(results: dict, name: str) -> str:
    proc = results[name]
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_train_writes_run_folder(run: Path) -> None:
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["hidden"] == [32] and config["train"]["epochs"] == 2
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        record = json.loads(line)
        for key in ("epoch", "train_elbo", "val_elbo", "seconds"):
            assert math.isfinite(record[key])
    assert (run / "model.safetensors").is_file()
    for name in (*PICTURES, "manifold.png"):
        assert min(png(run / name)) > 50
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_resume_of_a_finished_run_adds_nothing(run: Path, results: dict) -> None:
    assert ok(results, "resume").strip() == f"report: {run / 'report.html'}"
    assert (run / "metrics.jsonl").read_text() == results["metrics before"]


def test_sample_png_and_npy(results: dict) -> None:
    ok(results, "sample png"), ok(results, "sample npy")
    assert png(results["tmp"] / "s.png")[0] >= 8 * 32  # tiles scaled up from 8x8
    x = np.load(results["tmp"] / "s.npy")
    assert x.shape == (10, 1, 8, 8) and np.isfinite(x).all()
    assert 0 <= x.min() and x.max() <= 1


def test_reconstruct(results: dict) -> None:
    ok(results, "reconstruct"), ok(results, "reconstruct png")
    x_hat = np.load(results["tmp"] / "r.npy")
    assert x_hat.shape == (5, 1, 8, 8) and np.isfinite(x_hat).all()
    width, height = png(results["tmp"] / "r.png")
    assert width > 2 * height  # 5 columns, 2 rows: originals above reconstructions


def test_encode_split_and_own_file(results: dict) -> None:
    assert "180 latent means (2-D) of test" in ok(results, "encode")
    z = np.loadtxt(results["tmp"] / "z.csv", delimiter=",", skiprows=1)
    assert z.shape == (180, 2) and np.isfinite(z).all()
    ok(results, "encode file")
    assert np.load(results["tmp"] / "z.npy").shape == (7, 2)  # --data: all rows, in file order


def test_interpolate(run: Path, results: dict) -> None:
    strip = run / "interpolate_all_0_6.png"
    assert str(strip) in ok(results, "interpolate")
    width, height = png(strip)
    assert width > 5 * height  # one row of 10 steps


def test_info(results: dict) -> None:
    out = ok(results, "info")
    for text in ("latent_dim", "final epoch (2)", "best epoch by val_elbo", "digits"):
        assert text in out


def test_help_shows_contract_options(results: dict) -> None:
    out = ok(results, "help")
    contract = (
        "--dataset NAME_OR_PATH",
        "--data-dir",
        "--latent-dim",
        "--hidden N,N",
        "--activation",
        "--likelihood",
        "--beta",
        "--k",
        "--epochs",
        "--batch-size",
        "--lr",
        "--weight-decay",
        "--patience",
        "--warmup",
        "--seed",
        "--device",
        "--out RUN_FOLDER",
        "--resume",
        "--quiet",
        "--debug",
        "--conditional",
        "--prior {normal,mixture,vampprior}",
        "--components N",
        "--network {mlp,conv}",
        "--channels N,N",
        "--free-bits X",
        "--dreg",
    )
    for name in contract:
        assert name in out, name
    assert out.count("(default:") >= 30


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_one_line(results: dict, case: str) -> None:
    proc = results[case]
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("vaekit: error: ") and ERRORS[case][1] in lines[0]


def test_evaluate_writes_json_and_refreshes_report(run: Path, results: dict) -> None:
    proc = vaekit("evaluate", run, "--k", "20", "--no-probes")  # after the parallel batch
    assert "nll" in proc.stdout and "elbo" in proc.stdout
    result = json.loads((run / "evaluation.json").read_text())
    for key in ("elbo", "log_px_z", "kl_z", "n_examples"):
        assert math.isfinite(result[key])
    assert result["n_examples"] == 180 and result["k"] == 20
    assert "evaluation: nll" in (run / "report.html").read_text()


def test_debug_shows_traceback(results: dict) -> None:
    proc = results["debug"]
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_ctrl_c_saves_and_says_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vaekit", "train", *TINY, "--epochs", "100000", "--out", str(out)]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env()
    )
    deadline = time.monotonic() + 60
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and f"vaekit train --resume --out {out}" in lines[0]
    assert "is saved" in lines[0] and "Traceback" not in stderr
    # the interrupted run resumes and, with --epochs, is extended to a finite length
    done = len((out / "metrics.jsonl").read_text().splitlines())
    proc = vaekit("train", "--resume", "--out", out, "--epochs", done + 1, "--quiet", check=False)
    assert proc.returncode == 0, proc.stderr
    epochs = [
        json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == list(range(1, done + 2))
    assert (out / "report.html").is_file()


def test_ctrl_c_after_the_last_epoch_names_it_and_a_resume_writes_the_report(tmp_path):
    """Ctrl-C while the report is drawn (training done): the one line names the saved epoch;
    the resume trains nothing and writes the report."""
    out = tmp_path / "run"
    env = {**_env(), "VAEKIT_FAULT_AT": "report.html:open:1:INT"}
    proc = run_cli.vaekit("train", *TINY, "--epochs", "2", "--out", out, env=env)
    assert proc.returncode == 130 and not (out / "report.html").exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"epoch 2 is saved in {out}" in lines[0], proc.stderr
    proc = vaekit("train", "--resume", "--out", out, "--quiet")
    assert (out / "report.html").is_file() and len(runs.RunFolder(out).history()) == 2


def test_conditional_conv_vampprior_iwae_run(tmp_path: Path) -> None:
    run = tmp_path / "cvae"
    vaekit(
        *("train", *TINY, "--latent-dim", "3", "--conditional", "--network", "conv"),
        *("--channels", "8,16", "--prior", "vampprior", "--components", "10"),
        *("--k", "3", "--dreg", "--out", run),
    )
    model = json.loads((run / "config.json").read_text())["model"]
    assert model["conditional"] and model["network"] == "conv" and model["prior"] == "vampprior"
    # the report's samples: one row per class (10 digits, 6 per row)
    assert "One row per class" in (run / "report.html").read_text()
    done = vaekit_many(
        {
            "label": ["sample", run, "--label", "7", "--n", "12", "--out", tmp_path / "7.npy"],
            "rows": ["sample", run, "--n", "20", "--out", tmp_path / "rows.png"],
            "bad label": ["sample", run, "--label", "10"],
            "evaluate": ["evaluate", run, "--k", "10", "--no-probes", "--quiet"],
        },
        check=False,
    )
    assert done["label"].returncode == 0 and np.load(tmp_path / "7.npy").shape == (12, 1, 8, 8)
    assert "one row per class (10 classes)" in done["rows"].stdout
    width, height = png(tmp_path / "rows.png")
    assert height > 4 * width  # 10 rows of 2 samples: a tall grid
    assert done["bad label"].returncode == 2
    assert "--label must lie in 0..9, got 10" in done["bad label"].stderr
    assert done["evaluate"].returncode == 0, done["evaluate"].stderr
    result = json.loads((run / "evaluation.json").read_text())
    assert math.isfinite(result["nll"]) and "given the labels" in result["method"]


def test_train_from_a_config_file_with_overrides(run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    vaekit("train", "--config", run / "config.json", "--epochs", "1", "--quiet", "--out", again)
    old, new = (json.loads((r / "config.json").read_text()) for r in (run, again))
    assert new["model"] == old["model"] and new["data"] == old["data"]
    assert new["train"] == {**old["train"], "epochs": 1}
