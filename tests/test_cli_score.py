"""``vaekit score``, run for real in subprocesses on a tiny digits run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from run_cli import vaekit

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    # bernoulli on grey values: the tests score arbitrary values in [0, 1], not the 17 levels
    config = ModelConfig(latent_dim=2, hidden=(32,), likelihood="bernoulli")
    api.fit("digits", config, TrainConfig(epochs=3, batch_size=256), out=out, progress=False)
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_score_a_file_keeps_its_rows_and_matches_the_api(run: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((37, 64)).astype(np.float32)
    x[:20] = api.load(run).sample(20, seed=0).reshape(20, -1).numpy()
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "s.csv"
    done = vaekit("score", run, "--data", tmp_path / "x.npy", "--method", "elbo,regret",
                  "--k", 4, "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_csv(out)
    assert [r["index"] for r in rows] == [str(i) for i in range(37)]
    assert list(rows[0]) == ["index", "elbo", "regret"]  # a file without labels: no label column
    model = api.load(run)
    for method in ("elbo", "regret"):
        expected = model.score(torch.from_numpy(x), method, k=4).numpy()
        np.testing.assert_allclose([float(r[method]) for r in rows], expected, rtol=1e-5, atol=1e-5)


def test_calibrate_writes_the_threshold_and_an_outlier_column(run: Path, tmp_path: Path) -> None:
    out, plot = tmp_path / "s.csv", tmp_path / "h.png"
    done = vaekit("score", run, "--method", "elbo", "--calibrate", "val", "--fpr", "0.1",
                  "--out", out, "--plot", plot, "--n", 100)  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = json.loads((run / "threshold.json").read_text())
    assert saved["method"] == "elbo" and saved["fpr"] == 0.1 and saved["split"] == "val"
    rows = read_csv(out)
    assert len(rows) == 100 and list(rows[0]) == ["index", "label", "elbo", "outlier"]
    scores = np.array([float(r["elbo"]) for r in rows])
    flags = np.array([int(r["outlier"]) for r in rows])
    assert np.array_equal(flags, scores > saved["value"])
    # the run's own test split: normal data, flagged at about the calibrated rate
    assert abs(flags.mean() - 0.1) < 4 * np.sqrt(0.1 * 0.9 / len(flags)) + 0.05
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a later call with the same method uses the saved threshold
    again = vaekit("score", run, "--method", "elbo", "--out", tmp_path / "t.csv")
    assert again.returncode == 0 and "outlier" in read_csv(tmp_path / "t.csv")[0]
    (run / "threshold.json").unlink()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "magic"], "unknown method 'magic'"),
        (["--fpr", "2"], "must lie in (0, 1)"),
        (["--data", "VECTOR"], "has shape (3, 5)"),
        (["--data", "missing.npy"], "no such file"),
        (["--out", "s.txt"], "unknown output extension"),
    ],
)
def test_bad_input_is_one_line(run: Path, tmp_path: Path, args: list[str], message: str) -> None:
    vector = tmp_path / "v.npy"
    np.save(vector, np.zeros((3, 5), np.float32))
    args = [str(vector) if a == "VECTOR" else a for a in args]
    done = vaekit("score", run, *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:") and message in lines[0]
