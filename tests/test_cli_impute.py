"""``vaekit impute`` and ``vaekit inpaint``, run for real on tiny data (warm forked children,
see run_cli)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import run_cli
from PIL import Image
from run_cli import Finished

TINY = ["--epochs", "3", "--hidden", "16", "--latent-dim", "2", "--batch-size", "32", "--quiet"]


def vaekit(*args: object, check: bool = True) -> Finished:
    done = run_cli.vaekit(*args)
    if check and done.returncode != 0:
        raise AssertionError(f"vaekit {args} failed:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[Path, Path]:
    """A CSV with a header, a string label column in the middle and 20% empty cells, and a run
    trained on it with --missing allow."""
    folder = tmp_path_factory.mktemp("impute")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(80, 1))
    x = np.hstack([z, 2 * z, -z]) + 0.1 * rng.normal(size=(80, 3))
    path = folder / "holes.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["height", "kind", "weight", "width"])
        for i, r in enumerate(x):
            cells = ["" if rng.random() < 0.2 else repr(float(v)) for v in r]
            w.writerow([cells[0], "ab"[i % 2], cells[1], cells[2]])
    run = folder / "run"
    vaekit("train", "--dataset", path, "--label-column", "kind", "--missing", "allow", *TINY,
           "--out", run)  # fmt: skip
    return path, run


def test_train_without_missing_allow_names_the_first_missing_cell(table):
    path, run = table
    done = vaekit("train", "--dataset", path, "--label-column", "kind", *TINY, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("vaekit: error: ") and len(done.stderr.splitlines()) == 1
    assert "is missing" in done.stderr and "--missing allow" in done.stderr


def test_impute_keeps_rows_columns_labels_and_observed_cells(table, tmp_path):
    path, run = table
    vaekit("impute", run, "--data", path, "--label-column", "kind", "--out", tmp_path / "c.csv",
           "--k", "50")  # fmt: skip
    before = list(csv.reader(path.read_text().splitlines()))
    after = list(csv.reader((tmp_path / "c.csv").read_text().splitlines()))
    assert after[0] == before[0] and len(after) == len(before)
    for old, new in zip(before[1:], after[1:], strict=True):
        assert new[1] == old[1]  # the label column
        for a, b in zip(old, new, strict=True):
            assert b == a if a else np.isfinite(float(b))  # observed verbatim, missing filled

    vaekit("impute", run, "--data", path, "--label-column", "kind", "--out", tmp_path / "m.npy",
           "--draws", "3", "--k", "50")  # fmt: skip
    draws = np.load(tmp_path / "m.npy")  # (M, N, D)
    observed = np.array([[float(c) if c else np.nan for c in r[:1] + r[2:]] for r in before[1:]])
    keep = ~np.isnan(observed)
    assert draws.shape == (3, 80, 3) and np.isfinite(draws).all()
    assert all(np.array_equal(d[keep], observed[keep]) for d in draws)
    assert not np.array_equal(draws[0], draws[1])  # multiple imputations differ
    # without --label-column: the run's label column, the same file out
    vaekit("impute", run, "--data", path, "--out", tmp_path / "d.csv", "--k", "50")
    assert (tmp_path / "d.csv").read_text() == (tmp_path / "c.csv").read_text()


def test_inpaint_restores_a_box_and_writes_pictures(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.random((40, 8, 8)) < 0.3).astype(np.float32)
    np.save(tmp_path / "im.npy", images)
    run = tmp_path / "run"
    vaekit("train", "--dataset", tmp_path / "im.npy", *TINY, "--out", run)
    np.save(tmp_path / "few.npy", images[:3])
    out = tmp_path / "restored"
    vaekit("inpaint", run, "--data", tmp_path / "few.npy", "--box", "0,4,8,4", "--out", out,
           "--k", "20")  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == [
        "before_after.png", "restored_0000.png", "restored_0001.png", "restored_0002.png",
    ]  # fmt: skip
    first = np.asarray(Image.open(out / "restored_0000.png"))
    assert first.shape == (8, 8) and (first[:4] == np.round(images[0, :4] * 255)).all()
    done = vaekit("inpaint", run, "--data", tmp_path / "few.npy", "--box", "9,9,2,2", "--out",
                  out, check=False)  # fmt: skip
    assert done.returncode == 2 and "--box 9,9,2,2 lies outside" in done.stderr
