"""Commands on a run read data as the run did and say what is missing: ``score --data`` falls back
to the run's label column as encode and evaluate do, ``sample --label`` takes a class name,
an empty held-out split is named with what to do instead, and a failing ``score`` prints one
line (no note before it)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from run_cli import vaekit

from vaekit import api
from vaekit.config import ModelConfig, TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def write_rows(path: Path, n: int, seed: int = 0, labels: tuple[str, ...] = ()) -> Path:
    """n rows of 4 real features and, given ``labels``, a string label column ``y`` (cycled)."""
    x = np.random.default_rng(seed).normal(size=(n, 4))
    lines = ["a,b,c,d" + (",y" if labels else "")]
    for i, row in enumerate(x):
        cells = [f"{v:.4f}" for v in row] + ([labels[i % len(labels)]] if labels else [])
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A conditional run on string labels (cat, dog), a run of 2 rows (empty val and test
    splits), and a file of new rows whose labels are names, dog first."""
    tmp = tmp_path_factory.mktemp("runs")
    tiny = TrainConfig(epochs=2, batch_size=32)
    labelled = tmp / "labelled"
    api.fit(write_rows(tmp / "pets.csv", 40, labels=("cat", "dog")),
            ModelConfig(latent_dim=2, hidden=(8,), conditional=True), tiny, out=labelled,
            label_column="y", progress=False)  # fmt: skip
    two = tmp / "two"
    api.fit(write_rows(tmp / "two.csv", 2), ModelConfig(latent_dim=2, hidden=(8,)), tiny, out=two,
            progress=False)  # fmt: skip
    other = write_rows(tmp / "other.csv", 7, seed=1, labels=("dog", "cat"))
    return {"tmp": tmp, "labelled": labelled, "two": two, "other": other}


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error:"), stderr
    return lines[0]


def test_score_reads_the_runs_label_column_by_default(runs: dict[str, Path]) -> None:
    out = runs["tmp"] / "scores.csv"
    done = vaekit("score", runs["labelled"], "--data", runs["other"], "--method", "elbo",
                  "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7 and list(rows[0]) == ["index", "label", "elbo"]
    assert [r["label"] for r in rows[:2]] == ["1", "0"]  # dog, cat: the run's codes
    # the same fallback as encode: --label-column none reads the names as a feature
    done = vaekit("score", runs["labelled"], "--data", runs["other"], "--label-column", "none",
                  "--method", "elbo", "--out", out)  # fmt: skip
    assert "'dog' is not a number" in one_error_line(done.stderr)


@pytest.mark.parametrize(
    ("label", "said"),
    [("dog", "of class dog"), ("1", "of class dog"), ("0", "of class cat")],
)
def test_sample_takes_a_class_name_or_number(runs: dict[str, Path], label: str, said: str) -> None:
    out = runs["tmp"] / f"samples_{label}.npy"
    done = vaekit("sample", runs["labelled"], "--label", label, "--n", 3, "--out", out)
    assert done.returncode == 0, done.stderr
    assert said in done.stdout and np.load(out).shape == (3, 4)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("cow", "--label 'cow' is no class of this model: its classes are cat, dog (or 0..1)"),
        ("2", "--label must lie in 0..1, got 2"),
    ],
)
def test_sample_refuses_an_unknown_class(runs: dict[str, Path], label: str, message: str) -> None:
    done = vaekit("sample", runs["labelled"], "--label", label)
    assert done.returncode == 2 and message in one_error_line(done.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["encode"], "the test split of two.csv is empty: nothing to encode; use --split train"),
        (["reconstruct"], "the test split of two.csv is empty: nothing to reconstruct"),
        (["score", "--method", "elbo"], "the test split of two.csv is empty: nothing to score"),
        (["score", "--method", "elbo", "--calibrate", "val"],
         "the val split of two.csv is empty: nothing to calibrate"),
    ],
)  # fmt: skip
def test_an_empty_split_is_named(runs: dict[str, Path], args: list[str], message: str) -> None:
    done = vaekit(args[0], runs["two"], *args[1:])
    assert done.returncode == 2 and message in one_error_line(done.stderr)


def test_score_checks_its_method_before_any_note(runs: dict[str, Path]) -> None:
    run = runs["labelled"]
    done = vaekit("score", run, "--method", "elbo", "--calibrate", "val", "--out",
                  runs["tmp"] / "calibrated.csv")  # fmt: skip
    try:
        assert done.returncode == 0 and (run / "threshold.json").is_file(), done.stderr
        done = vaekit("score", run, "--data", runs["other"], "--method", "bpd")
        assert "the bpd score is for image data" in one_error_line(done.stderr)
    finally:  # the other tests score without a saved threshold
        (run / "threshold.json").unlink(missing_ok=True)
