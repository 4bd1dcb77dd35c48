"""vaekit.search: cross-validated search end to end on tiny data, serial and parallel."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
import run_cli

from vaekit import api
from vaekit.cli.search import add_parser, run
from vaekit.search import PLOT_FILE, RESULTS_FILE, search
from vaekit.sklearn import VAETransformer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data_file(tmp_path):
    """(120, 6) real rows from a 2-D latent through a fixed random map, saved as .npy."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(120, 2))
    x = np.tanh(z @ rng.normal(size=(2, 6))) + 0.1 * rng.normal(size=(120, 6)) + 5.0
    path = tmp_path / "rows.npy"
    np.save(path, x.astype(np.float32))
    return path


def test_search_writes_table_csv_plot_and_best_run(data_file, tmp_path) -> None:
    out = tmp_path / "run"
    grid = {"latent_dim": [1, 2], "weight_decay": [0.0, 1e-3], "patience": [None]}
    estimator = VAETransformer(hidden=(8,), epochs=3, batch_size=32, random_state=0)
    result = search(data_file, grid, estimator=estimator, folds=2, n_jobs=1, out=out)

    assert len(result.rows) == 4 and [r["latent_dim"] for r in result.rows] == [1, 1, 2, 2]
    assert all(np.isfinite(r["mean"]) and r["std"] >= 0 for r in result.rows)
    best = min(result.rows, key=lambda r: r["rank"])
    assert result.best == {n: best[n] for n in grid}
    lines = result.table.splitlines()
    assert len(lines) == 5 and "held-out ELBO" in lines[0] and "±" in lines[1]

    with open(out / RESULTS_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["mean"]) for r in rows] == pytest.approx([r["mean"] for r in result.rows])
    assert {"latent_dim", "weight_decay", "patience", "std", "rank", "fold1", "fold2"} <= set(
        rows[0]
    )
    assert rows[0]["patience"] == "none"
    assert (out / PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the best setting retrained as a normal run folder, on all training rows
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["latent_dim"] == result.best["latent_dim"]
    assert config["train"]["weight_decay"] == result.best["weight_decay"]
    assert (out / "metrics.jsonl").read_text().count("\n") == 3  # one line per epoch
    model = api.load(out)
    assert model.config.latent_dim == result.best["latent_dim"]
    assert model.encode(np.load(data_file)[:4]).shape == (4, result.best["latent_dim"])


@pytest.mark.slow
def test_parallel_folds_match_serial_and_score_loglik(data_file) -> None:
    grid = {"latent_dim": [1, 2]}
    estimator = VAETransformer(hidden=(8,), epochs=2, batch_size=32, random_state=0)
    kw = {"estimator": estimator, "folds": 2, "scoring": "loglik", "k": 5}
    serial = search(data_file, grid, n_jobs=1, **kw)
    parallel = search(data_file, grid, n_jobs=2, **kw)
    assert "log-likelihood" in serial.table
    for a, b in zip(serial.rows, parallel.rows, strict=True):
        # workers run 1 torch thread, serial fits 2: float sums differ in order, not in value
        assert a["fold1"] == pytest.approx(b["fold1"], abs=2e-2)
        assert a["fold2"] == pytest.approx(b["fold2"], abs=2e-2)


def test_command_line_options(data_file, tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["search", "--dataset", str(data_file), "--latent-dims", "1,2", "--hidden", "8", "8,4",
         "--patience", "none,2", "--l1s", "0", "--folds", "2", "--epochs", "2",
         "--n-jobs", "1", "--out", str(tmp_path / "cli"), "--quiet"]
    )  # fmt: skip
    assert args.hidden == [(8,), (8, 4)] and args.patience == [None, 2]
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") >= 1 + 8 and "best:" in printed
    assert api.load(tmp_path / "cli").config.hidden in [(8,), (8, 4)]
    with pytest.raises(SystemExit):
        parser.parse_args(["search", "--latent-dims", "two"])


@pytest.mark.slow
def test_vaekit_search_runs_as_a_command(data_file, tmp_path) -> None:
    out = tmp_path / "cmd"
    done = run_cli.vaekit(
        *("search", "--dataset", data_file, "--latent-dims", "1,2", "--hidden", "8"),
        *("--folds", "2", "--epochs", "1", "--n-jobs", "1", "--out", out, "--quiet"),
    )
    assert done.returncode == 0, done.stderr
    assert "best:" in done.stdout and (out / RESULTS_FILE).is_file()
    assert (out / "model.safetensors").is_file()
