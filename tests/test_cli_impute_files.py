"""``vaekit impute`` and ``inpaint`` on awkward files: a conditional run's class names, values far
outside the data, rows of empty cells, columns in another order, flat and 16-bit images, 8-bit
arrays; each a real command in a subprocess, each bad input one ``vaekit: error:`` line."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from run_cli import vaekit

import vaekit as vk

TINY = ["--epochs", "3", "--hidden", "16", "--latent-dim", "2", "--batch-size", "32", "--quiet"]
COLUMNS = ["alcohol", "malic", "ash", "alcalinity", "magnesium"]


def ok(*args: object) -> subprocess.CompletedProcess[str]:
    done = vaekit(*args)
    assert done.returncode == 0, f"vaekit {args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def fails(*args: object, match: str) -> str:
    """Run a command that must fail with one ``vaekit: error:`` line holding ``match``."""
    done = vaekit(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("vaekit: error: ") and "a bug in vaekit" not in lines[0]
    assert match in lines[0], lines[0]
    return lines[0]


def write_csv(path: Path, header: list[str] | None, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for row in ([header] if header else []) + rows:
            w.writerow(row)
    return path


@pytest.fixture(scope="module")
def wine(tmp_path_factory) -> Path:
    """A conditional run (--missing allow) on a table whose label column holds class names."""
    folder = tmp_path_factory.mktemp("wine")
    rng = np.random.default_rng(0)
    n = 90
    z = rng.normal(size=(n, 1))
    x = np.hstack([13 + z, 2 - z, 2.4 + 0.2 * z, 19 + 3 * z, 100 + 10 * z])
    x = x + 0.1 * rng.normal(size=x.shape)
    names = ["class_a", "class_b", "class_c"] * (n // 3)
    rows = [
        ["" if rng.random() < 0.15 else f"{v:.4f}" for v in r] + [name]
        for r, name in zip(x, names, strict=True)
    ]
    path = write_csv(folder / "wine.csv", [*COLUMNS, "label"], rows)
    ok("train", "--dataset", path, "--label-column", "label", "--conditional", "--missing",
       "allow", *TINY, "--out", folder / "run")  # fmt: skip
    path = write_csv(folder / "plain.csv", COLUMNS, [r[:5] for r in rows])
    ok("train", "--dataset", path, "--missing", "allow", *TINY, "--out", folder / "plain")
    return folder / "run"


@pytest.fixture(scope="module")
def plain(wine) -> Path:
    """An unconditional run (--missing allow) on the same table without its labels."""
    return wine.parent / "plain"


def impute_args(run: Path, data: Path, out: Path, *extra: object) -> list[object]:
    return ["impute", run, "--data", data, "--label-column", "label", "--out", out, *extra]


def test_a_file_of_one_class_is_imputed_with_that_class(wine, tmp_path):
    rows = [["13.5", "", "2.5", "", "101", "class_c"], ["12", "2.5", "", "18", "", "class_c"]]
    data = write_csv(tmp_path / "conly.csv", [*COLUMNS, "label"], rows)
    ok(*impute_args(wine, data, tmp_path / "o.csv", "--k", "50"))
    got = list(csv.reader((tmp_path / "o.csv").read_text().splitlines()))[1:]
    model = vk.load(wine)
    x = np.array([[float(c) if c else np.nan for c in r[:5]] for r in rows])

    def expected(label: int) -> list[list[str]]:
        filled = model.impute(x, k=50, y=np.full(2, label), seed=0).numpy()
        return [
            [c or str(np.float32(v)) for c, v in zip(r[:5], f, strict=True)] + [r[5]]
            for r, f in zip(rows, filled, strict=True)
        ]

    assert got == expected(2) and got != expected(0)  # class_c is code 2 of a, b, c
    data = write_csv(tmp_path / "cd.csv", [*COLUMNS, "label"], [["13", "", "2", "", "", "class_d"]])
    for command in (
        impute_args(wine, data, tmp_path / "o.csv"),
        ["evaluate", wine, "--data", data, "--label-column", "label", "--k", "5"],
        ["encode", wine, "--data", data, "--label-column", "label", "--out", tmp_path / "z.npy"],
        ["score", wine, "--data", data, "--label-column", "label", "--k", "2"],
    ):
        fails(*command, match="cd.csv: label 'class_d' not among the model's classes "
              "(class_a, class_b, class_c)")  # fmt: skip


def test_values_far_outside_the_data_are_one_clear_error_never_a_nan_in_the_file(plain, tmp_path):
    rows = [["3e38", "", "", "", ""], ["13", "", "2.4", "", ""], ["-3e38", "", "", "", ""]]
    data = write_csv(tmp_path / "far.csv", COLUMNS, rows)
    for draws in ("0", "2"):
        out = tmp_path / f"o{draws}.csv"
        fails("impute", plain, "--data", data, "--out", out, "--draws", draws, "--k", "20",
              match="rows 0, 2 (counting from 0): the model gives no finite likelihood to their "
              "observed values (far outside the training data?)")  # fmt: skip
        assert not out.exists()


def test_a_row_of_empty_cells_is_kept_and_imputed(plain, tmp_path):
    data = write_csv(tmp_path / "holes.csv", COLUMNS, [["13", "2", "2.4", "19", "100"], [""] * 5])
    (tmp_path / "holes.csv").write_text((tmp_path / "holes.csv").read_text() + "\n")  # blank
    ok("impute", plain, "--data", data, "--out", tmp_path / "o.csv", "--k", "20")
    rows = list(csv.reader((tmp_path / "o.csv").read_text().splitlines()))
    assert rows[0] == COLUMNS and len(rows) == 3 and rows[1] == ["13", "2", "2.4", "19", "100"]
    assert all(np.isfinite(float(c)) for c in rows[2])  # the row of empty cells, filled
    ok("impute", plain, "--data", data, "--out", tmp_path / "o.npy", "--k", "20")
    assert np.load(tmp_path / "o.npy").shape == (2, 5)
    fails("train", "--dataset", data, *TINY, "--out", tmp_path / "run",
          match="holes.csv: line 3, column 0 ('alcohol'): '' is missing")  # fmt: skip


def test_the_output_keeps_the_line_ending_of_the_input(plain, tmp_path):
    data = tmp_path / "crlf.csv"
    data.write_bytes(b"alcohol,malic,ash,alcalinity,magnesium\r\n13,2,,19,100\r\n")
    ok("impute", plain, "--data", data, "--out", tmp_path / "o.csv", "--k", "20")
    lines = (tmp_path / "o.csv").read_bytes().split(b"\r\n")
    assert len(lines) == 3 and lines[2] == b"" and lines[1].startswith(b"13,2,")
    data.write_bytes(b"alcohol,malic,ash,alcalinity,magnesium\n13,2,,19,100\n")
    ok("impute", plain, "--data", data, "--out", tmp_path / "o.csv", "--k", "20")
    assert b"\r" not in (tmp_path / "o.csv").read_bytes()


def test_columns_in_another_order_are_matched_by_name(wine, tmp_path):
    order = [4, 2, 0, 1, 3]
    row = ["13.2", "", "2.4", "19", ""]
    data = write_csv(tmp_path / "same.csv", [*COLUMNS, "label"], [[*row, "class_a"]])
    ok(*impute_args(wine, data, tmp_path / "same_o.csv", "--k", "20"))
    shuffled = [COLUMNS[j] for j in order]
    data = write_csv(tmp_path / "shuffled.csv", ["label", *shuffled], [
        ["class_a", *(row[j] for j in order)]
    ])  # fmt: skip
    ok(*impute_args(wine, data, tmp_path / "shuffled_o.csv", "--k", "20"))
    same = list(csv.reader((tmp_path / "same_o.csv").read_text().splitlines()))
    moved = list(csv.reader((tmp_path / "shuffled_o.csv").read_text().splitlines()))
    assert moved[0] == ["label", *shuffled] and moved[1][0] == "class_a"
    assert moved[1][1:] == [same[1][j] for j in order]  # the same fills, in the file's order
    data = write_csv(tmp_path / "other.csv", ["alc", *COLUMNS[1:], "label"], [[*row, "class_a"]])
    trained = "(alcohol, malic, ash, alcalinity, magnesium)"
    fails(*impute_args(wine, data, tmp_path / "o.csv"),
          match=f"other.csv: its header does not name the columns the model was trained on "
          f"{trained}: missing: alcohol; not the model's: alc")  # fmt: skip


@pytest.fixture(scope="module")
def pixels(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A run on 8-bit 8x8 images (uint8 .npy) and the images."""
    folder = tmp_path_factory.mktemp("pixels")
    rng = np.random.default_rng(0)
    images = (rng.random((40, 8, 8)) * 255).astype(np.uint8)
    np.save(folder / "im.npy", images)
    run = folder / "run"
    ok("train", "--dataset", folder / "im.npy", *TINY, "--out", run)
    return run, images


def test_inpaint_reads_flat_rows_of_the_models_images(pixels, wine, tmp_path):
    run, images = pixels
    np.save(tmp_path / "flat.npy", images[:3].reshape(3, 64))
    ok("inpaint", run, "--data", tmp_path / "flat.npy", "--box", "0,0,4,4", "--out",
       tmp_path / "out", "--k", "5")  # fmt: skip
    first = np.asarray(Image.open(tmp_path / "out" / "restored_0000.png"))
    assert first.shape == (8, 8) and (first[4:] == images[0, 4:]).all()
    np.save(tmp_path / "short.npy", images[:3].reshape(3, 64)[:, :60])
    fails("inpaint", run, "--data", tmp_path / "short.npy", "--box", "0,0,4,4", "--out",
          tmp_path / "o", match="short.npy: its images have shape (60,), but the model's are "
          "(1, 8, 8)")  # fmt: skip
    fails("inpaint", wine, "--data", tmp_path / "flat.npy", "--box", "0,0,4,4", "--out",
          tmp_path / "o", match="inpaint needs a model of images")  # fmt: skip


def test_one_16_bit_png_reads_as_a_folder_of_it_does(pixels, tmp_path):
    run, _ = pixels
    grey = np.linspace(0, 65535, 64).reshape(8, 8).astype(np.uint16)  # 16-bit grey levels
    (tmp_path / "folder").mkdir()
    for path in (tmp_path / "g16.png", tmp_path / "folder" / "g16.png"):
        Image.fromarray(grey).save(path)
    for name, data in (("one", tmp_path / "g16.png"), ("folder", tmp_path / "folder")):
        ok("inpaint", run, "--data", data, "--box", "0,0,8,2", "--out", tmp_path / name,
           "--k", "5")  # fmt: skip
    one, folder = (
        np.asarray(Image.open(tmp_path / n / "restored_0000.png")) for n in ("one", "folder")
    )
    assert np.array_equal(one[2:], grey[2:] >> 8) and np.array_equal(one, folder)


def test_an_8_bit_array_is_written_to_csv_as_stored(pixels, tmp_path):
    run, images = pixels
    np.save(tmp_path / "few.npy", images[:2])
    ok("impute", run, "--data", tmp_path / "few.npy", "--out", tmp_path / "o.csv")
    rows = list(csv.reader((tmp_path / "o.csv").read_text().splitlines()))
    assert rows == [[str(v) for v in image.flatten()] for image in images[:2]]


def test_training_on_data_with_no_observed_value_is_one_clear_error(tmp_path):
    np.save(tmp_path / "allnan.npy", np.full((20, 3), np.nan))
    fails("train", "--dataset", tmp_path / "allnan.npy", "--missing", "allow", *TINY,
          "--out", tmp_path / "run", match="allnan.npy: every value is missing (NaN)")  # fmt: skip
    assert not (tmp_path / "run" / "config.json").exists()  # refused before training


def test_inpaint_refuses_a_model_of_real_valued_images(tmp_path):
    """Images in 0..255 floats train a real-valued model: its restored pixels are not in [0, 1],
    so inpaint says to use impute instead of writing clipped white PNGs."""
    x = np.random.default_rng(3).integers(0, 256, (30, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    ok("train", "--dataset", tmp_path / "f.npy", *TINY, "--out", tmp_path / "run")
    np.save(tmp_path / "f3.npy", x[:3])
    fails("inpaint", tmp_path / "run", "--data", tmp_path / "f3.npy", "--box", "0,0,2,2",
          "--out", tmp_path / "o", match="use vaekit impute")  # fmt: skip
