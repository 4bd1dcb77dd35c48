"""Rows keep their place (issue 16): ``--data FILE`` and ``--split all`` are every row in file
order; per-example output carries the row and the label; CSV outputs keep the column names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import run_cli
from run_cli import Finished

import vaekit

TINY = ["--epochs", "1", "--hidden", "8", "--batch-size", "64", "--quiet"]
COLUMNS = ["radius", "texture", "area", "smooth", "label", "perimeter"]


def vaekit_cli(*args: object, check: bool = True) -> Finished:
    proc = run_cli.vaekit(*args)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def write_csv(path: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of 5 real features and an integer label in the 5th column (index 4)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)) * [1, 2, 30, 0.1, 5] + [10, 20, 500, 0.5, 80]
    y = rng.integers(0, 3, n)
    table = np.column_stack([x[:, :4], y, x[:, 4]])
    np.savetxt(path, table, delimiter=",", header=",".join(COLUMNS), comments="", fmt="%.6g")
    return np.loadtxt(path, delimiter=",", skiprows=1)[:, [0, 1, 2, 3, 5]], y


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("rows")
    x, y = write_csv(tmp / "train.csv", 80, 0)
    out = tmp / "run"
    vaekit_cli("train", "--dataset", tmp / "train.csv", "--label-column", "label", *TINY,
               "--out", out)  # fmt: skip
    return {"tmp": tmp, "run": out, "x": x, "y": y, "model": vaekit.load(out)}


def test_encode_split_all_is_file_order(run: dict) -> None:
    vaekit_cli("encode", run["run"], "--split", "all", "--out", run["tmp"] / "z_all.csv")
    z = np.loadtxt(run["tmp"] / "z_all.csv", delimiter=",", skiprows=1)
    assert z.shape == (80, 2)
    np.testing.assert_allclose(z, run["model"].encode(run["x"]).numpy(), atol=1e-5)


def test_encode_data_file_uses_every_row_in_file_order(run: dict) -> None:
    x_other, _ = write_csv(run["tmp"] / "other.csv", 23, 1)
    vaekit_cli("encode", run["run"], "--data", run["tmp"] / "other.csv",
               "--out", run["tmp"] / "z_other.npy")  # fmt: skip
    z = np.load(run["tmp"] / "z_other.npy")
    np.testing.assert_allclose(z, run["model"].encode(x_other).numpy(), atol=1e-5)
    # the training file itself, given with --data: all 80 rows, not its test split
    vaekit_cli("encode", run["run"], "--data", run["tmp"] / "train.csv",
               "--out", run["tmp"] / "z_train.npy")  # fmt: skip
    assert np.load(run["tmp"] / "z_train.npy").shape == (80, 2)
    proc = vaekit_cli("encode", run["run"], "--data", run["tmp"] / "other.csv", "--split",
                      "test", check=False)  # fmt: skip
    assert proc.returncode == 2 and "every row of the file in file order" in proc.stderr


def test_reconstruct_csv_keeps_the_column_names(run: dict) -> None:
    vaekit_cli("reconstruct", run["run"], "--split", "all", "--n", "0",
               "--out", run["tmp"] / "r.csv")  # fmt: skip
    header = (run["tmp"] / "r.csv").read_text().splitlines()[0]
    assert header == "radius,texture,area,smooth,perimeter"


def test_evaluate_data_writes_only_with_out_and_per_example_keeps_rows(run: dict) -> None:
    own = run["run"] / "evaluation.json"
    assert not own.exists()
    write_csv(run["tmp"] / "eval.csv", 17, 2)
    per_example = run["tmp"] / "per_example.csv"
    proc = vaekit_cli("evaluate", run["run"], "--data", run["tmp"] / "eval.csv", "--k", "3",
                      "--per-example", per_example)  # fmt: skip
    assert "not written" in proc.stdout and not own.exists()
    lines = per_example.read_text().splitlines()
    assert lines[0] == "row,label,log_px,elbo,log_px_z,kl_z" and len(lines) == 18
    _, y = write_csv(run["tmp"] / "eval.csv", 17, 2)
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(17))
    assert [int(line.split(",")[1]) for line in lines[1:]] == y.tolist()
    vaekit_cli("evaluate", run["run"], "--data", run["tmp"] / "eval.csv", "--k", "3",
               "--out", run["tmp"] / "e.json")  # fmt: skip
    result = json.loads((run["tmp"] / "e.json").read_text())
    assert result["n_examples"] == 17 and result["split"] == "all" and not own.exists()
    assert (result["likelihood"], result["kind"], result["bits_per_dim"]) == (
        "gaussian",
        "real",
        None,
    )
    proc = vaekit_cli("evaluate", run["run"], "--data", run["tmp"] / "eval.csv",
                      "--out", own, check=False)  # fmt: skip
    assert proc.returncode == 2 and "must not overwrite" in proc.stderr


def test_one_column_too_many_suggests_the_label_column(tmp_path: Path) -> None:
    x, _ = write_csv(tmp_path / "f.csv", 40, 0)
    np.savetxt(tmp_path / "features.csv", x, delimiter=",", fmt="%.6g")
    vaekit_cli("train", "--dataset", tmp_path / "features.csv", *TINY, "--out", tmp_path / "r")
    proc = vaekit_cli("encode", tmp_path / "r", "--data", tmp_path / "f.csv", check=False)
    assert proc.returncode == 2
    assert "one column too many" in proc.stderr and "--label-column NAME" in proc.stderr


def test_a_file_with_the_runs_columns_in_another_order_is_read_by_name(run: dict) -> None:
    """encode / score / reconstruct match a header's names to the run's columns, as impute
    does; a header of other names is refused, not read by position."""
    tmp = run["tmp"]
    table = np.loadtxt(tmp / "train.csv", delimiter=",", skiprows=1, dtype=str)
    order = [5, 4, 2, 0, 3, 1]  # perimeter,label,area,radius,smooth,texture
    np.savetxt(tmp / "shuffled.csv", table[:, order], delimiter=",", fmt="%s",
               header=",".join(COLUMNS[i] for i in order), comments="")  # fmt: skip
    for name in ("train", "shuffled"):
        vaekit_cli("encode", run["run"], "--data", tmp / f"{name}.csv",
                   "--out", tmp / f"z_{name}.npy")  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp / "z_train.npy"), np.load(tmp / "z_shuffled.npy"))
    vaekit_cli("reconstruct", run["run"], "--data", tmp / "shuffled.csv", "--n", "0",
               "--out", tmp / "r_shuffled.csv")  # fmt: skip
    header = (tmp / "r_shuffled.csv").read_text().splitlines()[0]
    assert header == "radius,texture,area,smooth,perimeter"
    renamed = (tmp / "shuffled.csv").read_text().replace("texture", "colour", 1)
    (tmp / "renamed.csv").write_text(renamed)
    proc = vaekit_cli("score", run["run"], "--data", tmp / "renamed.csv", "--method", "elbo",
                      "--out", tmp / "s.csv", check=False)  # fmt: skip
    assert proc.returncode == 2 and "missing: texture; not the model's: colour" in proc.stderr
