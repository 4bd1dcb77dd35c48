"""``vaekit search`` in a subprocess: bad arguments are one ``vaekit: error:`` line in the
command's own words (exit 2), a CSV's label column is named with --label-column, and --help
describes the command in plain words."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from run_cli import vaekit

TINY = ["--hidden", "8", "--epochs", "2", "--folds", "2", "--n-jobs", "1", "--quiet"]


def write_rows(path: Path, n: int, label: bool = False) -> Path:
    """n rows of 4 real features, with a string label column ``y`` (cat/dog) if ``label``."""
    x = np.random.default_rng(0).normal(size=(n, 4))
    lines = ["a,b,c,d" + (",y" if label else "")]
    for i, row in enumerate(x):
        lines.append(",".join(f"{v:.4f}" for v in row) + ("," + "cd"[i % 2] * 3 if label else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:"), stderr
    assert "bug in vaekit" not in lines[0] and "Traceback" not in lines[0]
    return lines[0]


BAD = {
    "latent 0": (["--latent-dims", "0"], "--latent-dims must be >= 1, got 0"),
    "latent 0 of two": (["--latent-dims", "0,2"], "(search setting --latent-dims 0)"),
    "betas": (["--betas=-1"], "--betas must be >= 0"),
    "epochs": (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    "folds": (["--folds", "1"], "argument --folds: must be >= 2, got 1"),
    "n-jobs": (["--n-jobs", "0"], "argument --n-jobs: must not be 0"),
    "k": (["--score", "loglik", "--k", "0"], "argument --k: must be >= 1, got 0"),
    "folds > rows": (["--folds", "3", "TWO_ROWS"], "--folds 3 needs at least 3 training examples"),
}


@pytest.mark.parametrize(("args", "message"), BAD.values(), ids=list(BAD))
def test_bad_arguments_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    data = write_rows(tmp_path / "rows.csv", 40)
    if "TWO_ROWS" in args:  # a 2-row CSV: its 2 rows are all training rows
        args, data = args[:-1], write_rows(tmp_path / "two.csv", 2)
    done = vaekit("search", "--dataset", data, "--latent-dims", "1", *TINY, *args,
                  "--out", tmp_path / "out")  # fmt: skip
    assert done.returncode == 2
    assert message in one_error_line(done.stderr)
    assert not (tmp_path / "out").exists()


def test_label_column_is_left_out_of_the_features(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "labelled.csv", 40, label=True)
    out = tmp_path / "out"
    done = vaekit("search", "--dataset", data, "--label-column", "y", "--latent-dims", "1,2",
                  *TINY, "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["label_column"] == "y" and config["dataset"]["shape"] == [4]
    assert config["dataset"]["classes"] == ["ccc", "ddd"]


def test_help_describes_the_command_in_plain_words() -> None:
    done = vaekit("search", "--help")
    assert done.returncode == 0
    description = done.stdout.split("\n\n")[1]
    assert description.startswith("Choose a VAE's settings by k-fold cross-validation")
    assert "``" not in done.stdout and ":func:" not in done.stdout
    assert "--label-column" in done.stdout


@pytest.mark.slow
def test_a_failed_fit_in_parallel_is_one_line(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "rows.csv", 40)
    done = vaekit("search", "--dataset", data, "--latent-dims", "1,2", *TINY, "--epochs", "3",
                  "--lr", "1e30", "--n-jobs", "2", "--out", tmp_path / "out")  # fmt: skip
    assert done.returncode == 2
    line = one_error_line(done.stderr)  # no note of a semaphore leaked by a stopped worker
    assert "the loss became nan" in line and line.endswith("(search setting --latent-dims 1)")
